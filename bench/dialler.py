"""The campaigns' dialler: its own work per contact through a campaign of 10,000, and how soon a
due contact is dialled with one dialler and with two.

1. Overhead per contact: a campaign of ``--contacts`` waiting contacts is worked through round
   by round as ``run_campaigns`` does (``campaigns.dialler``), on a clock moved a minute per
   round so the pacing (50 at once, 120 a minute) lets each round place its share. Each placed
   contact is dispatched to a real livekit-server (its agent dispatch API; no worker serves
   the agent name, so the jobs wait, and nobody is phoned), its call is then ended busy, and
   the next round settles it. Printed: milliseconds per contact for placing (PostgreSQL row
   locks, the window, the do-not-call list), dispatching, and settling.
2. Due to dialled: ``--due`` contacts fall due at once in a running campaign (up to 20 at
   once), at a random moment, ``--trials`` times, while ``manage.py run_campaigns`` runs as
   one process, then as two (the product's default of a round every 2 s). Dialled is when
   LiveKit created the contact's dispatch (its own timestamp).
3. Due to ringing (``--ring``): the whole way, with two diallers: livekit-server on Redis,
   livekit-sip, the agent worker (``runagent start``) and a line whose outbound trunk reaches
   a SIPp phone that answers every call busy; ``--ring-due`` contacts fall due at once,
   ``--trials`` times. Ringing is when the phone received the INVITE (SIPp's own message
   trace).

    .venv/bin/python -m bench.dialler --contacts 10000 --due 20 --trials 10 [--ring --ring-due 4]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
from datetime import datetime, timedelta
from datetime import time as clock

from bench.common import (
    ENV,
    ROOT,
    end_live_calls,
    free_port,
    percentiles,
    report,
    setup_django,
    stop,
    wait_for_port,
)
from tests.support.local_services import redis_url

KEY, SECRET = "bench-dialler", "bench-dialler-secret-0123456789-0123456789"


def a_campaign(name: str, contacts: int, *, status: str, **pacing):
    from campaigns.models import Campaign, Contact
    from telephony.models import PhoneLine

    line = PhoneLine.objects.get_or_create(number="+12125550100", defaults={"name": "Bench"})[0]
    campaign = Campaign.objects.create(
        name=name, purpose=Campaign.Purpose.SERVICE_DUE, brief="Offer the winter check.",
        line=line, status=status, calling_from=clock(0), calling_until=clock(23, 59, 59),
        **pacing,
    )  # fmt: skip
    Contact.objects.bulk_create(
        (
            Contact(campaign=campaign, name=f"Customer {n}",
                    phone=f"+1{2000000000 + campaign.pk * 100_000 + n}",  # one campaign's own
                    time_zone="America/New_York", consent_source="bench")
            for n in range(contacts)
        ),
        batch_size=2000,
    )  # fmt: skip
    return campaign


def overhead_per_contact(contacts: int) -> dict:
    from callcenter.models import Call, CallEvent
    from campaigns import dialler
    from campaigns.models import Contact

    campaign = a_campaign(
        "Bench overhead", contacts, status="running", max_concurrent_calls=50,
        calls_per_minute=120, max_attempts=1,
    )  # fmt: skip
    now = datetime.now().astimezone()
    placing = dispatching = settling = 0.0
    placed = settled = rounds = 0
    while campaign.contacts.exclude(state=Contact.State.DONE).exists():
        rounds += 1
        started = time.perf_counter()
        settled += dialler.settle_ended_calls(now)
        settling += time.perf_counter() - started
        started = time.perf_counter()
        attempts = [a for a in _placed(now) if a.contact.campaign_id == campaign.pk]
        placing += time.perf_counter() - started
        started = time.perf_counter()
        for attempt in attempts:
            dialler._dispatch(attempt, now)
        dispatching += time.perf_counter() - started
        placed += len(attempts)
        busy = {"result": "busy"}  # the phone was busy
        CallEvent.objects.bulk_create(
            CallEvent(call=a.call, sequence=1, type=CallEvent.Type.CALLBACK, payload=busy)
            for a in attempts
        )
        Call.objects.filter(pk__in=[a.call_id for a in attempts]).update(status="ended")
        now += timedelta(minutes=1)
    figures = {
        "contacts": contacts,
        "rounds": rounds,
        "placed": placed,
        "settled": settled,
        "place_ms_per_contact": round(1000 * placing / placed, 2),
        "dispatch_ms_per_contact": round(1000 * dispatching / placed, 2),
        "settle_ms_per_contact": round(1000 * settling / settled, 2),
    }
    print("overhead per contact:", figures, flush=True)
    return figures


def _placed(now):
    """One round's placing only (dispatching is timed apart)."""
    from campaigns import dialler
    from campaigns.models import Campaign

    placed = []
    running = Campaign.objects.filter(status=Campaign.Status.RUNNING).values_list("pk", flat=True)
    for campaign_id in list(running):
        placed += dialler._place_for(campaign_id, now)
    return placed


