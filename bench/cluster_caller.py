"""Callers of ``bench.cluster_calls``, run on the cluster's caller host: each starts a call
through the site's API over https and talks over LiveKit through the edge, as
``bench.voice_turn``'s callers do. Prints one line of JSON: each call's figures.

    python -m bench.cluster_caller --site https://callcenter.test --calls 6 --at-once 1
"""

from __future__ import annotations

import argparse
import asyncio
import json


async def run(site: str, calls: int, at_once: int, turns: int, text: str) -> list[dict]:
    from bench.voice_turn import one_call, speech_samples

    samples = speech_samples(text)
    gate = asyncio.Semaphore(at_once)

    async def call(index: int) -> dict:
        async with gate:
            await asyncio.sleep(index % at_once * 0.5)  # callers do not dial at one instant
            try:
                return await one_call(site, samples, turns, seed=index)
            except Exception as error:  # a call that failed counts, with why
                return {"call_id": "", "responses": [None] * turns, "greeting": None,
                        "error": repr(error)}  # fmt: skip

    return list(await asyncio.gather(*(call(i) for i in range(calls))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", required=True)
    parser.add_argument("--calls", type=int, default=1)
    parser.add_argument("--at-once", type=int, default=1)
    parser.add_argument("--turns", type=int, default=1)
    parser.add_argument("--text", required=True)
    options = parser.parse_args()
    figures = asyncio.run(
        run(options.site, options.calls, options.at_once, options.turns, options.text)
    )
    print(json.dumps(figures, default=str))


if __name__ == "__main__":
    main()
