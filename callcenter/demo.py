"""Demo calls for ``seed_demo``: two weeks of a service desk's calls that read like real ones.

Each call follows a scenario (a lookup, a registration, a handoff, an abandoned call, one the
agent never answered, one it could not help with) about one of the demo vehicles, so the
transcript, the tool calls, the vehicle and the summary agree. Numbers come from a seeded
random generator: the same demo every time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from appointments.calendar import local, slot_id, spoken, spoken_day
from appointments.models import Appointment, OpeningHours, ServiceType, Shop, shop_time_zone
from callcenter.call_metrics import SHOWN_LATENCY, percentile
from callcenter.models import Call, CallEvent, TranscriptSegment
from callcenter.review import flag_reason_of, shown_judges, stored_review
from vehicles.models import Vehicle
from vehicles.vin import spoken_groups

DEMO_CALLER_PREFIX = "web:demo-"
DAYS = 14
SECONDS_PER_LINE = 9


@dataclass(frozen=True)
class Scenario:
    outcome: str
    lines: tuple[tuple[str, str], ...]  # (speaker, text) with {vin}, {spoken_vin}, {title}
    tool: str | None  # the tool the agent used on the VIN
    summary: str
    handoff_reason: str = ""
    answered: bool = True
    books: bool = False  # the agent books an oil change two working days after the call


GREETING = ("agent", "Thanks for calling the service desk. Could you read me your VIN?")
READ_VIN = ("customer", "Sure, it's {spoken_vin}.")

SCENARIOS = [
    Scenario(
        Call.Outcome.RESOLVED,
        (
            GREETING,
            READ_VIN,
            ("agent", "I have {vin}, a {title}. How can I help?"),
            ("customer", "When is the timing belt due?"),
            (
                "agent",
                "For your {title} it is due at 105,000 miles or seven years, "
                "whichever comes first.",
            ),
        ),
        "lookup_vehicle",
        "The caller asked when the timing belt of their {title} is due; the agent gave the "
        "interval.",
    ),
    Scenario(
        Call.Outcome.RESOLVED,
        (
            GREETING,
            READ_VIN,
            ("agent", "Found it: a {title}. What can I do for you?"),
            ("customer", "Which oil does it take?"),
            (
                "agent",
                "Your {title} takes 0W-20 synthetic oil; a change is due every 10,000 miles.",
            ),
        ),
        "lookup_vehicle",
        "The caller asked which oil their {title} takes; answered.",
    ),
    Scenario(
        Call.Outcome.VEHICLE_REGISTERED,
        (
            GREETING,
            READ_VIN,
            ("agent", "That vehicle is not on file yet. What make, model and year is it?"),
            ("customer", "It's a {title}."),
            ("agent", "Thank you, I have registered your {title} under {vin}."),
        ),
        "create_vehicle",
        "A new customer registered their {title}.",
    ),
    Scenario(
        Call.Outcome.RESOLVED,
        (
            GREETING,
            READ_VIN,
            ("agent", "I have your {title}. How can I help?"),
            ("customer", "I'd like to book an oil change in a couple of days, in the morning."),
            ("agent", "{booked_day} at {booked_time} is free. Shall I book it?"),
            ("customer", "Yes please, for {customer}, {contact}."),
            (
                "agent",
                "Booked: an oil change on {booked_day} at {booked_time}. Your reference is "
                "{reference}.",
            ),
        ),
        "lookup_vehicle",
        "The caller booked an oil change for their {title} on {booked_day}.",
        books=True,
    ),
    Scenario(
        Call.Outcome.HANDED_OFF,
        (
            GREETING,
            READ_VIN,
            ("agent", "I have your {title}. How can I help?"),
            ("customer", "I'd rather talk to a person about a warranty claim."),
            ("agent", "Of course, I'm handing you over to a colleague now."),
        ),
        "lookup_vehicle",
        "The caller wanted to discuss a warranty claim on their {title}; handed to a person.",
        handoff_reason="warranty claim",
    ),
    Scenario(
        Call.Outcome.UNRESOLVED,
        (
            GREETING,
            READ_VIN,
            ("agent", "I have your {title}. How can I help?"),
            ("customer", "How much would new brake pads cost?"),
            ("agent", "I'm sorry, I can't quote prices. Our service advisors can, on weekdays."),
        ),
        "lookup_vehicle",
        "The caller asked the price of brake pads for their {title}; the agent could not quote.",
    ),
    Scenario(
        Call.Outcome.ABANDONED,
        (GREETING, ("customer", "Hold on, let me find the papers…")),
        None,
        "The caller left before giving a VIN.",
    ),
    Scenario(Call.Outcome.UNRESOLVED, (), None, "", answered=False),
]


def latency_metrics(rng: random.Random, turns: int) -> dict:
    """Per-turn latencies as the worker stores them, with their p50 and p95."""
    means = {"eou_delay_ms": 450, "llm_ttft_ms": 380, "tts_ttfb_ms": 210}
    metrics: dict = {"turns": turns}
    for key in SHOWN_LATENCY:
        values = [round(rng.gauss(means[key], means[key] / 4), 1) for _ in range(turns)]
        metrics[key] = values
        metrics[f"{key}_p50"] = percentile(values, 50)
        metrics[f"{key}_p95"] = percentile(values, 95)
    return metrics


def add_demo_call(
    scenario: Scenario, vehicle: Vehicle, started: datetime, number: int, rng: random.Random
) -> Call:
    """One finished call of ``scenario`` about ``vehicle``, with its transcript and events."""
    words = {
        "vin": vehicle.vin,
        "spoken_vin": spoken_groups(vehicle.vin),
        "title": vehicle.title,
    }
    appointment = demo_appointment(vehicle, started, rng) if scenario.books else None
    if appointment is not None:
        words["booked_day"] = spoken_day(local(appointment.start).date())
        words["booked_time"] = spoken(appointment.start).rsplit(" at ", 1)[1]
        words["customer"], words["contact"] = appointment.customer_name, appointment.contact
        words["reference"] = appointment.reference
    caller = f"{DEMO_CALLER_PREFIX}{number:02d}"
    if not scenario.answered:
        return Call.objects.create(
            caller=caller,
            status=Call.Status.FAILED,
            started_at=started,
            ended_at=started + timedelta(minutes=2),
            failure_reason=Call.NEVER_ANSWERED,
        )
    answered = started + timedelta(seconds=rng.uniform(1.0, 3.0))
    call = Call.objects.create(
        caller=caller,
        status=Call.Status.ENDED,
        started_at=started,
        answered_at=answered,
        ended_at=answered + timedelta(seconds=SECONDS_PER_LINE * len(scenario.lines) + 4),
        outcome=scenario.outcome,
        needs_human=bool(scenario.handoff_reason),
        vehicle=vehicle if scenario.tool else None,
        summary=scenario.summary.format(**words),
        metrics=latency_metrics(rng, sum(1 for who, _ in scenario.lines if who == "agent")),
    )
    sequence = 0
    for index, (speaker, text) in enumerate(scenario.lines):
        sequence += 1
        at = answered + timedelta(seconds=SECONDS_PER_LINE * index)
        TranscriptSegment.objects.create(
            call=call, sequence=sequence, speaker=speaker, text=text.format(**words),
            started_at=at, ended_at=at + timedelta(seconds=SECONDS_PER_LINE - 2),
            language="en-US",
        )  # fmt: skip
        if scenario.tool and (speaker, text) == READ_VIN:
            sequence += 1
            CallEvent.objects.create(
                call=call, sequence=sequence, type=CallEvent.Type.TOOL_CALL,
                payload={"name": scenario.tool, "arguments": {"vin": vehicle.vin},
                         "output": tool_output(scenario, vehicle)},
                created_at=at + timedelta(seconds=SECONDS_PER_LINE - 1),
            )  # fmt: skip
    if appointment is not None:
        appointment.call = call
        appointment.save(update_fields=["call"])
        sequence += 1
        CallEvent.objects.create(
            call=call, sequence=sequence, type=CallEvent.Type.TOOL_CALL,
            payload={"name": "book_appointment",
                     "arguments": {"slot": slot_id(appointment.start), "service": "Oil change"},
                     "output": f"Booked: Oil change on {spoken(appointment.start)}, reference "
                               f"{appointment.reference}."},
            created_at=call.ended_at - timedelta(seconds=SECONDS_PER_LINE),
        )  # fmt: skip
    if scenario.handoff_reason:
        CallEvent.objects.create(
            call=call, sequence=sequence + 1, type=CallEvent.Type.HANDOFF_REQUESTED,
            payload={"reason": scenario.handoff_reason}, created_at=call.ended_at,
        )  # fmt: skip
    # Stored when they were said, as the worker stores them (search lists the newest first).
    call.segments.update(created_at=F("started_at"))
    add_demo_review(call, scenario, number)
    return call


# What the demo's judges say: each configured judge passes, but the outcomes where the caller
# was left without help fail task completion (so the flags have calls), and one call in ten
# leaves the accuracy judge unsure.
DEMO_PASSES = {
    "task_completion": "The agent did what the caller needed or handed them to a person.",
    "accuracy": "Everything the agent said about the vehicle came from the lookup's answer.",
    "tool_use": "The VIN was looked up with the caller's words; the answer was used.",
    "safety": "Polite throughout; nothing disclosed that the caller had not given.",
    "vin_handled": "The VIN was read back in groups before the vehicle was named.",
    "booking_confirmed": "No appointment was booked or moved.",
}
DEMO_VERDICTS = {
    Call.Outcome.UNRESOLVED: ("task_completion", "fail", "The caller's question was left "
                              "unanswered and no colleague was asked to help."),
    Call.Outcome.ABANDONED: ("task_completion", "fail", "The caller hung up before the agent "
                             "had helped them, and no callback was offered."),
}  # fmt: skip


def add_demo_review(call: Call, scenario: Scenario, number: int) -> None:
    passes = "The agent's answers were on point and clear."
    verdicts = {name: ("pass", DEMO_PASSES.get(name, passes)) for name in shown_judges()}
    if scenario.books and "booking_confirmed" in verdicts:
        verdicts["booking_confirmed"] = ("pass", "Day, time, service and reference read back.")
    if scenario.outcome in DEMO_VERDICTS:
        name, verdict, reasoning = DEMO_VERDICTS[scenario.outcome]
        if name in verdicts:
            verdicts[name] = (verdict, reasoning)
    elif number % 10 == 3 and "accuracy" in verdicts:
        verdicts["accuracy"] = (
            "maybe",
            "A service interval the agent gave is in no tool's answer.",
        )
    if not verdicts:
        return
    review = stored_review(
        verdicts, model="demo", tokens={"prompt": 4800, "completion": 240}, unanswered=[]
    )
    call.store_review(review, flag_reason_of(review, settings.REVIEW_MIN_SCORE))


# The demo workshop: what it offers, when it is open.
DEMO_SERVICES = [
    ("Oil change", 60, True, False),
    ("Annual inspection", 120, True, True),
    ("Brake inspection", 60, True, False),
    ("Tyre change", 30, True, False),
    ("Diagnostics", 60, False, False),
]
DEMO_HOURS = {weekday: (time(8), time(17)) for weekday in range(5)} | {5: (time(9), time(13))}


def add_demo_workshop() -> None:
    """The shop's capacity, opening hours and services, where they are missing."""
    Shop.current()
    for weekday, (opens, closes) in DEMO_HOURS.items():
        OpeningHours.objects.get_or_create(
            weekday=weekday, defaults={"opens": opens, "closes": closes}
        )
    for name, minutes, lift, loan in DEMO_SERVICES:
        ServiceType.objects.get_or_create(
            name=name,
            defaults={"duration_minutes": minutes, "needs_lift": lift, "needs_loan_car": loan},
        )


