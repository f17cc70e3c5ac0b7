"""Worker capacity: the memory of one job process, and how many concurrent text-mode sessions
one machine serves before turn latency doubles.

livekit-agents runs every job in its own process, forked from a forkserver that preloaded the
plugins and the local models. Here each simulated call is one such process: Django set up, the
bundled VAD (the worker's prewarm), the production session (``build_session``: turn detector,
STT/TTS clients, the LLM client pointed at the scripted server in a process of its own), the
ServiceDeskAgent with the SessionEvents and CallWriter writing to PostgreSQL and publishing to
Redis. Callers take ``--think`` seconds between turns. For each level of concurrency the script
reports turn latency (p50/p95) and per-process memory (RSS; PSS, shared pages split between
their sharers; USS, the private memory one more call adds), and stops once the median turn
takes twice as long as with one call, or a level fails. It also reports the most PostgreSQL
server connections on the benchmark's database during each level: straight to PostgreSQL one
per job process; with ``--pooled`` the job processes reach it through the PgBouncer of ``make
services`` (transaction mode, ``DATABASE_TRANSACTION_POOLING=on``).

    .venv/bin/python -m bench.worker_capacity --levels 1,16,64,128 --turns 10 --think 2 [--pooled]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import time
from pathlib import Path

from bench.common import DATABASE, ENV, end_live_calls, percentiles, report, setup_django
from bench.llm_server import llm_server_process
from tests.support.local_services import MostServerConnections, postgres_url


def memory_mb() -> dict[str, float]:
    """This process's memory in MiB: resident (RSS), proportional share (PSS: shared pages
    split between their sharers) and private (USS: what one more job adds)."""
    kib = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        name, _, value = line.partition(":")
        if value.strip().endswith("kB"):
            kib[name] = int(value.split()[0])
    private = kib["Private_Clean"] + kib["Private_Dirty"]
    return {
        "rss_mb": round(kib["Rss"] / 1024, 1),
        "pss_mb": round(kib["Pss"] / 1024, 1),
        "uss_mb": round(private / 1024, 1),
    }


async def job(connection, turns: int, think: float) -> dict:
    """One call's job: prepare like a job, say ready, wait for go, run the turns."""
    from livekit.agents import inference

    from agentworker.pipeline import build_session
    from agentworker.writer import CallWriter
    from callcenter.models import Call
    from tests.support.agent_job import text_mode_job

    vad = inference.VAD()  # the worker's prewarm
    call = await Call.objects.acreate(status=Call.Status.ACTIVE)
    writer = await CallWriter.open(call.pk)
    latencies: list[float] = []
    async with build_session(vad) as session:
        job, _recorder = text_mode_job(call, writer, session)
        await session.start(job.agent)
        await session.run(user_input="Hello")  # warm: first request, connections
        connection.send("ready")
        await asyncio.to_thread(connection.recv)
        for turn in range(turns):
            started = time.perf_counter()
            await session.run(user_input=f"When is my timing belt due? ({turn})")
            latencies.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(think)
        memory = memory_mb()
    await writer.close()
    return {"turn_ms": latencies, **memory}


def job_process(connection, environment: dict, turns: int, think: float) -> None:
    """The body of a job process (forked from the preloaded forkserver)."""
    try:
        os.environ.update(environment)
        setup_django(prepare=False)
        connection.send(asyncio.run(job(connection, turns, think)))
    except Exception as error:
        connection.send({"error": f"{type(error).__name__}: {error}"[:300]})


class LevelFailed(Exception):
    pass


