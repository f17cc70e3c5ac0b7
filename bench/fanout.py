"""Live fan-out: N calls writing transcript segments through the real CallWriter, M supervisor
websockets spread over two daphne processes that share the Redis channel layer.

Reports latency from the segment's commit to its arrival at each client (p50/p95/p99), the
loss count, the rate held, and how much CPU each part used (daphne, Redis, PostgreSQL, the
writers, the clients — all on the same machine). The websocket clients run in a process of
their own so the writers' work does not delay their reading. The CallWriter is the production
one; its publish hook only stamps the commit time into the message before handing it to
``callcenter.live_updates.publish``.

    .venv/bin/python -m bench.fanout --calls 50 --clients 20 --rate 2 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import time

import aiohttp
import psutil

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


async def supervisors(connection, ports, cookie, call_ids, clients) -> None:
    """The staff websockets, in a process of their own: the writers' work never delays them."""
    latencies: list[float] = []
    seen: set = set()
    ready = asyncio.Semaphore(0)
    tasks = [
        asyncio.create_task(client(ports[i % len(ports)], cookie, call_ids, latencies, seen, ready))
        for i in range(clients)
    ]
    for _ in range(clients):
        await asyncio.wait_for(ready.acquire(), 30)
    connection.send("connected")
    await asyncio.to_thread(connection.recv)  # the writers are done and the tail has arrived
    for task in tasks:
        task.cancel()
    connection.send((latencies, len(seen)))


def supervisors_process(connection, ports, cookie, call_ids, clients) -> None:
    asyncio.run(supervisors(connection, ports, cookie, call_ids, clients))


def cpu_seconds(processes: dict[str, list[psutil.Process]]) -> dict[str, float]:
    """CPU seconds (user + system) used so far by each named group of processes."""
    used = {}
    for name, group in processes.items():
        total = 0.0
        for process in group:
            try:
                times = process.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
        used[name] = total
    return used


def processes_named(name: str) -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["name"]) if p.info["name"] == name]


async def run(
    calls: int, clients: int, rate: float, seconds: float, processes: int, lockstep: bool
) -> dict:
    from asgiref.sync import sync_to_async

    from agentworker.writer import CallWriter
    from callcenter import live_updates
    from callcenter.models import Call

    cookie = await sync_to_async(supervisor_session)()
    daphnes, ports = start_daphne(processes)
    context = multiprocessing.get_context("spawn")
    pipe, child_end = context.Pipe()
    try:
        call_rows = [await Call.objects.acreate(status=Call.Status.ACTIVE) for _ in range(calls)]
        call_ids = {str(c.pk) for c in call_rows}
        watcher = context.Process(
            target=supervisors_process, args=(child_end, ports, cookie, call_ids, clients)
        )
        watcher.start()
        if not await asyncio.to_thread(pipe.poll, 60) or pipe.recv() != "connected":
            raise RuntimeError("the supervisors' websockets did not connect")
        await asyncio.sleep(1)  # snapshots delivered

        async def stamped_publish(message):
            message["committed_at"] = time.time()
            await live_updates.publish(message)

        accounted = {
            "daphne": [psutil.Process(d.pid) for d in daphnes],
            "writers (this process)": [psutil.Process()],
            "websocket clients": [psutil.Process(watcher.pid)],
            "redis": processes_named("redis-server"),
            "postgresql": processes_named("postgres"),
        }
        cpu_before = cpu_seconds(accounted)
        writers = [CallWriter(c.pk, publish=stamped_publish) for c in call_rows]
        for writer in writers:
            writer.start()
        interval = 1 / rate
        ticks = int(seconds * rate)
        started = time.monotonic()

        async def speak(writer, offset: float) -> int:
            """One call's segments at ``rate``; calls are spread over the interval (real calls
            do not speak in step) unless --lockstep makes them all speak at once."""
            for tick in range(ticks):
                due = started + offset + tick * interval
                await asyncio.sleep(max(0, due - time.monotonic()))
                writer.segment("customer", f"segment {tick} of a busy day")
            return ticks

        offsets = [0.0 if lockstep else interval * i / calls for i in range(calls)]
        speaking = [speak(w, o) for w, o in zip(writers, offsets, strict=True)]
        sent = sum(await asyncio.gather(*speaking))
        for writer in writers:
            await writer.close()
        elapsed = time.monotonic() - started
        cpu_after = cpu_seconds(accounted)
        await asyncio.sleep(2)  # let the last messages arrive
        pipe.send("stop")
        latencies, unique = await asyncio.to_thread(pipe.recv)
        watcher.join(10)
        expected = sent * clients
        return {
            "calls": calls,
            "clients": clients,
            "daphne_processes": processes,
            "lockstep": lockstep,
            "segments_written": sent,
            "write_rate_per_second": round(sent / elapsed, 1),
            "deliveries_expected": expected,
            "deliveries": len(latencies),
            "lost": expected - unique,
            "latency_ms": percentiles(latencies),
            # Share of one core each part used while writing (2.0 = both cores of this machine).
            "cpu_cores_used": {
                name: round((cpu_after[name] - cpu_before[name]) / elapsed, 2) for name in accounted
            },
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
    parser.add_argument(
        "--lockstep", action="store_true", help="every call writes at the same instant"
    )
    args = parser.parse_args()
    setup_django()
    end_live_calls()
    figures = asyncio.run(
        run(args.calls, args.clients, args.rate, args.seconds, args.processes, args.lockstep)
    )
    report(args.name, figures)


if __name__ == "__main__":
    main()
