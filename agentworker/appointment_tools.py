"""The agent's tools on the appointment book (``appointments.booking``): find slots, book,
list, move and cancel. Mixed into ``ServiceDeskAgent``, which gives them the call and the
vehicle it is about. Each answer is a sentence for the model; a refusal says what to ask."""

from __future__ import annotations

from datetime import datetime

from asgiref.sync import sync_to_async
from livekit.agents import RunContext, function_tool

from appointments import booking
from appointments.calendar import UnclearDate, local, parse_slot, resolve_when, slot_id, spoken
from appointments.models import Appointment, ServiceType
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
    if not found:
        nothing = "Nothing is free in the next two weeks either. Ask for another time."
        return f"{problem or ''} {nothing}".strip()
    lead = f"{problem} " if problem else ""
    return (
        f"{lead}Free for {service.name} ({service.duration_minutes} minutes): {options(found)}. "
        "Offer them in words (not the slot codes); book with the slot exactly as given."
    )


class AppointmentTools:
    """Function tools on the appointment book; the agent has ``call_id`` and ``vehicle_id``."""

    call_id: object
    vehicle_id: int | None

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
                call_id=self.call_id,
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
    async def list_appointments(self, context: RunContext) -> str:
        """The appointments of this call's vehicle (upcoming and recent)."""
        return await sync_to_async(self._list)()

    def _list(self) -> str:
        if self.vehicle_id is None:
            return (
                "No vehicle has been identified on this call yet: ask for the VIN, or for the "
                "reference of the appointment."
            )
        found = Appointment.objects.select_related("service").filter(vehicle_id=self.vehicle_id)
        listed = [describe(appointment) for appointment in found.order_by("-start")[:5]]
        if not listed:
            return "This vehicle has no appointments."
        return "Appointments of this vehicle, latest first: " + "; ".join(listed) + "."

    @function_tool
    async def move_appointment(self, context: RunContext, appointment: str, slot: str) -> str:
        """Move an appointment to another free slot.

        Args:
            appointment: Its reference code, as the caller reads it (e.g. "K7M4R9").
            slot: The new slot exactly as find_appointment_slots gave it.
        """
        return await sync_to_async(self._move)(appointment, slot)

    def _move(self, reference: str, slot: str) -> str:
        try:
            moved = booking.move(booking.find_by_reference(reference), parse_slot(slot))
        except UnclearDate as error:
            return str(error)
        except booking.BookingRefused as error:
            return refusal(error)
        return f"Moved: {describe(moved)}. Read the new day and time back to the caller."

    @function_tool
    async def cancel_appointment(self, context: RunContext, appointment: str) -> str:
        """Cancel an appointment, once the caller has confirmed which one.

        Args:
            appointment: Its reference code, as the caller reads it (e.g. "K7M4R9").
        """
        return await sync_to_async(self._cancel)(appointment)

    def _cancel(self, reference: str) -> str:
        try:
            cancelled = booking.cancel(booking.find_by_reference(reference))
        except booking.BookingRefused as error:
            return refusal(error)
        return f"Cancelled: {describe(cancelled)}. Tell the caller it is cancelled."
