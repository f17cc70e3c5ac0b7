"""The agent's tools on the appointment book (``appointments.booking``): find slots, book,
list, move and cancel. Mixed into ``ServiceDeskAgent``, which gives them the call and the
vehicle it is about. Each answer is a sentence for the model; a refusal says what to ask.

The caller steers the model, so every argument here is the caller's. A booking made on
another call is read out, moved or cancelled only when it belongs to the vehicle identified
on this call *and* the caller names what it was booked under (the customer's name, or the
phone number or e-mail given with it). Wrong tries are call events supervisors see; after
``PROOF_TRIES`` of them the call can no longer reach other bookings at all.
"""

from __future__ import annotations

from datetime import datetime

from asgiref.sync import sync_to_async
from django.db.models import Q
from livekit.agents import RunContext, function_tool

from appointments import booking
from appointments.calendar import UnclearDate, local, parse_slot, resolve_when, slot_id, spoken
from appointments.models import Appointment, ServiceType, Shop
from callcenter.models import CallEvent
from callcenter.redaction import redact_card_numbers


def find_service(name: str) -> ServiceType:
    """The offered service a caller's words name, or ``BookingRefused`` listing the offer."""
    offered = list(ServiceType.objects.filter(active=True))
    words = (name or "").strip().casefold()
    exact = [service for service in offered if service.name.casefold() == words]
    close = [
        s for s in offered if words and (words in s.name.casefold() or s.name.casefold() in words)
    ]
    if exact or len(close) == 1:
        return (exact or close)[0]
    names = ", ".join(service.name for service in offered) or "nothing yet"
    raise booking.BookingRefused(
        f"“{name}” is not one of our services. We offer: {names}. Ask which one they want."
    )


# Wrong references or names a call may give before its bookings are closed to it.
PROOF_TRIES = 3
# How many of a vehicle's bookings, latest first, are looked at for the caller's.
BOOKINGS_LOOKED_AT = 50

NO_VEHICLE = (
    "No vehicle has been identified on this call yet: bookings are found through the "
    "vehicle. Ask for the VIN and look it up first."
)
ASK_WHO_BOOKED = (
    "Ask the caller for the name, or the phone number or e-mail address, the booking was "
    "made under, and pass their answer as booked_under."
)
LOCKED = (
    "Refused: too many wrong references or names on this call, so bookings cannot be read "
    "out or changed on it any more. Tell the caller a colleague can help, and offer "
    "request_human."
)


class NotEntitled(Exception):
    """A try at a booking this call has not shown to be the caller's: counted and logged."""


def letters(text: str) -> str:
    """``text`` without case, spacing and punctuation: how names and contacts are compared."""
    return "".join(ch for ch in (text or "").casefold() if ch.isalnum() or ch == "@")


def same_words(given: str, stored: str) -> bool:
    """Whether the caller's words name ``stored`` ("ANA  silva" is "Ana Silva", "555-0100" is
    "555 0100"); nothing given names nothing."""
    return bool(letters(given)) and letters(given) == letters(stored)


def options(starts: list[datetime]) -> str:
    return "; ".join(f"{spoken(start)} (slot {slot_id(start)})" for start in starts)


def spelled(reference: str) -> str:
    """A reference as it is read out: "K 7 M, 4 R 9"."""
    return ", ".join(" ".join(reference[i : i + 3]) for i in range(0, len(reference), 3))


def describe(appointment: Appointment) -> str:
    status = "" if appointment.holds_place else f" ({appointment.get_status_display().lower()})"
    return (
        f"{appointment.service.name} on {spoken(appointment.start)}, until "
        f"{local(appointment.end):%H:%M}, reference {appointment.reference}{status}"
    )


def refusal(error: booking.BookingRefused) -> str:
    if error.alternatives:
        return (
            f"Not booked: {error} The nearest free slots: {options(error.alternatives)}. Offer "
            "these to the caller."
        )
    return f"Not done: {error}"