async def dispatch_times(rooms: list[str]) -> dict[str, float]:
    """When LiveKit created each room's dispatch (epoch seconds)."""
    from livekit import api

    created = {}
    async with api.LiveKitAPI(os.environ["LIVEKIT_URL"].replace("ws", "http"), KEY, SECRET) as lk:
        for room in rooms:
            listed = await lk.agent_dispatch.list_dispatch(room_name=room)
            if listed:
                created[room] = listed[0].state.created_at / 1e9
    return created


def due_to_dialled(diallers: int, due: int, trials: int, ringing=None) -> dict:
    """``trials`` campaigns, each with ``due`` contacts falling due at once at a random moment
    of the diallers' rounds, while ``diallers`` processes run."""
    processes = [
        subprocess.Popen(
            [sys.executable, "manage.py", "run_campaigns"],
            cwd=ROOT,
            env=os.environ.copy(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(diallers)
    ]
    seconds, dialled, attempts, twice = [], 0, 0, 0
    try:
        time.sleep(3)  # all are up and looking
        for trial in range(trials):
            time.sleep(random.uniform(0, 2))  # anywhere in a round
            found = one_trial(f"Bench due, {diallers} diallers, {trial}", due, ringing=ringing)
            seconds += found["seconds"]
            dialled += len(found["seconds"])
            attempts += found["attempts"]
            twice += found["twice"]
    finally:
        stop(processes)
    figures = {
        "diallers": diallers, "due_per_trial": due, "trials": trials, "dialled": dialled,
        "attempts": attempts, "contacts_dialled_twice": twice,
        "due_to_ringing_s" if ringing else "due_to_dialled_s": percentiles(seconds),
    }  # fmt: skip
    print(f"{diallers} dialler(s):", figures, flush=True)
    return figures


def one_trial(name: str, due: int, *, ringing=None) -> dict:
    """One campaign's ``due`` contacts falling due now; how long each took to be dialled (or,
    given ``ringing()``: the moments the phone received each number's INVITE, to ring)."""
    from campaigns.models import Attempt, Campaign

    campaign = a_campaign(name, due, status="draft", max_concurrent_calls=20, calls_per_minute=120)
    campaign.contacts.update(next_attempt_at=datetime.now().astimezone())
    due_at = time.time()
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.RUNNING)
    expected = min(due, campaign.max_concurrent_calls)
    deadline = time.monotonic() + 30
    made = Attempt.objects.filter(contact__campaign=campaign)
    while made.count() < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(2.5)  # a round more: nothing beyond the pacing, nobody twice
    if ringing is not None:
        numbers = set(campaign.contacts.values_list("phone", flat=True))
        deadline = time.monotonic() + 60
        while len(rung := {n: t for n, t in ringing().items() if n in numbers}) < len(numbers):
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        seconds = [at - due_at for at in rung.values()]
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.STOPPED)
    if ringing is None:
        created = asyncio.run(
            dispatch_times([a.call.room_name for a in made.select_related("call")])
        )
        seconds = [at - due_at for at in created.values()]
    return {
        "seconds": seconds,
        "attempts": made.count(),
        "twice": made.count() - made.values("contact").distinct().count(),
    }


