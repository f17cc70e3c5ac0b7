"""The agent books, moves and cancels service appointments in text-mode conversations with the
scripted LLM, on the real ORM: what the tools tell the model, what lands in the book, and
what the monitor shows."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from asgiref.sync import sync_to_async

from appointments import booking
from appointments.models import Appointment, ClosedDay, ServiceType
from callcenter.models import CallEvent
from tests.support.agent_job import agent_call, tool_outputs
from tests.support.scripted_llm import Reply, ToolCall
from tests.support.workshop import at, next_weekday, open_workshop
from vehicles.models import Vehicle

pytestmark = pytest.mark.django_db(transaction=True)

ACCORD = "1HGCM82633A004352"


@pytest.fixture
def workshop(transactional_db, settings):
    open_workshop(settings, technicians=1, bays=1)
    return SimpleNamespace(
        oil=ServiceType.objects.create(name="Oil change", duration_minutes=60),
        tuesday=next_weekday(1),
        accord=Vehicle.objects.create(vin=ACCORD, make="Honda", model="Accord", year=2003),
    )


def slot(day, hour, minute=0) -> str:
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}"


async def test_the_agent_finds_slots_and_books_one_for_the_callers_vehicle(workshop):
    tuesday = workshop.tuesday
    script = [
        Reply(tool_calls=[ToolCall("lookup_vehicle", {"vin": ACCORD})]),
        Reply(text="I found your 2003 Honda Accord. How can I help?"),
        Reply(
            tool_calls=[
                ToolCall(
                    "find_appointment_slots",
                    {"service": "oil change", "earliest": "next Tuesday morning"},
                )
            ]
        ),
        Reply(text="I can offer 8, 8:30 or 9 on Tuesday morning."),
        Reply(
            tool_calls=[
                ToolCall(
                    "book_appointment",
                    {
                        "slot": slot(tuesday, 8),
                        "service": "Oil change",
                        "name": "Ana Silva",
                        "contact": "555 0100",
                    },
                )
            ]
        ),
        Reply(text="You're booked for an oil change on Tuesday at 8."),
    ]
    async with agent_call(script) as (session, call, server, writer, _):
        await session.run(user_input=f"My VIN is {ACCORD}")
        await session.run(user_input="I'd like an oil change next Tuesday morning.")
        offered = tool_outputs(server.requests[3])[-1]
        await session.run(user_input="8 please. I'm Ana Silva, 555 0100.")
        booked = tool_outputs(server.requests[5])[-1]
        await writer.flush()

    assert f"Tuesday the {tuesday.day}" in offered
    assert f"(slot {slot(tuesday, 8)})" in offered and f"(slot {slot(tuesday, 9)})" in offered
    appointment = await Appointment.objects.select_related("service").aget()
    assert booked.startswith("Booked: Oil change on Tuesday the")
    assert f"reference {appointment.reference}" in booked
    assert "Read back the day, the time and the service" in booked
    assert (appointment.call_id, appointment.vehicle_id) == (call.pk, workshop.accord.pk)
    assert appointment.start == at(tuesday, 8)
    assert (appointment.customer_name, appointment.contact) == ("Ana Silva", "555 0100")
    # The booking is an event of the call: the monitor and the history show it.
    event = await CallEvent.objects.aget(call=call, payload__name="book_appointment")
    assert event.to_message()["text"].startswith("Appointment: Booked: Oil change on Tuesday")


async def test_a_taken_slot_comes_back_with_the_next_free_ones(workshop):
    await sync_to_async(booking.book)(
        workshop.oil, at(workshop.tuesday, 8), customer_name="Ben Ode", contact="555 0199"
    )
    script = [
        Reply(
            tool_calls=[
                ToolCall(
                    "book_appointment",
                    {
                        "slot": slot(workshop.tuesday, 8),
                        "service": "oil change",
                        "name": "Ana Silva",
                        "contact": "555 0100",
                    },
                )
            ]
        ),
        Reply(text="Sorry, 8 was just taken. I can do 9 or 9:30."),
    ]
    async with agent_call(script) as (session, _call, server, writer, _):
        await session.run(user_input="Book me for 8 on Tuesday, Ana Silva, 555 0100.")
        answer = tool_outputs(server.requests[1])[-1]
        await writer.flush()
    assert answer.startswith("Not booked:") and "has just been taken" in answer
    assert f"(slot {slot(workshop.tuesday, 9)})" in answer
    assert await Appointment.objects.acount() == 1


@pytest.mark.parametrize(
    ("earliest", "says"),
    [
        ("yesterday", "is in the past"),
        ("whenever the moon is full", "not a date I can read"),
        ("next Saturday", "closed on Saturdays"),
        ("next Tuesday", "closed on Tuesday"),
    ],
)
async def test_impossible_days_come_back_to_the_model_as_a_sentence(workshop, earliest, says):
    await ClosedDay.objects.acreate(date=workshop.tuesday, reason="staff training")
    script = [
        Reply(
            tool_calls=[
                ToolCall("find_appointment_slots", {"service": "oil", "earliest": earliest})
            ]
        ),
        Reply(text="That day doesn't work; how about another?"),
    ]
    async with agent_call(script) as (session, _call, server, writer, _):
        await session.run(user_input=f"An oil change {earliest}, please.")
        answer = tool_outputs(server.requests[1])[-1]
        await writer.flush()
    assert says in answer
    if earliest.startswith("next"):  # a closed day still gets the next open day's slots
        if says.endswith("Tuesday"):
            next_open = workshop.tuesday + timedelta(days=1)
        else:
            next_open = next_weekday(0, after=next_weekday(5))
        assert f"(slot {slot(next_open, 8)})" in answer


async def test_an_unknown_service_gets_the_list_of_what_is_offered(workshop):
    script = [
        Reply(
            tool_calls=[
                ToolCall("find_appointment_slots", {"service": "paint job", "earliest": "today"})
            ]
        ),
        Reply(text="We don't do paint jobs."),
    ]
    async with agent_call(script) as (session, _call, server, writer, _):
        await session.run(user_input="Can you paint my car today?")
        answer = tool_outputs(server.requests[1])[-1]
        await writer.flush()
    assert "is not one of our services. We offer: Oil change." in answer


def test_the_agent_no_longer_sends_bookings_to_a_person():
    from agentworker.agent import INSTRUCTIONS

    assert "book_appointment" in INSTRUCTIONS and "find_appointment_slots" in INSTRUCTIONS
    handoff = next(step for step in INSTRUCTIONS.split("\n") if "cannot do" in step)
    assert "booking" not in handoff


def test_spoken_times_are_in_the_shops_zone(settings):
    from appointments.calendar import spoken

    settings.SHOP_TIME_ZONE = "Europe/Berlin"
    stored = datetime(2031, 1, 7, 6, 30, tzinfo=UTC)  # as the database gives it back
    assert spoken(stored) == "Tuesday the 7th of January at 7:30 am"  # Berlin, UTC+1


@pytest.mark.parametrize(
    ("earliest", "latest"),
    [
        ("next Monday", "December 31, 9999"),  # "any time before the year 9999"
        ("December 31, 9999", ""),  # a first day past the window
        ("in 10000 years", ""),
        ("2099-01-05", "9999-12-31"),
    ],
)
async def test_a_far_date_range_is_answered_at_once_within_the_booking_horizon(
    workshop, earliest, latest
):
    from appointments.models import Shop

    await Shop.objects.filter(pk=1).aupdate(booking_days_ahead=60)
    script = [
        Reply(
            tool_calls=[
                ToolCall(
                    "find_appointment_slots",
                    {"service": "oil", "earliest": earliest, "latest": latest},
                )
            ]
        ),
        Reply(text="Let me see."),
    ]
    async with agent_call(script) as (session, _call, server, writer, _):
        await session.run(user_input=f"Any time from {earliest} to {latest}.")
        answer = tool_outputs(server.requests[1])[-1]
        await writer.flush()
    assert "internal error" not in answer.lower()
    if earliest.startswith("next"):  # the search found slots, inside the horizon
        assert "(slot " in answer
    else:
        assert "Bookings open 60 days ahead" in answer or "not a date I can read" in answer
        assert "(slot " not in answer


async def test_a_name_too_long_for_the_book_is_refused_in_words(workshop):
    script = [
        Reply(
            tool_calls=[
                ToolCall(
                    "book_appointment",
                    {
                        "slot": slot(workshop.tuesday, 8),
                        "service": "oil change",
                        "name": "A" * 500,
                        "contact": "555 0100",
                    },
                )
            ]
        ),
        Reply(text="That name is too long."),
    ]
    async with agent_call(script) as (session, _call, server, writer, _):
        await session.run(user_input="Book Tuesday 8 for me.")
        answer = tool_outputs(server.requests[1])[-1]
        await writer.flush()
    assert answer == "Not done: That name is too long: at most 120 characters."
    assert await Appointment.objects.acount() == 0
