"""How long a caller waits for the answer, and how many calls this machine carries, through
the real livekit-server.

Everything runs as in production except the models: daphne, livekit-server (``runlivekit``),
the agent worker (``runagent start``, its own job processes), PostgreSQL and Redis. The
stand-in STT, LLM and TTS (``bench.llm_server``, a process of its own) answer at once, or the
LLM after ``--llm-delay``. Each simulated caller is a LiveKit participant in this process: it
starts its call through the API as the call page does, publishes espeak-ng speech at real-time
pace (silence in between, as a microphone sends), and listens to the agent's track.

Per turn: from the end of the caller's speech (known to the frame: the benchmark plays it) to
the first sound of the answer at the caller. The session's own figures for the same turns
(``Call.metrics``: end-of-turn delay, LLM first token, TTS first byte) are subtracted to leave
"the rest": our code and the media path. The moments the job saw (the caller segment's end of
speech, the answer's playout start, wall clock) split the rest into media in, the job's own
time beyond the session's stages, and media out. Levels of concurrent calls run until the response's
p95 doubles against one call, a turn goes unanswered, or the levels end; CPU seconds per second
of each part and the private memory of the job processes are read from /proc (psutil), and the
most PostgreSQL server connections on the benchmark's database from ``pg_stat_activity``.
``--pooled`` puts daphne and the worker behind the PgBouncer of ``make services`` (transaction
mode, ``DATABASE_TRANSACTION_POOLING=on``) instead of straight on PostgreSQL.

The greeting: from the caller's POST to its first sound, step by step: the POST's answer and
the caller's connection (here), then when the job started, connected, took the call up, built
and started its session (``Call.metrics["opening"]``), and when the greeting began playing
(its segment). ``--speech-delay`` holds the TTS stand-in's first byte; a list (``0,0.4``) runs
everything with the first, then the greetings one by one again with each further delay (our
job and, with ``--bare``, the example agent: workers started anew). Each worker gets one
call first that is not measured (its first connection, the greeting kept for the next calls).
``--bare`` then runs LiveKit's basic example agent (``bench.bare_agent``) against the same
stand-ins and callers, and prints our job's CPU, memory, response and greeting as ratios.

    .venv/bin/python -m bench.voice_turn --levels 1,5,10,20 --turns 4 [--pooled]
    .venv/bin/python -m bench.voice_turn --levels 1,5 --turns 3 --greetings 10 --bare \
        --speech-delay 0,0.4
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from http.cookiejar import CookieJar
from pathlib import Path

import numpy as np
from asgiref.sync import sync_to_async

from bench.common import (
    DATABASE,
    ENV,
    ROOT,
    free_port,
    percentiles,
    report,
    setup_django,
    stop,
    wait_for_port,
)
from bench.llm_server import TRANSCRIPT, llm_server_process
from tests.support.local_services import postgres_url, server_connections

SAMPLE_RATE = 48000
FRAME_SAMPLES = SAMPLE_RATE // 100  # 10 ms frames, as a browser sends
LOUD = 300  # RMS of int16 samples: espeak-ng speech is far above, silence is 0
QUIET_AFTER_ANSWER = 1.0  # seconds of silence that end the agent's answer
ANSWER_TIMEOUT = 20.0
KEY, SECRET = "bench-voice", "bench-voice-secret-0123456789-0123456789"
BARE_AGENT_NAME = "bench-bare-agent"


def speech_samples(text: str) -> np.ndarray:
    """``text`` spoken by espeak-ng as 48 kHz mono int16 samples, trimmed to the speech."""
    from tests.support.scripted_llm import espeak_wav

    wav = espeak_wav(text, rate=SAMPLE_RATE)
    samples = np.frombuffer(wav[44:], dtype=np.int16)
    loud = np.flatnonzero(np.abs(samples) > LOUD)
    return samples[loud[0] : loud[-1] + 1].copy()


class Caller:
    """One simulated caller: a microphone that is silent unless a turn is being said, and an
    ear on the agent's audio."""

    def __init__(self, source) -> None:
        self.source = source
        self.speech: asyncio.Queue[np.ndarray] = asyncio.Queue()
        self.speech_ended = asyncio.Event()
        self.speech_end = 0.0
        self.last_loud = 0.0
        self.first_loud: float | None = None  # the greeting's first sound
        self.first_loud_after: float | None = None
        self.listening_since = float("inf")

    async def microphone(self) -> None:
        silence = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        while True:
            samples = self.speech.get_nowait() if not self.speech.empty() else None
            if samples is None:
                await self._frame(silence)
                continue
            for start in range(0, len(samples), FRAME_SAMPLES):
                chunk = samples[start : start + FRAME_SAMPLES]
                if len(chunk) < FRAME_SAMPLES:
                    chunk = np.pad(chunk, (0, FRAME_SAMPLES - len(chunk)))
                await self._frame(chunk)
            # The last sample leaves when what is queued ahead of it has played out.
            self.speech_end = time.monotonic() + self.source.queued_duration
            self.listening_since = self.speech_end
            self.first_loud_after = None
            self.speech_ended.set()

    async def _frame(self, samples: np.ndarray) -> None:
        from livekit import rtc

        frame = rtc.AudioFrame.create(SAMPLE_RATE, 1, FRAME_SAMPLES)
        np.frombuffer(frame.data, dtype=np.int16)[:] = samples
        await self.source.capture_frame(frame)

    async def ear(self, track) -> None:
        from livekit import rtc

        async for event in rtc.AudioStream(track, sample_rate=SAMPLE_RATE, num_channels=1):
            samples = np.frombuffer(event.frame.data, dtype=np.int16).astype(np.float32)
            if samples.size and float(np.sqrt(np.mean(samples * samples))) > LOUD:
                now = time.monotonic()
                self.last_loud = now
                self.first_loud = self.first_loud or now
                if self.first_loud_after is None and now > self.listening_since:
                    self.first_loud_after = now

    async def quiet_for(self, seconds: float, timeout: float = ANSWER_TIMEOUT) -> None:
        """Until the agent has been silent ``seconds`` (its answer is over)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() - self.last_loud < seconds and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    async def turn(self, samples: np.ndarray) -> tuple[float, float | None]:
        """Say ``samples``; when the speech ended and when the first sound came back (wall
        clock, comparable with the job's timestamps on this machine; None: nothing came)."""
        self.speech_ended.clear()
        await self.speech.put(samples)
        await self.speech_ended.wait()
        deadline = self.speech_end + ANSWER_TIMEOUT
        while self.first_loud_after is None and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        to_wall = time.time() - time.monotonic()
        heard = None if self.first_loud_after is None else self.first_loud_after + to_wall
        return self.speech_end + to_wall, heard


def start_call(web_url: str) -> dict:
    """POST /api/calls/ as the call page does (CSRF cookie from the page first)."""
    import json

    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(web_url + "/").read()
    token = next(cookie.value for cookie in jar if cookie.name == "csrftoken")
    request = urllib.request.Request(
        web_url + "/api/calls/",
        data=b"{}",
        # Over https Django's CSRF check also wants the page the request comes from.
        headers={
            "Content-Type": "application/json",
            "X-CSRFToken": token,
            "Referer": web_url + "/",
        },
        method="POST",
    )
    return json.loads(opener.open(request).read())


def bare_call(livekit_url: str) -> dict:
    """A call to the bare example agent (bench.bare_agent): a room of its own and a token that
    dispatches it, as the product's caller token dispatches ours."""
    import uuid

    from livekit import api

    room = f"bare-{uuid.uuid4().hex[:12]}"
    grants = api.VideoGrants(room_join=True, room=room, can_publish=True, can_subscribe=True)
    token = (
        api.AccessToken(KEY, SECRET)
        .with_identity(f"caller-{uuid.uuid4().hex[:8]}")
        .with_grants(grants)
        .with_room_config(
            api.RoomConfiguration(agents=[api.RoomAgentDispatch(agent_name=BARE_AGENT_NAME)])
        )
    )
    return {"call_id": None, "server_url": livekit_url, "token": token.to_jwt()}


async def one_call(dial, samples: np.ndarray, turns: int, seed: int) -> dict:
    """One caller's call: ``dial()`` starts it (the product's POST, or the bare agent's
    token) and returns its call id, server and token."""
    from livekit import rtc

    dialled = time.monotonic()
    dialled_at = time.time()
    started = await asyncio.to_thread(dial)
    posted_at = time.time()
    room = rtc.Room()
    source = rtc.AudioSource(SAMPLE_RATE, 1, queue_size_ms=50)
    caller = Caller(source)
    ears: list[asyncio.Task] = []
    room.on(
        "track_subscribed",
        lambda track, *_: (
            ears.append(asyncio.create_task(caller.ear(track)))
            if track.kind == rtc.TrackKind.KIND_AUDIO
            else None
        ),
    )
    await room.connect(started["server_url"], started["token"])
    connected_at = time.time()
    track = rtc.LocalAudioTrack.create_audio_track("microphone", source)
    options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    await room.local_participant.publish_track(track, options)
    microphone = asyncio.create_task(caller.microphone())
    responses: list[float | None] = []
    moments: list[tuple[float, float | None]] = []
    pauses = random.Random(seed)
    try:
        # The greeting: wait for it to start and end.
        deadline = time.monotonic() + 60
        while not caller.last_loud and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await caller.quiet_for(QUIET_AFTER_ANSWER)
        for _ in range(turns):
            await asyncio.sleep(pauses.uniform(0.5, 1.5))  # a person's pause
            ended, heard = await caller.turn(samples)
            moments.append((ended, heard))
            responses.append(None if heard is None else heard - ended)
            await caller.quiet_for(QUIET_AFTER_ANSWER)
    finally:
        microphone.cancel()
        for ear in ears:
            ear.cancel()
        await room.disconnect()
    # From the caller's "call" to the greeting's first sound: a job process taken from the idle
    # (prewarmed) ones, or started for the call, joining and speaking.
    greeting = None if caller.first_loud is None else caller.first_loud - dialled
    return {
        "call_id": started["call_id"],
        "responses": responses,
        "moments": moments,
        "greeting": greeting,
        # The caller's side of the opening, wall clock (the job's side: Call.metrics).
        "opening": {"dialled": dialled_at, "posted": posted_at, "caller_connected": connected_at},
    }


def session_figures(call_ids: list[str], seconds: float = 60) -> dict[str, dict]:
    """Each call's metrics once its job has stored them (it does when the call ends), with
    the moments the job saw: when each caller turn ended (the VAD's end of speech) and when
    each answer started playing out, from the call's transcript segments."""
    from callcenter.models import Call, TranscriptSegment

    deadline = time.monotonic() + seconds
    while True:
        stored = dict(
            Call.objects.filter(pk__in=call_ids).exclude(metrics={}).values_list("pk", "metrics")
        )
        if len(stored) == len(call_ids) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    figures = {}
    for pk, metrics in stored.items():
        segments = TranscriptSegment.objects.filter(call_id=pk).order_by("sequence")
        said = segments.filter(speaker=TranscriptSegment.Speaker.CUSTOMER)
        answered = segments.filter(speaker=TranscriptSegment.Speaker.AGENT)
        first_said = answered.first()
        figures[str(pk)] = {
            **metrics,
            "greeting_playout": first_said.started_at.timestamp() if first_said else None,
            "caller_ended": [s.ended_at.timestamp() if s.ended_at else None for s in said],
            # The greeting first: no caller turn precedes it.
            "answer_started": [s.started_at.timestamp() for s in answered][1:],
        }
    return figures


def split_turns(calls: list[dict], figures: dict[str, dict]) -> tuple[dict, int]:
    """Per answered turn: the response, the session's parts, and the rest (ms); and how many
    calls could not be split (the session counted other turns than the caller took, e.g. a
    sentence heard as two: pairing their figures by order would be wrong)."""
    parts: dict[str, list[float]] = {
        "response": [], "end_of_turn": [], "llm_first_token": [], "tts_first_byte": [],
        "rest": [], "media_in": [], "in_the_job": [], "job_rest": [], "media_out": [],
    }  # fmt: skip
    unsplit = 0
    for call in calls:
        responses = call["responses"]
        parts["response"] += [r * 1000 for r in responses if r is not None]
        metrics = figures.get(call["call_id"], {})
        turns = len(responses)
        eou = metrics.get("eou_delay_ms", [])
        # The last samples are the answers': a greeting the model worded, or one synthesised
        # as it was said (not yet kept), has samples of its own before them.
        ttft = metrics.get("llm_ttft_ms", [])[-turns:] if turns else []
        ttfb = metrics.get("tts_ttfb_ms", [])[-turns:] if turns else []
        ended, started = metrics.get("caller_ended", []), metrics.get("answer_started", [])
        if None in responses or not turns == len(eou) == len(ttft) == len(ttfb):
            unsplit += 1
            continue
        for response, *session in zip(responses, eou, ttft, ttfb, strict=True):
            for name, value in zip(
                ("end_of_turn", "llm_first_token", "tts_first_byte"), session, strict=True
            ):
                parts[name].append(value)
            parts["rest"].append(response * 1000 - sum(session))
        if turns == len(ended) == len(started) and None not in ended:
            # Where the rest goes: caller → job (the job's end of speech), inside the job
            # (from there to the answer's playout, less the session's reported parts), and
            # job → caller (playout to the first sound heard).
            for (spoke, heard), job_heard, playout, *session in zip(
                call["moments"], ended, started, eou, ttft, ttfb, strict=True
            ):
                parts["media_in"].append((job_heard - spoke) * 1000)
                parts["in_the_job"].append((playout - job_heard) * 1000)
                parts["job_rest"].append((playout - job_heard) * 1000 - sum(session))
                parts["media_out"].append((heard - playout) * 1000)
    return parts, unsplit


# The opening of a call, step by step: the caller's (bench) and the job's (Call.metrics).
OPENING_STEPS = (
    "posted", "caller_connected", "job_started", "connected", "taken_up", "session_built",
    "ready", "session_started", "greeting_playout",
)  # fmt: skip


def opening_steps(calls: list[dict], figures: dict[str, dict]) -> dict[str, dict]:
    """Each step of the calls' openings, ms after the caller pressed Call (its percentiles),
    ending with the greeting's first sound at the caller."""
    reached: dict[str, list[float]] = {step: [] for step in (*OPENING_STEPS, "heard")}
    for call in calls:
        moments = dict(call["opening"])
        job = figures.get(str(call["call_id"]), {})
        moments |= job.get("opening", {})
        moments["greeting_playout"] = job.get("greeting_playout")
        if call["greeting"] is not None:
            moments["heard"] = moments["dialled"] + call["greeting"]
        for step in reached:
            if moments.get(step) is not None:
                reached[step].append((moments[step] - moments["dialled"]) * 1000)
    return {step: percentiles(values) for step, values in reached.items() if values}


class CpuMeter:
    """CPU seconds of each part of the product between two readings."""

    def __init__(self, parts: dict[str, list[int]]) -> None:
        self.parts = parts
        self.start = self._read()
        self.started = time.monotonic()

    def _read(self) -> dict[str, float]:
        import psutil

        seconds: dict[str, float] = {}
        for name, pids in self.parts.items():
            total = 0.0
            for pid in pids:
                try:
                    process = psutil.Process(pid)
                    times = process.cpu_times()
                    total += times.user + times.system
                    if name == "worker + jobs":
                        # Job processes that ended (and were reaped) count in the parent's
                        # children times; the running ones are read one by one.
                        total += times.children_user + times.children_system
                        for child in process.children(recursive=True):
                            child_times = child.cpu_times()
                            total += child_times.user + child_times.system
                            total += child_times.children_user + child_times.children_system
                except psutil.Error:
                    continue
            seconds[name] = total
        return seconds

    def per_second(self) -> dict[str, float]:
        """CPU seconds per wall second of each part (1.0 = one core busy)."""
        end, wall = self._read(), time.monotonic() - self.started
        return {name: round((end[name] - self.start[name]) / wall, 3) for name in end}


def job_memory_mb(worker_pid: int) -> list[float]:
    """Private memory (USS) of each of the worker's job processes, MB: the forkserver's
    children (the worker's other processes, the forkserver itself included, are not jobs)."""
    import psutil

    sizes = []
    for child in psutil.Process(worker_pid).children(recursive=True):
        try:
            if "multiprocessing.forkserver" in " ".join(child.parent().cmdline()):
                sizes.append(round(child.memory_full_info().uss / 2**20, 1))
        except psutil.Error:
            continue
    return sorted(sizes)


def pids_named(name: str) -> list[int]:
    import psutil

    return [p.pid for p in psutil.process_iter(["name"]) if p.info["name"] == name]


VIN_GROUPS = (
    "My VIN is one H G C",
    "M eight two six three",
    "three A zero zero four three five two",
)
VIN_PAUSE = 1.5  # seconds between the groups, as a caller reading from a document pauses


def vin_in_groups() -> np.ndarray:
    """A VIN read in three groups with VIN_PAUSE of silence between them."""
    pause = np.zeros(int(VIN_PAUSE * SAMPLE_RATE), dtype=np.int16)
    pieces = []
    for group in VIN_GROUPS:
        pieces += [speech_samples(group), pause]
    return np.concatenate(pieces[:-1])


async def vin_trials(dial, trials: int, at_once: int) -> dict:
    """How often a VIN read in groups is taken as one turn: each trial is a call whose caller
    reads it once; the call's caller segments are its turns."""
    from django.db.models import Count

    from callcenter.models import TranscriptSegment

    samples = vin_in_groups()
    gate = asyncio.Semaphore(at_once)

    async def trial(index: int) -> str:
        async with gate:
            return (await one_call(dial, samples, 1, seed=index))["call_id"]

    call_ids = await asyncio.gather(*(trial(i) for i in range(trials)))
    await asyncio.to_thread(session_figures, call_ids)  # the jobs have written everything

    def caller_turns() -> dict[str, int]:
        counted = (
            TranscriptSegment.objects.filter(call_id__in=call_ids, speaker="customer")
            .values("call_id")
            .annotate(turns=Count("id"))
        )
        return {str(row["call_id"]): row["turns"] for row in counted}

    per_call = await asyncio.to_thread(caller_turns)
    turns = [per_call.get(str(call_id), 0) for call_id in call_ids]
    return {
        "trials": trials,
        "one_turn": sum(count == 1 for count in turns),
        "turns_per_trial": turns,
        "pause_s": VIN_PAUSE,
    }


async def run_level(
    dial, samples: np.ndarray, calls: int, turns: int, worker_pid: int
) -> tuple[list[dict], list[float], int]:
    """The calls' turns, the job processes' private memory while most of them ran, and the
    most server connections PostgreSQL had on the benchmark's database meanwhile."""
    busiest: list[float] = []
    most_connections = 0

    async def sample_memory() -> None:
        nonlocal busiest, most_connections
        while True:
            await asyncio.sleep(2)
            sizes = await asyncio.to_thread(job_memory_mb, worker_pid)
            if len(sizes) > len(busiest):
                busiest = sizes
            connections = await sync_to_async(server_connections)()
            most_connections = max(most_connections, connections)

    async def staggered(index: int) -> dict:
        await asyncio.sleep(index * 0.2)  # callers do not all dial in the same instant
        return await one_call(dial, samples, turns, seed=index)

    sampler = asyncio.create_task(sample_memory())
    try:
        turns_of_calls = list(await asyncio.gather(*(staggered(i) for i in range(calls))))
        return turns_of_calls, busiest, most_connections
    finally:
        sampler.cancel()


def log_to(path: Path) -> int:
    """A file descriptor a child process writes its log to (the child owns it)."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)


def wait_registered(log: Path, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the worker exited: {log.read_text()[-2000:]}")
        if "registered worker" in log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"the worker did not register: {log.read_text()[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,5,10,20")
    parser.add_argument("--turns", type=int, default=4)
    parser.add_argument("--llm-delay", type=float, default=0.0)
    parser.add_argument(
        "--speech-delay", default="0",
        help="the TTS stand-in's first byte, s; more than one (0,0.4): the greetings again "
        "with each further delay",
    )  # fmt: skip
    parser.add_argument("--turn-detection", choices=["model", "vad"], default="model")
    parser.add_argument(
        "--vin-trials", type=int, default=0, help="instead of levels: read a VIN in groups N times"
    )
    parser.add_argument(
        "--pooled", action="store_true", help="daphne and the worker through PgBouncer"
    )
    parser.add_argument(
        "--idle-processes", type=int, help="AGENT_IDLE_PROCESSES (default: livekit-agents')"
    )
    parser.add_argument(
        "--sounds",
        help="compare the desk's sounds, a worker each, e.g. off,keyboard,keyboard+office "
        "(THINKING_SOUND, +AMBIENT_SOUND=office); default: as configured",
    )
    parser.add_argument(
        "--greetings", type=int, default=0,
        help="also N calls one after another, each hanging up after the greeting (its p95)",
    )  # fmt: skip
    parser.add_argument(
        "--bare", action="store_true",
        help="then LiveKit's basic example agent (bench.bare_agent) at the same levels: our "
        "job's CPU, memory and response time as ratios to it",
    )  # fmt: skip
    args = parser.parse_args()
    if args.bare and args.vin_trials:
        parser.error("--bare compares levels and greetings, not --vin-trials")
    levels = [int(level) for level in args.levels.split(",")]
    try:
        speech_delays = [float(delay) for delay in args.speech_delay.split(",")]
    except ValueError:
        parser.error(f"--speech-delay takes seconds separated by commas, not {args.speech_delay!r}")
    if len(speech_delays) > 1 and not args.greetings:
        parser.error("more than one --speech-delay measures greetings: give --greetings N")

    setup_django()
    from callcenter.models import Call

    Call.objects.live().update(status=Call.Status.ENDED)
    logs = ROOT / "bench" / "results" / "voice_turn_logs"
    logs.mkdir(parents=True, exist_ok=True)
    samples = speech_samples(TRANSCRIPT)
    livekit_port, udp_port = free_port(), free_port()
    processes: list[subprocess.Popen] = []
    with llm_server_process(args.llm_delay, speech_delay=speech_delays[0]) as models_url:
        voice = {
            "LIVEKIT_URL": f"ws://127.0.0.1:{livekit_port}",
            "LIVEKIT_API_KEY": KEY,
            "LIVEKIT_API_SECRET": SECRET,
            "LIVEKIT_AGENT_NAME": "bench-voice-agent",
            "BARE_AGENT_NAME": BARE_AGENT_NAME,
            "OPENAI_BASE_URL": models_url,
            "OPENAI_API_KEY": "bench",
            "LLM_MODEL": "scripted",
            "AGENT_MAX_CALLS": "500",
            "TURN_DETECTION": args.turn_detection,
            "MAX_WAITING_CALLS": "500",
            # The kept greetings of this run only: its first call synthesises them.
            "SPEECH_CACHE_DIR": str(logs / "speech"),
        }
        shutil.rmtree(logs / "speech", ignore_errors=True)
        if args.idle_processes is not None:
            voice["AGENT_IDLE_PROCESSES"] = str(args.idle_processes)
        if args.pooled:
            voice |= {
                "DATABASE_URL": postgres_url(DATABASE, pooled=True),
                "DATABASE_TRANSACTION_POOLING": "on",
            }
        os.environ.update(voice)
        env = {**os.environ, **ENV, **voice}
        try:
            web_port = free_port()
            daphne = subprocess.Popen(
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(web_port),
                 "config.asgi:application"],
                cwd=ROOT, env=env, stdout=log_to(logs / "daphne.log"), stderr=subprocess.STDOUT,
            )  # fmt: skip
            processes.append(daphne)
            web_url = f"http://127.0.0.1:{web_port}"
            wait_for_port(web_port)
            livekit = subprocess.Popen(
                [sys.executable, "manage.py", "runlivekit", "--port", str(livekit_port),
                 "--udp-port", str(udp_port), "--webhook-url", f"{web_url}/livekit/webhook/"],
                cwd=ROOT, env=env, stdout=log_to(logs / "livekit.log"), stderr=subprocess.STDOUT,
            )  # fmt: skip
            processes.append(livekit)
            figures: dict = {
                "turns_per_call": args.turns,
                "llm_delay_s": args.llm_delay,
                "speech_delay_s": speech_delays[0],
                "turn_detection": args.turn_detection,
                "database": "PgBouncer, transaction mode" if args.pooled else "PostgreSQL",
                "idle_processes": args.idle_processes,
            }
            ours = functools.partial(start_call, web_url)
            bare = functools.partial(bare_call, voice["LIVEKIT_URL"])
            # (worker command, how a caller dials it, sound settings, prefix of its figures)
            runs = [
                (None, ours, sounds, f"sounds_{sounds}_" if sounds else "")
                for sounds in (args.sounds.split(",") if args.sounds else [None])
            ]
            if args.bare:
                runs.append(([sys.executable, "-m", "bench.bare_agent", "start"], bare, None,
                             "bare_"))  # fmt: skip
            for command, dial, sounds, prefix in runs:
                with warmed_worker(env, sounds, logs, command, dial, samples) as worker:
                    parts = {
                        "livekit-server": [livekit.pid],
                        "worker + jobs": [worker.pid],
                        "daphne": [daphne.pid],
                        "postgres": pids_named("postgres"),
                        "redis": pids_named("redis-server"),
                        "callers (this process)": [os.getpid()],
                    }
                    if args.vin_trials:
                        figures["vin_in_groups"] = asyncio.run(vin_trials(dial, args.vin_trials, 4))
                    else:
                        run_levels(
                            dial, samples, levels, args.turns, worker, parts, figures, prefix
                        )
                    if args.greetings:
                        figures[f"{prefix}greetings"] = greetings_one_by_one(dial, args.greetings)
                        print(f"{prefix}greetings one by one:", figures[f"{prefix}greetings"])
            if args.sounds:
                figures["sounds_cpu_per_call"] = sounds_cost(figures, args.sounds, levels)
                print("worker CPU per call, against off:", figures["sounds_cpu_per_call"])
            ours_runs = [prefix for command, _, _, prefix in runs if command is None]
            if args.bare:
                figures["against_bare_agent"] = against_bare(figures, levels, ours_runs)
                print("ours against the bare example agent:", figures["against_bare_agent"])
            # The greetings again with a slower TTS: ours (its first sound setting) and bare.
            slower = [runs[0], *(run for run in runs if run[0] is not None)]
            for delay in speech_delays[1:]:
                with llm_server_process(args.llm_delay, speech_delay=delay) as slow_url:
                    found = {}
                    slow_env = {**env, "OPENAI_BASE_URL": slow_url}
                    for command, dial, sounds, prefix in slower:
                        with warmed_worker(slow_env, sounds, logs, command, dial, samples,
                                           f"-tts{delay}"):  # fmt: skip
                            found[f"{prefix}greetings"] = greetings_one_by_one(dial, args.greetings)
                    found["against_bare_agent"] = against_bare(found, [], ours_runs[:1])
                figures[f"greetings_tts_{delay}s"] = found
                print(f"greetings with TTS {delay} s to first byte:", found, flush=True)
        finally:
            stop(list(reversed(processes)))
    kind = "vin" if args.vin_trials else "sounds" if args.sounds else "levels"
    pooled = "_pooled" if args.pooled else ""
    idle = "" if args.idle_processes is None else f"_idle{args.idle_processes}"
    bare_too = "_bare" if args.bare else ""
    report(f"voice_turn_{kind}_{args.turn_detection}{pooled}{idle}{bare_too}", figures)


@contextlib.contextmanager
def warmed_worker(
    env: dict, sounds: str | None, logs: Path, command: list[str] | None, dial,
    samples: np.ndarray, suffix: str = "",
) -> Iterator[subprocess.Popen]:  # fmt: skip
    """A worker (ours, or ``command``) registered and warmed up, stopped when done.

    One call first, not measured: what a worker does once (its first connection to the
    server, the kept greeting) is not what every call costs. Its job finished (its metrics
    stored; the bare agent's: a moment) before measuring."""
    name = f"{'bare' if command else sounds or 'configured'}{suffix}"
    worker = start_worker(env, sounds, logs / f"worker-{name}.log", command)
    try:
        call = asyncio.run(one_call(dial, samples, 1, seed=-1))
        if call["call_id"]:
            session_figures([call["call_id"]])
        time.sleep(3)
        yield worker
    finally:
        stop([worker])


def start_worker(
    env: dict, sounds: str | None, log: Path, command: list[str] | None = None
) -> subprocess.Popen:
    """``runagent start`` (or ``command``), with the desk's sounds as ``sounds`` says (e.g.
    keyboard+office)."""
    chosen = {}
    if sounds is not None:
        thinking, _, ambient = sounds.partition("+")
        chosen = {"THINKING_SOUND": thinking or "off", "AMBIENT_SOUND": ambient or "off"}
    worker = subprocess.Popen(
        command or [sys.executable, "manage.py", "runagent", "start"],
        cwd=ROOT, env={**env, **chosen, "LOG_LEVEL": "INFO"}, stdout=log_to(log),
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_registered(log, worker)
    except BaseException:  # not registered, or the benchmark stopped: nothing left running
        stop([worker])
        raise
    return worker


def sounds_cost(figures: dict, sounds: str, levels: list[int]) -> dict:
    """The worker's CPU seconds per second per call for each sound setting, and its ratio to
    the first (``off``)."""
    cost = {}
    for variant in sounds.split(","):
        for level in levels:
            result = figures.get(f"sounds_{variant}_{level}_calls")
            if result:
                cost.setdefault(variant, {})[level] = round(
                    result["cpu_per_second"]["worker + jobs"] / level, 4
                )
    first = next(iter(cost.values()), {})
    return {
        variant: {
            level: {"cores_per_call": value, "ratio": round(value / first[level], 2)}
            for level, value in per_level.items()
            if first.get(level)
        }
        for variant, per_level in cost.items()
    }


def greetings_one_by_one(dial, calls: int) -> dict:
    """``calls`` calls one after another, each over once its greeting is heard: the greeting's
    percentiles, and the opening's steps (ms after Call) for ours."""
    opened = [
        asyncio.run(one_call(dial, np.zeros(0, dtype=np.int16), 0, seed=i)) for i in range(calls)
    ]
    result = {"greeting_after_dialling": percentiles(
        [c["greeting"] * 1000 for c in opened if c["greeting"] is not None]
    )}  # fmt: skip
    ours = [c["call_id"] for c in opened if c["call_id"]]
    if ours:
        result["opening_steps_ms"] = opening_steps(opened, session_figures(ours))
    return result


def against_bare(figures: dict, levels: list[int], prefixes: list[str]) -> dict:
    """Our job (each run of ours: ``prefixes``) against the bare example agent's, per level:
    CPU per call, private memory per job (median), response and greeting p50/p95, each
    [ours, bare, ours / bare]."""
    ratios = {}
    for prefix, level in ((prefix, level) for prefix in prefixes for level in levels):
        ours, bare = figures.get(f"{prefix}{level}_calls"), figures.get(f"bare_{level}_calls")
        if not ours or not bare:
            continue
        cpu = [run["cpu_per_second"]["worker + jobs"] / level for run in (ours, bare)]
        # The jobs in a call are the largest processes; the others are prewarmed ones waiting.
        in_calls = [sorted(run["job_private_mb"])[-level:] for run in (ours, bare)]
        memory = [statistics.median(sizes) if sizes else None for sizes in in_calls]
        row = {
            "cpu_per_call": [round(cpu[0], 4), round(cpu[1], 4), ratio(*cpu)],
            "job_private_mb": [memory[0], memory[1], ratio(*memory)],
        }
        for part in ("response", "greeting_after_dialling"):
            for at in ("p50", "p95"):
                values = [ours[part][at], bare[part][at]]
                row[f"{part}_{at}_ms"] = [*values, ratio(*values)]
        ratios[f"{prefix}{level}_calls"] = row
    for prefix in prefixes:
        ours, bare = figures.get(f"{prefix}greetings"), figures.get("bare_greetings")
        if ours and bare:
            ratios[f"{prefix}greetings_one_by_one"] = {
                f"greeting_{at}_ms": [
                    ours["greeting_after_dialling"][at], bare["greeting_after_dialling"][at],
                    ratio(ours["greeting_after_dialling"][at], bare["greeting_after_dialling"][at]),
                ]
                for at in ("p50", "p95")
            }  # fmt: skip
    return ratios


def ratio(ours: float | None, theirs: float | None) -> float | None:
    return round(ours / theirs, 2) if ours is not None and theirs else None


def run_levels(dial, samples, levels, turns, worker, parts, figures, prefix="") -> None:
    """Concurrent calls level by level, until the response's p95 doubles against one call."""
    baseline = None
    for level in levels:
        meter = CpuMeter(parts)
        calls, memory, connections = asyncio.run(run_level(dial, samples, level, turns, worker.pid))
        cpu = meter.per_second()
        ours = [c["call_id"] for c in calls if c["call_id"]]  # the bare agent's have none
        figures_of = session_figures(ours) if ours else {}
        split, unsplit = split_turns(calls, figures_of)
        if not ours:
            split = {"response": split["response"]}
        unanswered = sum(r is None for c in calls for r in c["responses"])
        result = {name: percentiles(values) for name, values in split.items()}
        greetings = [c["greeting"] * 1000 for c in calls if c["greeting"] is not None]
        result["greeting_after_dialling"] = percentiles(greetings)
        if ours:
            result["opening_steps_ms"] = opening_steps(calls, figures_of)
            print("  opening (ms after Call, p50/p95):", {
                step: (value["p50"], value["p95"])
                for step, value in result["opening_steps_ms"].items()
            }, flush=True)  # fmt: skip
        result |= {"unanswered_turns": unanswered, "calls_not_split": unsplit,
                   "cpu_per_second": cpu, "job_private_mb": memory,
                   "postgres_server_connections": connections}  # fmt: skip
        figures[f"{prefix}{level}_calls"] = result
        print(level, "calls:", {k: result[k]["p95"] for k in split}, cpu,
              "greeting", result["greeting_after_dialling"],
              f"postgres connections {connections}", flush=True)  # fmt: skip
        p95 = result["response"]["p95"]
        baseline = baseline or p95
        if unanswered or p95 is None or p95 > 2 * baseline:
            figures[f"{prefix}stopped_at"] = (
                f"{level} calls: response p95 {p95} ms against {baseline} ms with one "
                f"call, {unanswered} turns unanswered"
            )
            break


if __name__ == "__main__":
    main()
