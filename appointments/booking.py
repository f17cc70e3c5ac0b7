"""Finding free slots and booking, moving and cancelling appointments: the one place the
agent's tools, the API and the admin change the book through.

Capacity: at every moment an appointment takes one technician, one bay when its service needs
a lift, and one loan car when it needs one. A change locks the shop's row first
(``SELECT … FOR UPDATE``), so two calls can never both take the last place in a slot: the
second waits, then sees the first one's booking and is offered the next slots.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Value
from django.db.models.functions import Lower, Replace
from django.utils import timezone

from appointments.calendar import When, local, spoken, spoken_day
from appointments.models import (
    Appointment,
    ClosedDay,
    OpeningHours,
    ServiceType,
    Shop,
    shop_time_zone,
)

OPTIONS_OFFERED = 3
# How many days past the asked one the search looks for free slots. It reads the book for
# the first DAYS_READ_FIRST days, where most searches end, then for the rest in one query.
SEARCH_DAYS = 14
DAYS_READ_FIRST = 2


class BookingRefused(ValueError):
    """The book cannot take this change; the message is a sentence for the caller's agent (or
    the API's client), and ``alternatives`` the nearest free starts, when there are any."""

    def __init__(self, message: str, alternatives: list[datetime] | None = None) -> None:
        super().__init__(message)
        self.alternatives = alternatives or []


@dataclass(frozen=True)
class Need:
    """What one appointment of a service takes while it runs."""

    lift: bool
    loan_car: bool

    @classmethod
    def of(cls, service: ServiceType) -> Need:
        return cls(lift=service.needs_lift, loan_car=service.needs_loan_car)


class Occupancy:
    """How many technicians, bays and loan cars the held appointments take in each slot of a
    window (slots are ``shop.slot_minutes`` from midnight UTC, which every opening time the
    admin allows falls on for 15, 30 and 60 minutes)."""

    def __init__(self, shop: Shop, held: Iterable[tuple[datetime, datetime, bool, bool]]):
        self.shop = shop
        self.step = timedelta(minutes=shop.slot_minutes)
        self.technicians: Counter[datetime] = Counter()
        self.bays: Counter[datetime] = Counter()
        self.loan_cars: Counter[datetime] = Counter()
        for start, end, lift, loan in held:
            for slot in self.slots(start, end):
                self.technicians[slot] += 1
                if lift:
                    self.bays[slot] += 1
                if loan:
                    self.loan_cars[slot] += 1

    def slots(self, start: datetime, end: datetime) -> Iterator[datetime]:
        minutes = self.shop.slot_minutes
        first = start.replace(minute=start.minute - start.minute % minutes, second=0, microsecond=0)
        slot = first
        while slot < end:
            yield slot
            slot += self.step

    def fits(self, start: datetime, end: datetime, need: Need) -> bool:
        shop = self.shop
        return all(
            self.technicians[slot] < shop.technicians
            and (not need.lift or self.bays[slot] < shop.bays)
            and (not need.loan_car or self.loan_cars[slot] < shop.loan_cars)
            for slot in self.slots(start, end)
        )


def occupancy(shop: Shop, start: datetime, end: datetime, *, excluding=None) -> Occupancy:
    held = Appointment.objects.active().overlapping(start, end)
    if excluding is not None:
        held = held.exclude(pk=excluding.pk)
    rows = held.values_list("start", "end", "service__needs_lift", "service__needs_loan_car")
    return Occupancy(shop, rows)


def opening_hours() -> dict[int, tuple[time, time]]:
    return {row.weekday: (row.opens, row.closes) for row in OpeningHours.objects.all()}


def booking_horizon(shop: Shop) -> date:
    """The last day callers may book."""
    today = timezone.localtime(timezone.now(), shop_time_zone()).date()
    return today + timedelta(days=shop.booking_days_ahead)


def day_problem(day: date, shop: Shop, hours: dict, closed: dict[date, str]) -> str | None:
    """Why nothing can be booked on ``day``, or None."""
    today = timezone.localtime(timezone.now(), shop_time_zone()).date()
    if day < today:
        return f"{day:%A, %B} {day.day} is in the past."
    if day > (horizon := booking_horizon(shop)):
        return (
            f"Bookings open {shop.booking_days_ahead} days ahead, up to {horizon:%B} "
            f"{horizon.day}, {horizon.year}; {day:%B} {day.day}, {day.year} is later."
        )
    if day in closed:
        reason = f" ({closed[day]})" if closed[day] else ""
        return f"The workshop is closed on {day:%A, %B} {day.day}{reason}."
    if day.weekday() not in hours:
        return f"The workshop is closed on {day:%A}s."
    return None


