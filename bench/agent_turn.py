"""Agent hot path: what persistence and publishing add to a conversational turn, and the
lookup_vehicle tool with a large vehicle table.

1. The same text-mode turn (real AgentSession, livekit-plugins-openai against the scripted
   server) with the SessionEvents + CallWriter attached and without; ratio of mean turn times
   in one run, in alternating blocks, and the event loop's worst lag while writing.
2. ``lookup_vehicle`` (the tool as the agent calls it: VIN normalisation + ORM) with
   ``--vehicles`` rows in the table (loaded with COPY when missing).

    .venv/bin/python -m bench.agent_turn --turns 200 --vehicles 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import random
import re
import statistics
import time

from bench.common import end_live_calls, percentiles, report, setup_django
from bench.llm_server import llm_server_process


async def measure_loop_lag(stop: asyncio.Event, lags: list[float]) -> None:
    while not stop.is_set():
        before = time.perf_counter()
        await asyncio.sleep(0.001)
        lags.append((time.perf_counter() - before - 0.001) * 1000)


class SlowSteps(logging.Handler):
    """Collects asyncio debug mode's "Executing <step> took N seconds" reports: every step
    that held the event loop longer than ``slow_callback_duration``, with what it was."""

    PATTERN = re.compile(r"Executing (?P<step>.*) took (?P<seconds>[0-9.]+) seconds", re.S)

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.steps: list[tuple[str, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        match = self.PATTERN.search(record.getMessage())
        if match:
            self.steps.append((match["step"], float(match["seconds"]) * 1000))

    def by_owner(self) -> dict:
        ours = ("call-writer", "CallWriter", "SessionEvents", "agentworker/writer")
        writer = [ms for step, ms in self.steps if any(name in step for name in ours)]
        other = [ms for step, ms in self.steps if not any(name in step for name in ours)]
        return {
            "writer_steps_over_5ms": len(writer),
            "writer_longest_step_ms": round(max(writer), 1) if writer else None,
            "session_steps_over_5ms": len(other),
            "session_longest_step_ms": round(max(other), 1) if other else None,
        }


async def blocking_steps(turns: int, llm_delay: float) -> dict:
    """Turns with the writer on under asyncio debug mode: which steps held the loop > 5 ms."""
    from livekit.agents import AgentSession
    from livekit.plugins import openai

    from agentworker.writer import CallWriter
    from callcenter.models import Call
    from tests.support.agent_job import text_mode_job

    loop = asyncio.get_running_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = 0.005
    steps = SlowSteps()
    asyncio_log = logging.getLogger("asyncio")
    asyncio_log.addHandler(steps)
    asyncio_log.propagate = False  # collected, not printed
    try:
        with llm_server_process(llm_delay) as base_url:
            model = openai.LLM(model="scripted", base_url=base_url, api_key="bench")
            call = await Call.objects.acreate(status=Call.Status.ACTIVE)
            writer = await CallWriter.open(call.pk)
            async with AgentSession(llm=model) as session:
                job, _recorder = text_mode_job(call, writer, session)
                await session.start(job.agent)
                await session.run(user_input="Hello")  # start-up is not a turn
                steps.steps.clear()
                for _ in range(turns):
                    await session.run(user_input="When is my timing belt due?")
                await writer.flush()
            await writer.close()
    finally:
        asyncio_log.removeHandler(steps)
        asyncio_log.propagate = True
        loop.set_debug(False)
    return {"debug_mode_turns": turns, **steps.by_owner()}


async def turns(turns: int, block: int, llm_delay: float) -> dict:
    from livekit.agents import AgentSession
    from livekit.plugins import openai

    from agentworker.agent import ServiceDeskAgent
    from agentworker.writer import CallWriter
    from callcenter.models import Call
    from tests.support.agent_job import text_mode_job

    timings = {"off": [], "on": []}
    lags: dict[str, list[float]] = {"off": [], "on": []}
    # The LLM server runs in its own process: the loop measured here is the agent's alone.
    with llm_server_process(llm_delay) as base_url:
        model = openai.LLM(model="scripted", base_url=base_url, api_key="bench")
        for round_number in range(turns // block):
            for mode in ("off", "on") if round_number % 2 == 0 else ("on", "off"):
                call = await Call.objects.acreate(status=Call.Status.ACTIVE)
                writer = await CallWriter.open(call.pk)
                async with AgentSession(llm=model) as session:
                    if mode == "on":
                        agent = text_mode_job(call, writer, session)[0].agent
                    else:
                        agent = ServiceDeskAgent(writer, greets=False)
                    await session.start(agent)
                    stop = asyncio.Event()
                    ticker = asyncio.create_task(measure_loop_lag(stop, lags[mode]))
                    for _ in range(block):
                        started = time.perf_counter()
                        await session.run(user_input="When is my timing belt due?")
                        timings[mode].append((time.perf_counter() - started) * 1000)
                    stop.set()
                    await ticker
                await writer.close()
    off, on = statistics.mean(timings["off"]), statistics.mean(timings["on"])
    return {
        "turns_per_mode": len(timings["on"]),
        "turn_ms_writer_off": percentiles(timings["off"]),
        "turn_ms_writer_on": percentiles(timings["on"]),
        "ratio_mean_on_over_off": round(on / off, 4),
        "added_ms_per_turn": round(on - off, 2),
        "loop_lag_ms_writer_off": percentiles(lags["off"]),
        "loop_lag_ms_writer_on": percentiles(lags["on"]),
    }


def load_vehicles(target: int) -> int:
    """Bring the vehicle table to ``target`` rows with valid VINs (COPY), return the count."""
    from django.db import connection

    from vehicles.models import Vehicle
    from vehicles.vin import VIN_ALPHABET, with_check_digit

    have = Vehicle.objects.count()
    if have >= target:
        return have
    rng = random.Random(have)
    makes = [("1HG", "Honda", "Accord"), ("4T1", "Toyota", "Camry"), ("1FT", "Ford", "F-150")]
    year_codes = "ABCDEFGHJKLMNPRSTVWXY123456789"
    seen = set(Vehicle.objects.values_list("vin", flat=True)) if have else set()
    buffer = io.StringIO()
    added = 0
    while added < target - have:
        wmi, make, model = rng.choice(makes)
        body = "".join(rng.choice(VIN_ALPHABET) for _ in range(5))
        serial = "".join(rng.choice("0123456789") for _ in range(6))
        code = rng.choice(year_codes)
        vin = with_check_digit(f"{wmi}{body}0{code}A{serial}")
        if vin in seen:
            continue
        seen.add(vin)
        year = 1980 + year_codes.index(code) + (30 if vin[6].isalpha() else 0)
        year = min(max(year, 1981), 2026)
        buffer.write(f"{vin}\t{make}\t{model}\t{year}\tnow\tnow\n")
        added += 1
    buffer.seek(0)
    with (
        connection.cursor() as cursor,
        cursor.copy(
            "COPY vehicles_vehicle (vin, make, model, year, created_at, updated_at) FROM STDIN"
        ) as copy,
    ):
        copy.write(buffer.read())
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE vehicles_vehicle")
    return Vehicle.objects.count()


async def lookups(count: int) -> dict:
    from asgiref.sync import sync_to_async

    from agentworker.agent import ServiceDeskAgent
    from agentworker.writer import CallWriter
    from callcenter.models import Call
    from vehicles.models import Vehicle

    vins = await sync_to_async(
        lambda: list(Vehicle.objects.order_by("?").values_list("vin", flat=True)[:count])
    )()
    call = await Call.objects.acreate(status=Call.Status.ACTIVE)
    writer = await CallWriter.open(call.pk, publish=None)
    agent = ServiceDeskAgent(writer, greets=False)
    timings = []
    for vin in vins:
        spoken = " ".join(vin.lower())
        started = time.perf_counter()
        answer = await agent.lookup_vehicle(None, spoken)
        timings.append((time.perf_counter() - started) * 1000)
        assert answer.startswith("Found on file"), answer
    await writer.close()
    return {"lookups": len(timings), "lookup_vehicle_ms": percentiles(timings)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--block", type=int, default=20)
    parser.add_argument("--vehicles", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=500)
    parser.add_argument(
        "--llm-delay", type=float, default=0.0, help="seconds the scripted LLM waits (TTFT)"
    )
    args = parser.parse_args()
    setup_django()
    end_live_calls()
    figures = asyncio.run(turns(args.turns, args.block, args.llm_delay))
    figures.update(asyncio.run(blocking_steps(args.turns // 2, args.llm_delay)))
    figures["llm_delay_seconds"] = args.llm_delay
    started = time.monotonic()
    figures["vehicles_in_table"] = load_vehicles(args.vehicles)
    figures["vehicle_load_seconds"] = round(time.monotonic() - started, 1)
    figures.update(asyncio.run(lookups(args.lookups)))
    report("agent_turn", figures)


if __name__ == "__main__":
    main()