def offer_slots(service_name: str, earliest: str, latest: str) -> str:
    try:
        service = find_service(service_name)
        when = resolve_when(earliest)
        until = resolve_when(latest).day if latest else None
        if until is not None and until < when.day:
            return "The last day given is before the first. Ask the caller again."
        found, problem = booking.find_slots(service, when, until=until)
    except (booking.BookingRefused, UnclearDate) as error:
        return str(error)
    if not found and when.day > booking.booking_horizon(Shop.current()):
        return f"{problem} Ask the caller for a day until then."
    if not found:
        nothing = "Nothing is free in the next two weeks either. Ask for another time."
        return f"{problem or ''} {nothing}".strip()
    lead = f"{problem} " if problem else ""
    return (
        f"{lead}Free for {service.name} ({service.duration_minutes} minutes): {options(found)}. "
        "Offer them in words (not the slot codes); book with the slot exactly as given."
    )


class AppointmentTools:
    """Function tools on the appointment book; the agent has ``call_id``, ``vehicle_id`` and
    the call's ``writer``."""

    call_id: object
    vehicle_id: int | None
    writer: object
    # Wrong tries so far on this call; read from its stored events on first use, so a job
    # that takes over a live call goes on counting.
    failed_tries: int | None = None

    @function_tool
    async def find_appointment_slots(
        self, context: RunContext, service: str, earliest: str, latest: str = ""
    ) -> str:
        """Find free appointment slots for a service, from when the caller wants on.

        Args:
            service: The service the caller wants, e.g. "oil change" or "brake inspection".
            earliest: When, in the caller's words: "next Tuesday morning", "the day after
                tomorrow", "December 3 at 2 pm", or a date like 2026-12-03.
            latest: The last day that suits the caller, if they said one; else empty.
        """
        return await sync_to_async(offer_slots)(service, earliest, latest)

    @function_tool
    async def book_appointment(
        self, context: RunContext, slot: str, service: str, name: str, contact: str
    ) -> str:
        """Book a slot the caller chose, for this call's vehicle.

        Args:
            slot: The slot exactly as find_appointment_slots gave it, e.g. 2026-12-01T09:30.
            service: The service, as for find_appointment_slots.
            name: The customer's name.
            contact: A phone number or e-mail address to reach them.
        """
        return await sync_to_async(self._book)(slot, service, name, contact)

    def _book(self, slot: str, service_name: str, name: str, contact: str) -> str:
        try:
            service = find_service(service_name)
            appointment = booking.book(
                service, parse_slot(slot), customer_name=redact_card_numbers(name),
                contact=redact_card_numbers(contact), vehicle_id=self.vehicle_id,
                call_id=self.call_id, limits=booking.CallerLimits.from_settings(),
            )  # fmt: skip
        except UnclearDate as error:
            return str(error)
        except booking.BookingRefused as error:
            return refusal(error)
        return (
            f"Booked: {describe(appointment)}. Read back the day, the time and the service, "
            f"and give the reference spelled out ({spelled(appointment.reference)}) to quote "
            "if they call again."
        )

    @function_tool
    async def list_appointments(self, context: RunContext, booked_under: str = "") -> str:
        """The appointments of this call's vehicle that the caller may hear: those booked on
        this call, and those booked under the name or contact the caller gives.

        Args:
            booked_under: The name, or the phone number or e-mail address, the caller says
                their booking was made under; empty if they have not said it yet.
        """
        return await self._guarded(self._list, booked_under)

    def _list(self, booked_under: str) -> str:
        bookings = list(self._reachable_bookings().order_by("-start")[:BOOKINGS_LOOKED_AT])
        theirs = [a for a in bookings if self._proven(a, booked_under)]
        if theirs:
            listed = "; ".join(describe(appointment) for appointment in theirs[:5])
            return f"The caller's appointments for this vehicle, latest first: {listed}."
        if not bookings:
            return "This vehicle has no appointments."
        if not letters(booked_under):
            return ASK_WHO_BOOKED
        raise NotEntitled(f"No appointment of this vehicle was booked under “{booked_under}”.")

    @function_tool
    async def move_appointment(
        self, context: RunContext, appointment: str, slot: str, booked_under: str = ""
    ) -> str:
        """Move an appointment of this call's vehicle to another free slot.

        Args:
            appointment: Its reference code, as the caller reads it (e.g. "K7M4R9").
            slot: The new slot exactly as find_appointment_slots gave it.
            booked_under: The name, or the phone number or e-mail address, the caller says
                the booking was made under (not needed for a booking made on this call).
        """
        return await self._guarded(self._move, appointment, slot, booked_under)

    def _move(self, reference: str, slot: str, booked_under: str) -> str:
        try:
            moved = booking.move(self._owned(reference, booked_under), parse_slot(slot))
        except UnclearDate as error:
            return str(error)
        return f"Moved: {describe(moved)}. Read the new day and time back to the caller."

    @function_tool
    async def cancel_appointment(
        self, context: RunContext, appointment: str, booked_under: str = ""
    ) -> str:
        """Cancel an appointment of this call's vehicle, once the caller has confirmed which.

        Args:
            appointment: Its reference code, as the caller reads it (e.g. "K7M4R9").
            booked_under: The name, or the phone number or e-mail address, the caller says
                the booking was made under (not needed for a booking made on this call).
        """
        return await self._guarded(self._cancel, appointment, booked_under)

    def _cancel(self, reference: str, booked_under: str) -> str:
        cancelled = booking.cancel(self._owned(reference, booked_under))
        return f"Cancelled: {describe(cancelled)}. Tell the caller it is cancelled."

    # What this call may reach in the book.

    def _reachable_bookings(self):
        """The bookings made on this call, and those of the vehicle identified on it."""
        reachable = Q(call_id=self.call_id)
        if self.vehicle_id is not None:
            reachable |= Q(vehicle_id=self.vehicle_id)
        found = Appointment.objects.select_related("service").filter(reachable)
        if self.vehicle_id is None and not found.exists():
            raise booking.BookingRefused(NO_VEHICLE)
        return found

    def _proven(self, appointment: Appointment, booked_under: str) -> bool:
        return appointment.call_id == self.call_id or any(
            same_words(booked_under, stored)
            for stored in (appointment.customer_name, appointment.contact)
        )

    def _owned(self, reference: str, booked_under: str) -> Appointment:
        """The booking ``reference`` names, if this call may act on it."""
        code = booking.reference_code(reference)
        found = self._reachable_bookings().filter(reference=code).first()
        if found is None and self.vehicle_id is None:
            raise booking.BookingRefused(NO_VEHICLE)
        if found is None:
            raise NotEntitled(
                f"This call's vehicle has no appointment with the reference “{reference}”."
            )
        if self._proven(found, booked_under):
            return found
        if not letters(booked_under):
            raise booking.BookingRefused(ASK_WHO_BOOKED)
        raise NotEntitled(f"Appointment {found.reference} was not booked under “{booked_under}”.")

    async def _guarded(self, action, *arguments: str) -> str:
        """``action`` on the book in a worker thread, unless this call has used up its wrong
        tries; a wrong try is counted, logged as an event and answered with what is left."""
        if self.failed_tries is None:
            self.failed_tries = await CallEvent.objects.filter(
                call_id=self.call_id, type=CallEvent.Type.BOOKING_REFUSED
            ).acount()
        if self.failed_tries >= PROOF_TRIES:
            self.writer.event(CallEvent.Type.BOOKING_REFUSED, {"reason": "too many wrong tries"})
            return LOCKED
        try:
            return await sync_to_async(action)(*arguments)
        except booking.BookingRefused as error:
            return refusal(error)
        except NotEntitled as refused:
            self.failed_tries += 1
            self.writer.event(CallEvent.Type.BOOKING_REFUSED, {"reason": str(refused)})
            left = PROOF_TRIES - self.failed_tries
            if left <= 0:
                return f"Refused: {refused} {LOCKED.removeprefix('Refused: ')}"
            return (
                f"Refused: {refused} Ask the caller to check it ({left} more "
                f"{'try' if left == 1 else 'tries'} on this call)."
            )