def candidate_starts(
    day: date, service: ServiceType, shop: Shop, hours: dict, not_before: datetime
) -> Iterator[datetime]:
    """Every start on ``day`` at which ``service`` fits in the opening hours, in order."""
    opens, closes = hours[day.weekday()]
    zone = shop_time_zone()
    start = datetime.combine(day, opens, tzinfo=zone)
    close = datetime.combine(day, closes, tzinfo=zone)
    length = timedelta(minutes=service.duration_minutes)
    step = timedelta(minutes=shop.slot_minutes)
    while start + length <= close:  # wall-clock steps: 8:00, 8:30… on a DST day too
        if start >= not_before:
            yield start
        start += step


def find_slots(
    service: ServiceType, when: When, *, count: int = OPTIONS_OFFERED, until: date | None = None
) -> tuple[list[datetime], str | None]:
    """Up to ``count`` free starts for ``service`` from the asked day and part of day on (up
    to ``until``, else ``SEARCH_DAYS`` later, never past the booking horizon), and why the
    asked day itself has none (None when it has some)."""
    shop = Shop.current()
    hours = opening_hours()
    # Every search ends at the booking horizon, however far the caller's words reach (the
    # year 9999 included): past it there is nothing to find, and nothing to overflow.
    horizon = booking_horizon(shop)
    if when.day > horizon:
        return [], day_problem(when.day, shop, hours, {})
    last_day = min(until or when.day + timedelta(days=SEARCH_DAYS), horizon)
    closed = dict(
        ClosedDay.objects.filter(date__range=(when.day, last_day)).values_list("date", "reason")
    )
    zone = shop_time_zone()
    not_before = timezone.now() + timedelta(minutes=shop.minimum_notice_minutes)
    need = Need.of(service)
    length = timedelta(minutes=service.duration_minutes)
    found: list[datetime] = []
    first_day_problem = day_problem(when.day, shop, hours, closed)
    if first_day_problem and when.day < timezone.localtime(timezone.now(), zone).date():
        return [], first_day_problem
    day = when.day
    taken, read_until = None, day
    while day <= last_day and len(found) < count:
        if day >= read_until:  # the first days first; the rest at once if the search walks on
            ahead = DAYS_READ_FIRST if day == when.day else SEARCH_DAYS
            read_until = min(day + timedelta(days=ahead), last_day + timedelta(days=1))
            taken = occupancy(
                shop,
                datetime.combine(day, time(0), tzinfo=zone),
                datetime.combine(read_until, time(0), tzinfo=zone),
            )
        if day_problem(day, shop, hours, closed) is None:
            for start in candidate_starts(day, service, shop, hours, not_before):
                at = start.astimezone(zone).time()
                if day == when.day and not (when.earliest <= at < when.latest):
                    continue
                if taken.fits(start, start + length, need):
                    found.append(start)
                    if len(found) == count:
                        break
        day += timedelta(days=1)
    asked_day_full = not found or local(found[0]).date() != when.day
    if first_day_problem is None and asked_day_full:
        part = "" if (when.earliest, when.latest) == (time(0), time(23, 59)) else " then"
        first_day_problem = f"Nothing is free on {spoken_day(when.day)}{part} for {service.name}."
    return found, first_day_problem


def _check_start(service: ServiceType, start: datetime, shop: Shop) -> None:
    """Refuses a start outside the book's rules (past, closed, outside hours, off the grid)."""
    zone = shop_time_zone()
    day = start.astimezone(zone).date()
    hours = opening_hours()
    closed = dict(ClosedDay.objects.filter(date=day).values_list("date", "reason"))
    problem = day_problem(day, shop, hours, closed)
    if problem:
        raise BookingRefused(problem)
    not_before = timezone.now() + timedelta(minutes=shop.minimum_notice_minutes)
    if start not in set(candidate_starts(day, service, shop, hours, not_before)):
        opens, closes = hours[day.weekday()]
        raise BookingRefused(
            f"{spoken(start)} is not a start for {service.name}: appointments start every "
            f"{shop.slot_minutes} minutes from {opens:%H:%M}, end by {closes:%H:%M}, and "
            f"need {shop.minimum_notice_minutes} minutes' notice."
        )


def _take_place(service: ServiceType, start: datetime, shop: Shop, *, moving=None) -> datetime:
    """The end of an appointment of ``service`` at ``start``, if the book has room for it;
    else ``BookingRefused`` with the next free starts. Call with the shop's row locked."""
    _check_start(service, start, shop)
    end = start + timedelta(minutes=service.duration_minutes)
    if occupancy(shop, start, end, excluding=moving).fits(start, end, Need.of(service)):
        return end
    zone = shop_time_zone()
    at = start.astimezone(zone)
    options, _ = find_slots(service, When(day=at.date(), earliest=at.time()))
    raise BookingRefused(
        f"{spoken(start)} has just been taken for {service.name}.", alternatives=options
    )


def same_contact(contact: str):
    """Appointments whose contact is ``contact``, whatever the case, spaces and dashes."""
    plain = Lower("contact")
    for separator in (" ", "-", ".", "(", ")"):
        plain = Replace(plain, Value(separator), Value(""))
    given = "".join(ch for ch in contact.casefold() if ch not in " -.()")
    return Appointment.objects.annotate(plain_contact=plain).filter(plain_contact=given)


