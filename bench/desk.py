"""The desk: how soon a caller's request for a person rings a desk, and how soon the caller
hears the person who accepted.

1. Request to ringing (``--at-once``, default 20): that many callers ask for a person at the
   same moment while as many people at the desk are available, their pages' sockets spread
   over two daphne processes that share Redis and PostgreSQL. Each request runs the agent
   job's own code (``agentworker.desk_handoff.DeskHandoff``: the brief, the queued handoff,
   the ring by row locks, the desk group told); ringing is when the person's page received the
   board that rings them. Also one caller alone, for the ratio.
2. Accept to hearing (``--trials``): through the real livekit-server and agent worker with the
   stand-in models (``bench.llm_server --desk``): a caller (a LiveKit participant, its call
   started through the API as the call page does) types that they want a person; the
   person's page rings; they accept through the API and join the room with the token it
   returns, publishing a tone. Heard is the caller's first loud frame of the person's track.
   Also the time to the agent's introduction (its segment stored), which includes the brief
   spoken to the person alone (``HANDOFF_SPOKEN_BRIEF``).

    .venv/bin/python -m bench.desk --at-once 20 --rounds 5 --trials 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time

import aiohttp
import numpy as np

from bench.common import (
    ENV,
    ROOT,
    free_port,
    percentiles,
    report,
    setup_django,
    start_daphne,
    wait_for_port,
)
from bench.common import stop as stop_processes
from bench.llm_server import llm_server_process
from bench.voice_turn import LOUD, SAMPLE_RATE, log_to, start_call, wait_registered

KEY, SECRET = "bench-desk", "bench-desk-secret-0123456789-0123456789-01"
PEOPLE_PREFIX = "bench-desk-"


def desk_people(count: int) -> list[str]:
    """``count`` people at the desk, away and free; their session cookies."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.test import Client

    from desk.models import DeskPerson

    permission = Permission.objects.get(codename="answer_handoffs")
    cookies = []
    for n in range(count):
        user, _ = get_user_model().objects.get_or_create(
            username=f"{PEOPLE_PREFIX}{n}", defaults={"is_staff": True, "first_name": f"P{n}"}
        )
        user.user_permissions.add(permission)
        DeskPerson.objects.update_or_create(
            user=user, defaults={"available": False, "handoff": None}
        )
        client = Client()
        client.force_login(user)
        cookies.append(client.cookies["sessionid"].value)
    return cookies


class DeskPage:
    """One person's desk page: its socket, set available; when each call rang here."""

    def __init__(self, port: int, cookie: str) -> None:
        self.port, self.cookie = port, cookie
        self.rang: dict[str, float] = {}  # call id -> time.time() the ring arrived
        self.ringing: dict[str, int] = {}  # call id -> handoff id
        self.ready = asyncio.Event()

    async def run(self) -> None:
        url = f"ws://127.0.0.1:{self.port}/ws/desk/"
        headers = {"Origin": f"http://127.0.0.1:{self.port}", "Cookie": f"sessionid={self.cookie}"}
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(url, headers=headers, max_msg_size=0) as ws,
        ):
            await ws.send_json({"type": "available"})
            pinging = asyncio.create_task(self._ping(ws))
            try:
                async for frame in ws:
                    mine = json.loads(frame.data)
                    if mine.get("kind") != "mine":  # the person's own part (desk.board)
                        continue
                    if mine["me"]["available"]:
                        self.ready.set()
                    current = mine["current"]
                    if current and current["status"] == "ringing":
                        self.rang.setdefault(current["call_id"], time.time())
                        self.ringing[current["call_id"]] = current["id"]
            finally:
                pinging.cancel()

    async def _ping(self, ws) -> None:
        while True:
            await asyncio.sleep(5)
            await ws.send_json({"type": "ping"})


async def one_round(pages: list[DeskPage], at_once: int) -> list[float]:
    """``at_once`` callers ask for a person at once; ms from each request to its ring."""
    from asgiref.sync import sync_to_async

    from agentworker.call_job import CallJob
    from agentworker.desk_handoff import DeskHandoff
    from agentworker.writer import CallWriter
    from callcenter.models import Call

    calls = [
        await Call.objects.acreate(status=Call.Status.ACTIVE, caller=f"bench-{n}")
        for n in range(at_once)
    ]
    jobs = []
    for call in calls:
        writer = await CallWriter.open(call.pk)
        jobs.append(DeskHandoff(CallJob(call, writer, agent=None, session=None)))
    asked = time.time()
    await asyncio.gather(*(job.after_handoff("caller asked for a person") for job in jobs))
    wanted = {str(call.pk) for call in calls}
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        rang = {call_id for page in pages for call_id in page.rang} & wanted
        if rang == wanted:
            break
        await asyncio.sleep(0.01)
    latencies = [
        (page.rang[call_id] - asked) * 1000
        for page in pages
        for call_id in wanted & page.rang.keys()
    ]
    for job in jobs:  # the callers leave: the people are free for the next round
        await job.finish(ours=True)
        await job.job.writer.close()
    await Call.objects.filter(pk__in=[c.pk for c in calls]).aupdate(status=Call.Status.ENDED)
    await sync_to_async(_all_free)()
    return latencies


