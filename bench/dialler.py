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
   LiveKit created the contact's dispatch (its own timestamp): the phone rings once a worker
   takes the job and its SIP bridge dials, which this does not include.

    .venv/bin/python -m bench.dialler --contacts 10000 --due 20 --trials 10
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
            Contact(campaign=campaign, name=f"Customer {n}", phone=f"+1{2000000000 + n}",
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


def due_to_dialled(diallers: int, due: int, trials: int) -> dict:
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
            found = one_trial(f"Bench due, {diallers} diallers, {trial}", due)
            seconds += found["seconds"]
            dialled += len(found["seconds"])
            attempts += found["attempts"]
            twice += found["twice"]
    finally:
        stop(processes)
    figures = {
        "diallers": diallers, "due_per_trial": due, "trials": trials, "dialled": dialled,
        "attempts": attempts, "contacts_dialled_twice": twice,
        "due_to_dialled_s": percentiles(seconds),
    }  # fmt: skip
    print(f"{diallers} dialler(s):", figures, flush=True)
    return figures


def one_trial(name: str, due: int) -> dict:
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
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.STOPPED)
    created = asyncio.run(dispatch_times([a.call.room_name for a in made.select_related("call")]))
    return {
        "seconds": [at - due_at for at in created.values()],
        "attempts": made.count(),
        "twice": made.count() - made.values("contact").distinct().count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--due", type=int, default=20)
    parser.add_argument("--trials", type=int, default=10)
    args = parser.parse_args()
    livekit_port, udp_port = free_port(), free_port()
    ENV.update(  # setup_django puts ENV in the environment, the diallers' too
        {"LIVEKIT_URL": f"ws://127.0.0.1:{livekit_port}", "LIVEKIT_API_KEY": KEY,
         "LIVEKIT_API_SECRET": SECRET, "LIVEKIT_AGENT_NAME": "bench-dialler-nobody"}
    )  # fmt: skip
    setup_django()
    from campaigns.models import Campaign

    Campaign.objects.filter(name__startswith="Bench").delete()
    livekit = subprocess.Popen(
        [sys.executable, "manage.py", "runlivekit", "--port", str(livekit_port),
         "--udp-port", str(udp_port)],
        cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(livekit_port)
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
