"""Live fan-out: N calls writing transcript segments through the real CallWriter, M supervisor
websockets spread over two daphne processes that share the Redis channel layer, each with one
call open, under both designs in one run:

- ``per-call`` (today's): a call's words go to its own group, so only to the sockets that have
  it open; every monitor gets the calls' changes only.
- ``one-group`` (until 2026-12-04, ``bench.one_group_monitor``): every word of every call to
  every socket.

Reports, per design, deliveries a second (every frame the pages received), messages a second
into one monitor page, the latency from a segment's commit to its arrival on the pages that
have its call open (p50/p95/p99), the loss among those, and how much CPU each part used
(daphne, Redis, PostgreSQL, the writers, the clients; all on the same machine); then the
ratios one-group / per-call. The websocket clients run in a process of their own so the
writers' work does not delay their reading.

    .venv/bin/python -m bench.fanout --calls 1000 --clients 50 --rate 0.333 --seconds 20
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

DESIGNS = {
    "per-call": "config.asgi:application",
    "one-group": "bench.one_group_monitor:application",
}


async def client(port: int, cookie: str, opened: str, tally: dict, ready) -> None:
    """One supervisor's page, with the call ``opened`` open."""
    url = f"ws://127.0.0.1:{port}/ws/monitor/"
    headers = {"Origin": f"http://127.0.0.1:{port}", "Cookie": f"sessionid={cookie}"}
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, headers=headers, max_msg_size=0) as ws,
    ):
        await ws.receive_json()  # the snapshot
        await ws.send_json({"type": "open", "call_id": opened})
        while (await ws.receive_json())["kind"] != "opened":
            pass
        ready.release()
        async for frame in ws:
            tally["frames"] += 1
            message = json.loads(frame.data)
            if message.get("kind") == "segment" and message["call_id"] == opened:
                stamp = message.get("committed_at")
                if stamp:
                    tally["latencies"].append((time.time() - stamp) * 1000)
                tally["seen"].add((id(ws), message["sequence"]))


async def supervisors(connection, ports, cookie, opened, clients) -> None:
    """The staff websockets, in a process of their own: the writers' work never delays them."""
    tally = {"frames": 0, "latencies": [], "seen": set()}
    ready = asyncio.Semaphore(0)
    tasks = [
        asyncio.create_task(client(ports[i % len(ports)], cookie, opened[i], tally, ready))
        for i in range(clients)
    ]
    for _ in range(clients):
        await asyncio.wait_for(ready.acquire(), 60)
    connection.send("connected")
    await asyncio.to_thread(connection.recv)  # the writers start
    tally["frames"] = 0
    await asyncio.to_thread(connection.recv)  # the writers are done and the tail has arrived
    for task in tasks:
        task.cancel()
    connection.send((tally["frames"], tally["latencies"], len(tally["seen"])))


def supervisors_process(connection, ports, cookie, opened, clients) -> None:
    asyncio.run(supervisors(connection, ports, cookie, opened, clients))


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