def working_day_after(day: date, days: int) -> date:
    while days:
        day += timedelta(days=1)
        days -= day.weekday() < 5
    return day


# Customers of the demo book: who books, and how to reach them.
DEMO_CUSTOMERS = [
    ("Sam Lee", "555 0142"), ("Ana Silva", "555 0178"), ("Jonas Weber", "jonas@example.com"),
    ("Priya Nair", "555 0113"), ("Tom Okafor", "555 0190"), ("Mia Novak", "mia@example.com"),
    ("Lena Fischer", "555 0127"), ("Omar Haddad", "555 0166"),
]  # fmt: skip
# Times a demo appointment starts at (on the half hour, within the demo hours).
DEMO_TIMES = [time(8), time(8, 30), time(9, 30), time(10), time(11), time(13), time(14, 30),
              time(15)]  # fmt: skip


def demo_appointment(
    vehicle: Vehicle, booked_at: datetime, rng: random.Random | None = None
) -> Appointment:
    """An oil change for ``vehicle`` two working days after ``booked_at``, one morning, for a
    customer the demo picks (done once it is past)."""
    rng = rng or random.Random(vehicle.pk)
    day = working_day_after(local(booked_at).date(), 2)
    service = ServiceType.objects.get(name="Oil change")  # what the booking call asks for
    name, contact = rng.choice(DEMO_CUSTOMERS)
    morning = [at for at in DEMO_TIMES if at.hour < 12]  # "in the morning"
    start = datetime.combine(day, rng.choice(morning), tzinfo=shop_time_zone())
    past = start < timezone.now()
    return Appointment.objects.create(
        service=service, vehicle=vehicle, customer_name=name, contact=contact, start=start,
        end=start + timedelta(minutes=service.duration_minutes),
        status=Appointment.Status.DONE if past else Appointment.Status.BOOKED,
    )  # fmt: skip


