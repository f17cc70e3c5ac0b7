"""The appointment book's rules: free slots in the shop's time zone, capacity (technicians,
bays, loan cars), closed and past days, moves and cancellations, two calls racing for the last
place, and the daylight-saving change."""

import threading
import time as time_module
from datetime import date, time, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from appointments import booking
from appointments.calendar import UnclearDate, resolve_when, spoken, today
from appointments.models import Appointment, ClosedDay, ServiceType
from tests.support.workshop import BERLIN, at, next_weekday, open_workshop


@pytest.fixture
def workshop(db, settings):
    """Monday to Friday 8:00-17:00 in Berlin; 2 technicians, 2 bays, 1 loan car."""
    shop = open_workshop(settings, bays=2, technicians=2, loan_cars=1)
    return SimpleNamespace(
        shop=shop,
        oil=ServiceType.objects.create(name="Oil change", duration_minutes=60),
        inspection=ServiceType.objects.create(
            name="Annual inspection", duration_minutes=120, needs_loan_car=True
        ),
        diagnostics=ServiceType.objects.create(
            name="Diagnostics", duration_minutes=60, needs_lift=False
        ),
        tuesday=next_weekday(1),
    )


def book(service, start, name="Ana Silva"):
    return booking.book(service, start, customer_name=name, contact="555 0100")


def test_free_slots_are_local_times_said_in_words_and_stored_in_utc(workshop):
    morning = resolve_when("next Tuesday morning")
    assert (morning.day, morning.earliest, morning.latest) == (workshop.tuesday, time(0), time(12))
    found, problem = booking.find_slots(workshop.oil, morning)
    assert problem is None
    assert found == [at(workshop.tuesday, 8), at(workshop.tuesday, 8, 30), at(workshop.tuesday, 9)]
    appointment = book(workshop.oil, found[0])
    appointment.refresh_from_db()
    assert appointment.start == at(workshop.tuesday, 8)
    assert appointment.start.utcoffset() == timedelta(0)  # stored and read back in UTC
    assert appointment.end - appointment.start == timedelta(hours=1)
    words = spoken(appointment.start)
    assert words.startswith(f"Tuesday the {workshop.tuesday.day}")
    assert words.endswith(" at 8 am")


def test_a_full_slot_is_refused_and_the_next_free_starts_offered(workshop):
    book(workshop.oil, at(workshop.tuesday, 8))
    book(workshop.oil, at(workshop.tuesday, 8), name="Ben Ode")
    with pytest.raises(booking.BookingRefused, match="has just been taken") as refused:
        book(workshop.oil, at(workshop.tuesday, 8, 30), name="Cy Ng")
    # Both technicians work until 9:00: the next start is 9:00, then every half hour.
    assert refused.value.alternatives[:2] == [at(workshop.tuesday, 9), at(workshop.tuesday, 9, 30)]
    assert Appointment.objects.count() == 2


def test_loan_cars_and_bays_limit_only_the_services_that_need_them(workshop):
    book(workshop.inspection, at(workshop.tuesday, 8))
    with pytest.raises(booking.BookingRefused):  # the one loan car is out until 10:00
        book(workshop.inspection, at(workshop.tuesday, 9), name="Ben Ode")
    book(workshop.oil, at(workshop.tuesday, 8), name="Ben Ode")  # second bay, second technician
    with pytest.raises(booking.BookingRefused):  # no technician left at 8:00
        book(workshop.diagnostics, at(workshop.tuesday, 8), name="Cy Ng")
    workshop.shop.technicians = 3
    workshop.shop.save()
    book(workshop.diagnostics, at(workshop.tuesday, 8), name="Cy Ng")  # needs no bay
    with pytest.raises(booking.BookingRefused):  # both bays taken
        book(workshop.oil, at(workshop.tuesday, 8), name="Di Fox")


@pytest.mark.parametrize(
    ("when", "reason"),
    [
        (lambda w: at(today() - timedelta(days=1), 9), "is in the past"),
        (lambda w: at(next_weekday(5), 9), "closed on Saturdays"),
        (lambda w: at(w.tuesday, 8, 10), "is not a start for Oil change"),
        (lambda w: at(w.tuesday, 16, 30), "end by 17:00"),
        (lambda w: at(w.tuesday + timedelta(days=7), 9), "closed on Tuesday"),
    ],
)
def test_impossible_times_are_refused_with_the_reason_and_nothing_is_stored(workshop, when, reason):
    ClosedDay.objects.create(date=workshop.tuesday + timedelta(days=7), reason="staff training")
    with pytest.raises(booking.BookingRefused, match=reason):
        book(workshop.oil, when(workshop))
    assert not Appointment.objects.exists()