def due_to_ringing(livekit_port: int, due: int, trials: int) -> dict:
    """Two diallers, the worker and livekit-sip dialling a SIPp phone that is always busy."""
    import tempfile
    from pathlib import Path

    from bench.llm_server import llm_server_process
    from telephony import provisioning
    from telephony.models import PhoneLine
    from tests.support.phone import BUSY, start_sipp_phone

    folder = Path(tempfile.mkdtemp(prefix="bench-ring-"))
    phone_port, sip_port, rtp_base = free_port(), free_port(), 31000
    processes = []
    with llm_server_process(0.0) as models_url:
        env = {**os.environ, "LIVEKIT_REDIS_URL": redis_url(3), "OPENAI_BASE_URL": models_url,
               "OPENAI_API_KEY": "bench", "LLM_MODEL": "scripted",
               "AGENT_MAX_CALLS": "100"}  # fmt: skip
        try:
            processes.append(subprocess.Popen(
                [sys.executable, "manage.py", "runsip", "--sip-port", str(sip_port),
                 "--rtp-ports", f"{rtp_base}-{rtp_base + 199}"],
                cwd=ROOT, env=env, stdout=(folder / "sip.log").open("wb"),
                stderr=subprocess.STDOUT,
            ))  # fmt: skip
            worker_log = folder / "worker.log"
            processes.append(subprocess.Popen(
                [sys.executable, "manage.py", "runagent", "start"], cwd=ROOT,
                env={**env, "LOG_LEVEL": "INFO"}, stdout=worker_log.open("wb"),
                stderr=subprocess.STDOUT,
            ))  # fmt: skip
            line = PhoneLine.objects.filter(number="+12125550100").first() or PhoneLine(
                number="+12125550100", name="Bench"
            )
            line.outbound_address = f"127.0.0.1:{phone_port}"
            line.allowed_addresses = "127.0.0.1"
            provisioning.provision(line)
            line.save()
            sipp, _port_file = start_sipp_phone(
                folder, BUSY, port=phone_port, talk_seconds=3600,
                calls=due * trials * 2, trace=True,
            )  # fmt: skip
            processes.append(sipp)
            deadline = time.monotonic() + 120
            while b"registered worker" not in worker_log.read_bytes():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the worker did not register; see {worker_log}")
                time.sleep(0.5)
            figures = due_to_dialled(2, due, trials, ringing=lambda: invites(folder))
        finally:
            stop(processes)
    return figures


def invites(folder) -> dict[str, float]:
    """When the phone received each number's first INVITE (epoch seconds), from SIPp's trace."""
    received: dict[str, float] = {}
    for trace in folder.glob("*_messages.log"):
        moment = None
        for line in trace.read_text(errors="replace").splitlines():
            if line.startswith("-----"):  # "----- 2026-12-04 12:43:16.978610", local time
                stamp = " ".join(line.strip("- ").split())
                moment = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp()
            elif line.startswith("INVITE sip:") and moment is not None:
                number = line.split("sip:", 1)[1].split("@", 1)[0]
                received.setdefault(number, moment)
    return received


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--due", type=int, default=20)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--ring", action="store_true", help="due to ringing, the whole way")
    parser.add_argument("--ring-due", type=int, default=4)
    args = parser.parse_args()
    livekit_port, udp_port = free_port(), free_port()
    ENV.update(  # setup_django puts ENV in the environment, the diallers' too
        {"LIVEKIT_URL": f"ws://127.0.0.1:{livekit_port}", "LIVEKIT_API_KEY": KEY,
         "LIVEKIT_API_SECRET": SECRET, "LIVEKIT_AGENT_NAME": "bench-dialler-nobody"}
    )  # fmt: skip
    setup_django()
    from campaigns.models import Campaign

    Campaign.objects.filter(name__startswith="Bench").delete()
    redis = {"LIVEKIT_REDIS_URL": redis_url(3)} if args.ring else {}  # SIP meets it there
    livekit = subprocess.Popen(
        [sys.executable, "manage.py", "runlivekit", "--port", str(livekit_port),
         "--udp-port", str(udp_port)],
        cwd=ROOT, env={**os.environ, **redis}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(livekit_port)
        if args.ring:
            figures = {"ringing": due_to_ringing(livekit_port, args.ring_due, args.trials)}
            return report("dialler_ringing", figures)
        figures = {"overhead": overhead_per_contact(args.contacts)}
        one = due_to_dialled(1, args.due, args.trials)
        two = due_to_dialled(2, args.due, args.trials)
        figures |= {"one_dialler": one, "two_diallers": two}
        p95_one, p95_two = one["due_to_dialled_s"]["p95"], two["due_to_dialled_s"]["p95"]
        if p95_one and p95_two:
            figures["due_to_dialled_p95_two_over_one"] = round(p95_two / p95_one, 2)
    finally:
        stop([livekit])
        Campaign.objects.filter(name__startswith="Bench").delete()
        end_live_calls()
    report("dialler", figures)


if __name__ == "__main__":
    main()