def everyone_away(cookies) -> None:
    """After the first part its people's pages are gone: away, so the second rings the one
    page it opens, not a person whose page was there a moment ago."""
    from desk.models import DeskPerson

    DeskPerson.objects.filter(user__username__startswith=PEOPLE_PREFIX).update(
        available=False, seen_at=None, handoff=None
    )


def _all_free() -> None:
    from django.utils import timezone

    from desk.models import DeskPerson, Handoff

    Handoff.objects.filter(status__in=[*Handoff.WAITING, Handoff.Status.ACCEPTED]).update(
        status=Handoff.Status.ABANDONED
    )
    DeskPerson.objects.filter(user__username__startswith=PEOPLE_PREFIX).update(
        handoff=None, available=True, seen_at=timezone.now()
    )


async def request_to_ringing(ports: list[int], cookies: list[str], at_once: int, rounds: int):
    pages = [DeskPage(ports[n % len(ports)], cookie) for n, cookie in enumerate(cookies)]
    running = [asyncio.create_task(page.run()) for page in pages]
    try:
        await asyncio.wait_for(asyncio.gather(*(p.ready.wait() for p in pages)), 30)
        alone, together = [], []
        for _ in range(rounds * 4):
            alone += await one_round(pages, 1)
        for _ in range(rounds):
            together += await one_round(pages, at_once)
        return alone, together
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)


class Ear:
    """The caller's ear on one participant's audio: when it first sounded."""

    def __init__(self) -> None:
        self.first_loud: float | None = None

    async def listen(self, track) -> None:
        from livekit import rtc

        async for event in rtc.AudioStream(track, sample_rate=SAMPLE_RATE, num_channels=1):
            samples = np.frombuffer(event.frame.data, dtype=np.int16).astype(np.float32)
            if samples.size and float(np.sqrt(np.mean(samples * samples))) > LOUD:
                self.first_loud = self.first_loud or time.time()


async def tone(source) -> None:
    """A person saying "aah" without end: a 220 Hz tone in 10 ms frames."""
    from livekit import rtc

    step = SAMPLE_RATE // 100
    t = np.arange(step) / SAMPLE_RATE
    n = 0
    while True:
        frame = rtc.AudioFrame.create(SAMPLE_RATE, 1, step)
        wave = 3000 * np.sin(2 * np.pi * 220 * (t + n * step / SAMPLE_RATE))
        np.frombuffer(frame.data, dtype=np.int16)[:] = wave.astype(np.int16)
        await source.capture_frame(frame)
        n += 1


async def one_handoff(web_url: str, page: DeskPage, csrf: str, http) -> dict:
    """A caller asks for a person, the person accepts and speaks: the times of it."""
    from livekit import rtc

    from agentworker.desk_handoff import INTRODUCTION
    from callcenter.models import TranscriptSegment

    started = await asyncio.to_thread(start_call, web_url)
    caller, person = rtc.Room(), rtc.Room()
    ear, listening = Ear(), []

    def subscribed(track, _publication, participant) -> None:
        if track.kind == rtc.TrackKind.KIND_AUDIO and participant.identity.startswith("desk-"):
            listening.append(asyncio.create_task(ear.listen(track)))

    caller.on("track_subscribed", subscribed)
    await caller.connect(started["server_url"], started["token"])
    speaking = None
    try:
        await asyncio.sleep(3)  # the greeting
        asked = time.time()
        await caller.local_participant.send_text("I would like a person please", topic="lk.chat")
        call_id = started["call_id"]
        deadline = time.monotonic() + 30
        while call_id not in page.ringing and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        rang = page.rang[call_id]
        accepted = time.time()
        async with http.post(
            f"{web_url}/api/handoffs/{page.ringing[call_id]}/accept/",
            headers={"X-CSRFToken": csrf, "Cookie": f"sessionid={page.cookie}; csrftoken={csrf}"},
        ) as response:
            grant = await response.json()
        await person.connect(grant["server_url"], grant["token"])
        source = rtc.AudioSource(SAMPLE_RATE, 1)
        track = rtc.LocalAudioTrack.create_audio_track("microphone", source)
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        await person.local_participant.publish_track(track, options)
        speaking = asyncio.create_task(tone(source))
        deadline = time.monotonic() + 20
        while ear.first_loud is None and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        introduced = None
        deadline = time.monotonic() + 60
        while introduced is None and time.monotonic() < deadline:
            segment = await TranscriptSegment.objects.filter(
                call_id=call_id, text__startswith=INTRODUCTION.split("{")[0]
            ).afirst()
            introduced = segment.created_at.timestamp() if segment else None
            await asyncio.sleep(0.1)
        return {
            "ring_ms": (rang - asked) * 1000,
            "heard_ms": None if ear.first_loud is None else (ear.first_loud - accepted) * 1000,
            "introduced_ms": None if introduced is None else (introduced - accepted) * 1000,
        }
    finally:
        if speaking is not None:
            speaking.cancel()
        for task in listening:
            task.cancel()
        await caller.disconnect()  # the caller hangs up: the room closes for the person too
        await person.disconnect()


