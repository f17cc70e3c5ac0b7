"""Call-start token endpoint through daphne with the throttle off: requests per second, p99.

.venv/bin/python -m bench.token_endpoint --concurrency 20 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import time

import aiohttp

from bench.common import percentiles, report, setup_django, start_daphne, stop


async def run(port: int, concurrency: int, seconds: float) -> dict:
    base = f"http://127.0.0.1:{port}"
    latencies: list[float] = []
    failures = 0
    deadline = time.monotonic() + seconds

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal failures
        async with session.get(base + "/") as page:
            await page.read()
        token = session.cookie_jar.filter_cookies(base)["csrftoken"].value
        headers = {"X-CSRFToken": token, "Content-Type": "application/json"}
        while time.monotonic() < deadline:
            started = time.perf_counter()
            async with session.post(base + "/api/calls/", data="{}", headers=headers) as answer:
                await answer.read()
                if answer.status != 201:
                    failures += 1
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.monotonic()
    sessions = [
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) for _ in range(concurrency)
    ]
    try:
        await asyncio.gather(*(worker(s) for s in sessions))
    finally:
        for session in sessions:
            await session.close()
    elapsed = time.monotonic() - started
    return {
        "concurrency": concurrency,
        "requests": len(latencies),
        "failures": failures,
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "latency_ms": percentiles(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    setup_django()
    from django.conf import settings

    from callcenter.models import WorkerHeartbeat

    # Starts are taken only while a worker says it is registered (none runs here).
    WorkerHeartbeat.beat("AW_bench", settings.LIVEKIT_AGENT_NAME, "bench")
    processes, (port,) = start_daphne(1)
    try:
        figures = asyncio.run(run(port, args.concurrency, args.seconds))
    finally:
        stop(processes)
    figures["daphne_processes"] = 1
    report("token_endpoint", figures)


if __name__ == "__main__":
    main()
