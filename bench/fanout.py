"""Live fan-out: N calls writing transcript segments through the real CallWriter, M supervisor
websockets spread over two daphne processes that share the Redis channel layer.

Reports latency from the segment's commit to its arrival at each client (p50/p95/p99), the
loss count, and the rate held. The CallWriter is the production one; its publish hook only
stamps the commit time into the message before handing it to ``monitoring.events.publish``.

    .venv/bin/python -m bench.fanout --calls 50 --clients 20 --rate 2 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import aiohttp

from bench.common import (
    end_live_calls,
    percentiles,
    report,
    setup_django,
    start_daphne,
    stop,
    supervisor_session,
)


async def client(port: int, cookie: str, call_ids: set[str], latencies: list, seen: set, ready):
    url = f"ws://127.0.0.1:{port}/ws/monitor/"
    headers = {"Origin": f"http://127.0.0.1:{port}", "Cookie": f"sessionid={cookie}"}
    async with aiohttp.ClientSession() as session, session.ws_connect(url, headers=headers) as ws:
        ready.release()
        async for frame in ws:
            message = json.loads(frame.data)
            if message.get("kind") == "segment" and message["call_id"] in call_ids:
                stamp = message.get("committed_at")
                if stamp:
                    latencies.append((time.time() - stamp) * 1000)
                seen.add((port, id(ws), message["call_id"], message["sequence"]))


async def run(calls: int, clients: int, rate: float, seconds: float, processes: int) -> dict:
    from asgiref.sync import sync_to_async

    from agentworker.writer import CallWriter
    from callcenter.models import Call
    from monitoring import events

    cookie = await sync_to_async(supervisor_session)()
    daphnes, ports = start_daphne(processes)
    try:
        call_rows = [await Call.objects.acreate(status=Call.Status.ACTIVE) for _ in range(calls)]
        call_ids = {str(c.pk) for c in call_rows}
        latencies: list[float] = []
        seen: set = set()
        ready = asyncio.Semaphore(0)
        tasks = [
            asyncio.create_task(
                client(ports[i % len(ports)], cookie, call_ids, latencies, seen, ready)
            )
            for i in range(clients)
        ]
        for _ in range(clients):
            await asyncio.wait_for(ready.acquire(), 30)
        await asyncio.sleep(1)  # snapshots delivered

        async def stamped_publish(message):
            message["committed_at"] = time.time()
            await events.publish(message)

        writers = [CallWriter(c.pk, publish=stamped_publish) for c in call_rows]
        for writer in writers:
            writer.start()
        sent = 0
        started = time.monotonic()
        interval = 1 / rate
        ticks = int(seconds * rate)
        for tick in range(ticks):
            for writer in writers:
                writer.segment("customer", f"segment {tick} of a busy day")
                sent += 1
            await asyncio.sleep(max(0, started + (tick + 1) * interval - time.monotonic()))
        for writer in writers:
            await writer.close()
        elapsed = time.monotonic() - started
        await asyncio.sleep(2)  # let the last messages arrive
        for task in tasks:
            task.cancel()
        expected = sent * clients
        return {
            "calls": calls,
            "clients": clients,
            "daphne_processes": processes,
            "segments_written": sent,
            "write_rate_per_second": round(sent / elapsed, 1),
            "deliveries_expected": expected,
            "deliveries": len(latencies),
            "lost": expected - len({key for key in seen}),
            "latency_ms": percentiles(latencies),
        }
    finally:
        stop(daphnes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rate", type=float, default=2.0, help="segments per call per second")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--name", default="fanout")
    args = parser.parse_args()
    setup_django()
    end_live_calls()
    figures = asyncio.run(run(args.calls, args.clients, args.rate, args.seconds, args.processes))
    report(args.name, figures)


if __name__ == "__main__":
    main()