async def accept_to_hearing(web_url: str, port: int, cookie: str, trials: int) -> list[dict]:
    page = DeskPage(port, cookie)
    running = asyncio.create_task(page.run())
    results = []
    try:
        await asyncio.wait_for(page.ready.wait(), 30)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
            headers = {"Cookie": f"sessionid={cookie}"}
            async with http.get(f"{web_url}/desk/", headers=headers) as response:
                csrf = response.cookies["csrftoken"].value
            for _ in range(trials):
                results.append(await one_handoff(web_url, page, csrf, http))
                await asyncio.sleep(3)  # the call ends and the person is free again
    finally:
        running.cancel()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--at-once", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=10)
    args = parser.parse_args()
    setup_django()
    from callcenter.models import Call

    Call.objects.live().update(status=Call.Status.ENDED)
    cookies = desk_people(args.at_once)
    figures: dict = {"at_once": args.at_once}
    processes, ports = start_daphne(2)
    try:
        alone, together = asyncio.run(request_to_ringing(ports, cookies, args.at_once, args.rounds))
    finally:
        stop_processes(processes)
    everyone_away(cookies)
    figures["request_to_ringing_ms"] = {
        "one caller": percentiles(alone),
        f"{args.at_once} callers at once": percentiles(together),
    }
    if alone and together:
        figures["ratio_p95_at_once_to_alone"] = round(
            percentiles(together)["p95"] / percentiles(alone)["p95"], 2
        )
    print(json.dumps(figures, indent=2), flush=True)

    logs = ROOT / "bench" / "results" / "desk_logs"
    logs.mkdir(parents=True, exist_ok=True)
    livekit_port, udp_port = free_port(), free_port()
    with llm_server_process(0.0, desk=True) as models_url:
        voice = {
            "LIVEKIT_URL": f"ws://127.0.0.1:{livekit_port}",
            "LIVEKIT_API_KEY": KEY,
            "LIVEKIT_API_SECRET": SECRET,
            "LIVEKIT_AGENT_NAME": "bench-desk-agent",
            "OPENAI_BASE_URL": models_url,
            "OPENAI_API_KEY": "bench",
            "LLM_MODEL": "scripted",
        }
        os.environ.update(voice)
        env = {**os.environ, **ENV, **voice}
        processes = []
        try:
            web_port = free_port()
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(web_port),
                 "config.asgi:application"],
                cwd=ROOT, env=env, stdout=log_to(logs / "daphne.log"), stderr=subprocess.STDOUT,
            ))  # fmt: skip
            web_url = f"http://127.0.0.1:{web_port}"
            wait_for_port(web_port)
            processes.append(subprocess.Popen(
                [sys.executable, "manage.py", "runlivekit", "--port", str(livekit_port),
                 "--udp-port", str(udp_port), "--webhook-url", f"{web_url}/livekit/webhook/"],
                cwd=ROOT, env=env, stdout=log_to(logs / "livekit.log"), stderr=subprocess.STDOUT,
            ))  # fmt: skip
            worker = subprocess.Popen(
                [sys.executable, "manage.py", "runagent", "start"],
                cwd=ROOT, env={**env, "LOG_LEVEL": "INFO"}, stdout=log_to(logs / "worker.log"),
                stderr=subprocess.STDOUT,
            )  # fmt: skip
            processes.append(worker)
            wait_registered(logs / "worker.log", worker)
            trials = asyncio.run(accept_to_hearing(web_url, web_port, cookies[0], args.trials))
        finally:
            stop_processes(processes)
    figures["through_livekit"] = {
        name: percentiles([t[key] for t in trials if t[key] is not None])
        for name, key in (
            ("request to ringing (ms)", "ring_ms"),
            ("accept to the caller hearing the person (ms)", "heard_ms"),
            ("accept to the introduction, after the spoken brief (ms)", "introduced_ms"),
        )
    }
    report("desk", figures)


if __name__ == "__main__":
    main()
