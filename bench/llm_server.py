"""The scripted OpenAI-compatible server as a process of its own, so a benchmark's event loop
measures the agent's work only. Every request gets the same short reply after ``--delay``.

    .venv/bin/python -m bench.llm_server --delay 0.3      # prints its base URL, serves until killed
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
from contextlib import contextmanager

from bench.common import ROOT

REPLY = "Thanks. Your 2003 Honda Accord is due for its timing belt soon."


async def serve(delay: float) -> None:
    from tests.support.scripted_llm import Reply, ScriptedLLMServer

    async with ScriptedLLMServer(lambda _body: Reply(text=REPLY, delay=delay)) as server:
        print(server.base_url, flush=True)
        await asyncio.Event().wait()


@contextmanager
def llm_server_process(delay: float):
    """Run the server in a child process; yields its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.llm_server", "--delay", str(delay)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.0)
    sys.path.insert(0, str(ROOT))
    asyncio.run(serve(parser.parse_args().delay))


if __name__ == "__main__":
    main()
