"""find_appointment_slots with a year of bookings: a 10-bay shop (10 technicians, 3 loan
cars, open Monday to Saturday) booked to about --occupancy of its capacity from six months
back to six months ahead, on PostgreSQL. Measures the agent tool's whole answer (the caller's
words parsed, the book read, the slots found and said) and the slot search alone, for days
with room and for a fully booked fortnight (the search then walks on to find a free day).

    .venv/bin/python -m bench.appointment_slots --trials 300
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import datetime, timedelta
from datetime import time as clock

from bench.common import percentiles, report, setup_django

PHRASES = ["next Tuesday morning", "the day after tomorrow", "tomorrow afternoon", "next Friday"]


def fill_the_book(occupancy: float, rng: random.Random) -> int:
    from appointments.calendar import today
    from appointments.models import (
        Appointment,
        ClosedDay,
        OpeningHours,
        ServiceType,
        Shop,
        new_reference,
        shop_time_zone,
    )

    Appointment.objects.all().delete()
    ClosedDay.objects.all().delete()
    OpeningHours.objects.all().delete()
    ServiceType.objects.all().delete()
    Shop.objects.all().delete()
    Shop.objects.create(
        pk=1, bays=10, technicians=10, loan_cars=3, slot_minutes=30, booking_days_ahead=200
    )
    for weekday in range(6):
        OpeningHours.objects.create(weekday=weekday, opens=clock(8), closes=clock(18))
    services = [
        ServiceType.objects.create(name="Oil change", duration_minutes=60),
        ServiceType.objects.create(name="Brake inspection", duration_minutes=90),
        ServiceType.objects.create(name="Tyre change", duration_minutes=30),
        ServiceType.objects.create(name="Annual inspection", duration_minutes=120),
    ]
    zone = shop_time_zone()
    first = today() - timedelta(days=182)
    rows, references = [], set()
    for offset in range(365):
        day = first + timedelta(days=offset)
        if day.weekday() == 6:
            continue
        for _bay in range(10):
            at = datetime.combine(day, clock(8), tzinfo=zone)
            close = datetime.combine(day, clock(18), tzinfo=zone)
            while True:
                service = rng.choice(services)
                end = at + timedelta(minutes=service.duration_minutes)
                if end > close:
                    break
                if rng.random() < occupancy:
                    reference = new_reference()
                    while reference in references:
                        reference = new_reference()
                    references.add(reference)
                    rows.append(
                        Appointment(
                            reference=reference, service=service, start=at, end=end,
                            customer_name="Bench", contact="555",
                        )
                    )  # fmt: skip
                at = end
    Appointment.objects.bulk_create(rows, batch_size=5000)
    return len(rows)


def full_fortnight() -> None:
    """Every place of the next two weeks taken: ten all-day jobs a day on top of the book (the
    search must read and walk past them all)."""
    from appointments.calendar import today
    from appointments.models import Appointment, ServiceType, new_reference, shop_time_zone

    all_day = ServiceType.objects.create(name="Bench all-day job", duration_minutes=600)
    zone = shop_time_zone()
    Appointment.objects.bulk_create(
        Appointment(
            reference=new_reference(), service=all_day, customer_name="Bench", contact="555",
            start=datetime.combine(today() + timedelta(days=offset), clock(8), tzinfo=zone),
            end=datetime.combine(today() + timedelta(days=offset), clock(18), tzinfo=zone),
        )
        for offset in range(0, 15)
        for _bay in range(10)
    )  # fmt: skip


def timed(function, *args) -> float:
    started = time.perf_counter()
    function(*args)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--occupancy", type=float, default=0.8)
    options = parser.parse_args()
    setup_django()
    from agentworker.appointment_tools import offer_slots
    from appointments import booking
    from appointments.calendar import When, today
    from appointments.models import ServiceType

    rng = random.Random(7)
    booked = fill_the_book(options.occupancy, rng)
    oil = ServiceType.objects.get(name="Oil change")
    for _ in range(20):  # warm the connection and the plans
        offer_slots("oil change", rng.choice(PHRASES), "")
    tool = [
        timed(offer_slots, "oil change", rng.choice(PHRASES), "") for _ in range(options.trials)
    ]
    search = [
        timed(booking.find_slots, oil, When(day=today() + timedelta(days=rng.randint(1, 90))))
        for _ in range(options.trials)
    ]
    full_fortnight()
    walking = [
        timed(booking.find_slots, oil, When(day=today() + timedelta(days=1)))
        for _ in range(options.trials)
    ]
    figures = {
        "appointments_in_the_book": booked,
        "occupancy": options.occupancy,
        "tool_answer_ms": percentiles(tool),
        "slot_search_ms": percentiles(search),
        "slot_search_after_a_full_fortnight_ms": percentiles(walking),
    }
    report("appointment_slots", figures)


if __name__ == "__main__":
    main()