@dataclass(frozen=True)
class CallerLimits:
    """What one call may book, and how many upcoming bookings one contact may hold, when a
    caller (through the agent) books: the caller steers the model, and one reply can ask for
    dozens of bookings."""

    per_call: int
    per_contact: int

    @classmethod
    def from_settings(cls) -> CallerLimits:
        return cls(settings.MAX_BOOKINGS_PER_CALL, settings.MAX_ACTIVE_BOOKINGS_PER_CONTACT)

    def check(self, call_id, contact: str) -> None:
        if call_id is not None:
            made = Appointment.objects.filter(call_id=call_id).count()
            if made >= self.per_call:
                raise BookingRefused(
                    f"This call has made {made} bookings, the most one call may make. "
                    "A colleague can book more: offer request_human."
                )
        upcoming = same_contact(contact).active().filter(start__gte=timezone.now()).count()
        if upcoming >= self.per_contact:
            raise BookingRefused(
                f"This contact already holds {upcoming} upcoming appointments, the most one "
                "contact may hold. Offer to move one of them instead."
            )


def _locked_shop() -> Shop:
    Shop.current()
    return Shop.objects.select_for_update().get(pk=1)


def book(
    service: ServiceType,
    start: datetime,
    *,
    customer_name: str,
    contact: str,
    vehicle_id: int | None = None,
    call_id=None,
    notes: str = "",
    limits: CallerLimits | None = None,
) -> Appointment:
    """Book ``service`` at ``start``, or ``BookingRefused`` saying why (with alternatives).
    ``limits``: what one call and one contact may hold (the agent's bookings), checked under
    the shop's lock, so parallel tool calls cannot overshoot them."""
    if not service.active:
        raise BookingRefused(f"{service.name} is not offered at the moment.")
    if not customer_name.strip() or not contact.strip():
        raise BookingRefused("A booking needs the customer's name and a phone number or e-mail.")
    for field, value in (("customer_name", customer_name), ("contact", contact)):
        longest = Appointment._meta.get_field(field).max_length
        if len(value.strip()) > longest:
            what = "name" if field == "customer_name" else "phone number or e-mail"
            raise BookingRefused(f"That {what} is too long: at most {longest} characters.")
    for _attempt in range(5):
        try:
            with transaction.atomic():
                shop = _locked_shop()
                if limits is not None:
                    limits.check(call_id, contact)
                end = _take_place(service, start, shop)
                return Appointment.objects.create(
                    service=service, start=start, end=end, customer_name=customer_name.strip(),
                    contact=contact.strip(), vehicle_id=vehicle_id, call_id=call_id,
                    notes=notes,
                )  # fmt: skip
        except IntegrityError:
            continue  # the random reference was taken: draw another
    raise BookingRefused("The booking could not be stored; please try again.")


def move(appointment: Appointment, start: datetime) -> Appointment:
    """Move a held appointment to ``start``, or ``BookingRefused``; the old place is freed."""
    with transaction.atomic():
        shop = _locked_shop()
        current = Appointment.objects.select_for_update().get(pk=appointment.pk)
        if not current.holds_place:
            raise BookingRefused(
                f"Appointment {current.reference} is {current.get_status_display().lower()}; "
                "it cannot be moved."
            )
        current.end = _take_place(current.service, start, shop, moving=current)
        current.start = start
        current.status = Appointment.Status.MOVED
        current.save(update_fields=["start", "end", "status", "updated_at"])
        return current


def check_edit(appointment: Appointment, *, status: str, service: ServiceType) -> None:
    """What staff may not change on a stored appointment outside ``move``/``cancel``: its
    service (another length: another booking) or a status that gives a released place back
    (it may be taken since; a new booking checks)."""
    if service != appointment.service:
        raise BookingRefused("Book a new appointment for another service; cancel this one.")
    if not appointment.holds_place and status in Appointment.HOLDING:
        raise BookingRefused(
            f"Appointment {appointment.reference} is "
            f"{appointment.get_status_display().lower()}; its place may be taken since. "
            "Book a new appointment instead."
        )


def cancel(appointment: Appointment) -> Appointment:
    """Cancel a held appointment (its place frees at once); cancelling twice is refused."""
    with transaction.atomic():
        current = Appointment.objects.select_for_update().get(pk=appointment.pk)
        if not current.holds_place:
            raise BookingRefused(
                f"Appointment {current.reference} is already "
                f"{current.get_status_display().lower()}."
            )
        current.status = Appointment.Status.CANCELLED
        current.save(update_fields=["status", "updated_at"])
        return current


def reference_code(reference: str) -> str:
    """A reference as stored, from how it was read or typed ("k 7 m-4r9" is "K7M4R9")."""
    return "".join(ch for ch in (reference or "").upper() if ch.isalnum())[:32]