def test_a_closed_day_is_said_and_the_next_open_days_slots_offered(workshop):
    ClosedDay.objects.create(date=workshop.tuesday, reason="staff training")
    found, problem = booking.find_slots(workshop.oil, resolve_when("next Tuesday"))
    assert "closed on Tuesday" in problem and "(staff training)" in problem
    assert found[0] == at(workshop.tuesday + timedelta(days=1), 8)
    past, problem = booking.find_slots(workshop.oil, resolve_when("yesterday"))
    assert past == [] and "is in the past" in problem


def test_moving_frees_the_old_place_and_cancelling_frees_it_at_once(workshop):
    workshop.shop.technicians = 1
    workshop.shop.save()
    first = book(workshop.oil, at(workshop.tuesday, 8))
    moved = booking.move(first, at(workshop.tuesday, 10))
    assert (moved.status, moved.start) == (Appointment.Status.MOVED, at(workshop.tuesday, 10))
    book(workshop.oil, at(workshop.tuesday, 8), name="Ben Ode")  # the old place is free
    with pytest.raises(booking.BookingRefused):
        book(workshop.oil, at(workshop.tuesday, 10), name="Cy Ng")
    read_out = booking.reference_code(" ".join(first.reference.lower()))  # "k 7 m 4 r 9"
    booking.cancel(Appointment.objects.get(reference=read_out))
    book(workshop.oil, at(workshop.tuesday, 10), name="Cy Ng")
    with pytest.raises(booking.BookingRefused, match="already cancelled"):
        booking.cancel(first)
    with pytest.raises(booking.BookingRefused, match="cannot be moved"):
        booking.move(first, at(workshop.tuesday, 14))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_calls_racing_for_the_last_place_exactly_one_wins(workshop):
    workshop.shop.technicians = 1
    workshop.shop.save()
    start = at(workshop.tuesday, 8)
    line_up = threading.Barrier(2)
    results = []

    def slow_after_reading_the_book(execute, sql, params, many, context):
        # Each caller dwells after reading the book, as a busy server would: without the
        # lock both would read "free" and both insert.
        result = execute(sql, params, many, context)
        if sql.startswith("SELECT") and '"appointments_appointment"' in sql:
            time_module.sleep(0.3)
        return result

    def caller(name):
        from django.db import connection, connections

        line_up.wait()
        try:
            with connection.execute_wrapper(slow_after_reading_the_book):
                results.append(book(workshop.oil, start, name=name))
        except booking.BookingRefused as error:
            results.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=caller, args=(name,)) for name in ("Ana", "Ben")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    won = [r for r in results if isinstance(r, Appointment)]
    lost = [r for r in results if isinstance(r, booking.BookingRefused)]
    assert len(won) == 1 and len(lost) == 1
    assert Appointment.objects.filter(start=start).count() == 1
    assert lost[0].alternatives[0] == at(workshop.tuesday, 9)  # offered the next slot


def last_sunday_of_march_ahead() -> date:
    year = today().year + 1
    day = date(year, 3, 31)
    while day.weekday() != 6:
        day -= timedelta(days=1)
    return day


def test_opening_hours_stay_local_across_the_daylight_saving_change(workshop):
    change = last_sunday_of_march_ahead()  # 02:00 CET becomes 03:00 CEST
    friday, monday = change - timedelta(days=2), change + timedelta(days=1)
    before, _ = booking.find_slots(workshop.oil, resolve_when(friday.isoformat()))
    after, _ = booking.find_slots(workshop.oil, resolve_when(monday.isoformat()))
    utc = ZoneInfo("UTC")
    assert (before[0].astimezone(utc).hour, after[0].astimezone(utc).hour) == (7, 6)
    assert spoken(before[0]).endswith("at 8 am") and spoken(after[0]).endswith("at 8 am")
    stored = book(workshop.oil, after[0])
    stored.refresh_from_db()
    assert stored.start.astimezone(BERLIN).time() == time(8)


def test_what_callers_say_about_days_is_read_against_the_shops_calendar(workshop):
    assert resolve_when("the day after tomorrow").day == today() + timedelta(days=2)
    afternoon = resolve_when("tomorrow afternoon")
    assert (afternoon.day, afternoon.earliest) == (today() + timedelta(days=1), time(12))
    assert resolve_when("next Tuesday at 2 pm").earliest == time(14)
    with pytest.raises(UnclearDate, match="not a date I can read"):
        resolve_when("whenever the moon is full")