def job_processes() -> multiprocessing.context.BaseContext:
    """Processes started as the livekit-agents worker starts its jobs on Linux: forked from a
    forkserver that preloaded the plugins and the framework's warm-up (the VAD and the
    end-of-turn weights, then shared copy-on-write by every job)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(
        ["livekit.plugins.openai", "livekit.agents.ipc._preload",
         "livekit.agents.ipc._preload_freeze"]
    )  # fmt: skip
    return context


def run_level(context, calls: int, turns: int, think: float, base_url: str, pooled: bool) -> dict:
    environment = {**os.environ, "OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "bench"}
    if pooled:
        environment |= {
            "DATABASE_URL": postgres_url(DATABASE, pooled=True),
            "DATABASE_TRANSACTION_POOLING": "on",
        }
    connections = MostServerConnections(every=0.5)
    connections.start()
    pipes, processes = [], []
    for _ in range(calls):
        parent, child = context.Pipe()
        process = context.Process(target=job_process, args=(child, environment, turns, think))
        process.start()
        pipes.append(parent)
        processes.append(process)

    def answer(pipe, timeout: float):
        if not pipe.poll(timeout):
            raise LevelFailed(f"a job process did not answer within {timeout:.0f} s")
        message = pipe.recv()
        if isinstance(message, dict) and "error" in message:
            raise LevelFailed(message["error"])
        return message

    try:
        for pipe in pipes:  # all prepared before any turn is timed
            answer(pipe, 120)
        for index, pipe in enumerate(pipes):  # callers do not all speak at once
            time.sleep(think / calls if index else 0)
            pipe.send("go")
        results = [answer(pipe, 60 + turns * (think + 5)) for pipe in pipes]
    finally:
        connections.done.set()
        connections.join(timeout=5)
        deadline = time.monotonic() + 10  # after a failure the others wait for "go": end them
        for process in processes:
            process.join(timeout=max(deadline - time.monotonic(), 0))
        for process in processes:
            if process.is_alive():
                process.kill()
    latencies = [value for result in results for value in result["turn_ms"]]
    return {
        "calls": calls,
        "turn_ms": percentiles(latencies),
        "rss_mb_per_process": round(sum(r["rss_mb"] for r in results) / calls, 1),
        "pss_mb_per_process": round(sum(r["pss_mb"] for r in results) / calls, 1),
        "uss_mb_per_process": round(sum(r["uss_mb"] for r in results) / calls, 1),
        "pss_mb_total": round(sum(r["pss_mb"] for r in results), 1),
        "postgres_server_connections": connections.most,
    }


def measure_levels(levels, turns: int, think: float, llm_delay: float, pooled: bool) -> dict:
    figures: dict = {
        "think_seconds": think,
        "llm_delay_seconds": llm_delay,
        "database": "PgBouncer, transaction mode" if pooled else "PostgreSQL",
        "levels": [],
    }
    context = job_processes()
    with llm_server_process(llm_delay) as base_url:
        baseline = None
        for calls in levels:
            try:
                level = run_level(context, calls, turns, think, base_url, pooled)
            except LevelFailed as failure:
                figures["failed"] = {"calls": calls, "reason": str(failure)}
                print(json.dumps(figures["failed"]), flush=True)
                break
            print(json.dumps(level), flush=True)
            figures["levels"].append(level)
            median = level["turn_ms"]["p50"]
            baseline = baseline or median
            level["p50_over_one_call"] = round(median / baseline, 2)
            if median >= 2 * baseline:
                break
    doubled = [lv for lv in figures["levels"] if lv["p50_over_one_call"] >= 2]
    held = [lv["calls"] for lv in figures["levels"] if lv["p50_over_one_call"] < 2]
    figures["most_calls_before_doubling"] = max(held) if held else 0
    figures["doubled_at"] = doubled[0]["calls"] if doubled else None
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,2,4,8,16,24,32,48")
    parser.add_argument("--turns", type=int, default=10, help="timed turns per call")
    parser.add_argument("--think", type=float, default=2.0, help="caller's seconds between turns")
    parser.add_argument(
        "--llm-delay", type=float, default=0.0, help="seconds the scripted LLM waits (TTFT)"
    )
    parser.add_argument("--pooled", action="store_true", help="job processes through PgBouncer")
    args = parser.parse_args()
    setup_django()
    end_live_calls()
    os.environ.update(ENV)
    levels = [int(level) for level in args.levels.split(",")]
    figures = measure_levels(levels, args.turns, args.think, args.llm_delay, args.pooled)
    report("worker_capacity_pooled" if args.pooled else "worker_capacity", figures)


if __name__ == "__main__":
    main()