async def run(design: str, calls: int, clients: int, rate: float, seconds: float,
              processes: int) -> dict:  # fmt: skip
    from asgiref.sync import sync_to_async

    from agentworker.writer import CallWriter
    from bench.one_group_monitor import publish_to_everyone
    from callcenter import live_updates
    from callcenter.models import Call

    await sync_to_async(end_live_calls)()
    cookie = await sync_to_async(supervisor_session)()
    daphnes, ports = start_daphne(processes, DESIGNS[design])
    context = multiprocessing.get_context("spawn")
    pipe, child_end = context.Pipe()
    try:
        call_rows = [await Call.objects.acreate(status=Call.Status.ACTIVE) for _ in range(calls)]
        # Each supervisor has a call of their own open (the calls spread over the clients).
        opened = [str(call_rows[i * calls // clients].pk) for i in range(clients)]
        watcher = context.Process(
            target=supervisors_process, args=(child_end, ports, cookie, opened, clients)
        )
        watcher.start()
        if not await asyncio.to_thread(pipe.poll, 120) or pipe.recv() != "connected":
            raise RuntimeError("the supervisors' websockets did not connect")
        await asyncio.sleep(1)
        publisher = live_updates.publish if design == "per-call" else publish_to_everyone

        async def stamped_publish(message):
            message["committed_at"] = time.time()
            await publisher(message)

        accounted = {
            "daphne": [psutil.Process(d.pid) for d in daphnes],
            "writers (this process)": [psutil.Process()],
            "websocket clients": [psutil.Process(watcher.pid)],
            "redis": processes_named("redis-server"),
            "postgresql": processes_named("postgres"),
        }
        writers = [CallWriter(c.pk, publish=stamped_publish) for c in call_rows]
        for writer in writers:
            writer.start()
        interval = 1 / rate
        ticks = int(seconds * rate)
        pipe.send("start")
        cpu_before = cpu_seconds(accounted)
        started = time.monotonic()

        async def speak(writer, offset: float) -> int:
            """One call's segments at ``rate``, the calls spread over the interval (real calls
            do not speak in step)."""
            for tick in range(ticks):
                due = started + offset + tick * interval
                await asyncio.sleep(max(0, due - time.monotonic()))
                writer.segment("customer", f"segment {tick} of a busy day")
            return ticks

        offsets = [interval * i / calls for i in range(calls)]
        await asyncio.gather(*(speak(w, o) for w, o in zip(writers, offsets, strict=True)))
        for writer in writers:
            await writer.close()
        elapsed = time.monotonic() - started
        cpu_after = cpu_seconds(accounted)
        await asyncio.sleep(2)  # let the last messages arrive
        pipe.send("stop")
        frames, latencies, unique = await asyncio.to_thread(pipe.recv)
        watcher.join(10)
        expected = ticks * clients  # each page's open call said ``ticks`` segments
        return {
            "design": design,
            "calls": calls,
            "clients": clients,
            "daphne_processes": processes,
            "segments_written": ticks * calls,
            "write_rate_per_second": round(ticks * calls / elapsed, 1),
            "deliveries_per_second": round(frames / elapsed, 1),
            "messages_per_second_into_one_page": round(frames / elapsed / clients, 1),
            "open_call_deliveries_expected": expected,
            "open_call_deliveries_lost": expected - unique,
            "open_call_latency_ms": percentiles(latencies),
            # Share of one core each part used while writing (2.0 = both cores of this machine).
            "cpu_cores_used": {
                name: round((cpu_after[name] - cpu_before[name]) / elapsed, 2) for name in accounted
            },
        }
    finally:
        stop(daphnes)


def ratios(old: dict, new: dict) -> dict:
    """How many times more the one-group design costs than the per-call one."""

    def ratio(a, b):
        return round(a / b, 1) if a is not None and b else None

    return {
        "deliveries_per_second": ratio(old["deliveries_per_second"], new["deliveries_per_second"]),
        "messages_per_second_into_one_page": ratio(
            old["messages_per_second_into_one_page"], new["messages_per_second_into_one_page"]
        ),
        "daphne_cpu": ratio(old["cpu_cores_used"]["daphne"], new["cpu_cores_used"]["daphne"]),
        "open_call_latency_p99": ratio(
            old["open_call_latency_ms"]["p99"], new["open_call_latency_ms"]["p99"]
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rate", type=float, default=1 / 3, help="segments per call per second")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--name", default="fanout")
    parser.add_argument("--design", choices=[*DESIGNS, "both"], default="both")
    args = parser.parse_args()
    setup_django()
    designs = list(DESIGNS) if args.design == "both" else [args.design]
    figures = {
        design: asyncio.run(
            run(design, args.calls, args.clients, args.rate, args.seconds, args.processes)
        )
        for design in designs
    }
    if len(figures) == 2:
        figures["one-group / per-call"] = ratios(figures["one-group"], figures["per-call"])
    report(args.name, figures)


if __name__ == "__main__":
    main()