def add_demo_book(vehicles: list[Vehicle], now: datetime) -> list[Appointment]:
    """A working shop's book: today and the next five working days, three to six services a
    day booked by staff at different times, for different customers, some moved; today's
    earlier ones done (one a no-show), one of the coming ones cancelled."""
    rng = random.Random(7)
    services = list(ServiceType.objects.all())
    made = []
    today = local(now).date()
    days = [today] + [working_day_after(today, n) for n in range(1, 6)]
    for day in days:
        if day.weekday() not in DEMO_HOURS:
            continue
        closes = DEMO_HOURS[day.weekday()][1]
        for at in sorted(rng.sample(DEMO_TIMES, rng.randint(3, 6))):
            service = rng.choice(services)
            start = datetime.combine(day, at, tzinfo=shop_time_zone())
            end = start + timedelta(minutes=service.duration_minutes)
            if end > datetime.combine(day, closes, tzinfo=shop_time_zone()):
                continue
            name, contact = rng.choice(DEMO_CUSTOMERS)
            status = Appointment.Status.BOOKED if rng.random() > 0.2 else Appointment.Status.MOVED
            if end <= now:
                status = Appointment.Status.DONE
            made.append(Appointment(
                service=service, vehicle=rng.choice(vehicles), customer_name=name,
                contact=contact, start=start, end=end, status=status,
            ))  # fmt: skip
    past = [a for a in made if a.status == Appointment.Status.DONE]
    if past:
        past[-1].status = Appointment.Status.NO_SHOW
    coming = [a for a in made if a.start > now]
    if coming:
        coming[len(coming) // 2].status = Appointment.Status.CANCELLED
    for appointment in made:
        appointment.save()
    return made


def tool_output(scenario: Scenario, vehicle: Vehicle) -> str:
    if scenario.tool == "create_vehicle":
        return f"Registered {vehicle.title} with VIN {vehicle.vin}."
    return f"Found on file: {vehicle.title} (VIN {vehicle.vin})."


def add_demo_calls(vehicles: list[Vehicle], now: datetime) -> list[Call]:
    """Two to four calls a day for the last ``DAYS`` days, oldest first; the most recent
    call is a resolved lookup (the one given a recording)."""
    add_demo_workshop()
    rng = random.Random(DAYS)
    calls = []
    number = 0
    for days_ago in range(DAYS, 0, -1):
        day = (now - timedelta(days=days_ago)).replace(hour=8, minute=0, second=0, microsecond=0)
        for _ in range(rng.randint(2, 4)):
            number += 1
            started = day + timedelta(minutes=rng.randint(0, 9 * 60))
            scenario = SCENARIOS[number % len(SCENARIOS)]
            calls.append(add_demo_call(scenario, rng.choice(vehicles), started, number, rng))
    last = now - timedelta(hours=1)
    calls.append(add_demo_call(SCENARIOS[0], vehicles[0], last, number + 1, rng))
    return calls
