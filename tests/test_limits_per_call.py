"""One call cannot book out a day or fill the vehicle table, however the caller steers the
model: bookings per call, upcoming bookings per contact and registrations per call are capped
(settings), also when one model reply asks for many at once, and the model is told the limit
in words. Text-mode conversations with the scripted LLM on the real ORM."""

import pytest
from asgiref.sync import sync_to_async

from appointments import booking
from appointments.models import Appointment, ServiceType
from tests.support.agent_job import agent_call, tool_outputs
from tests.support.scripted_llm import Reply, ToolCall
from tests.support.workshop import at, next_weekday, open_workshop
from vehicles.models import Vehicle
from vehicles.vin import compute_check_digit

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def oil(transactional_db, settings):
    open_workshop(settings, technicians=20, bays=20)
    settings.MAX_BOOKINGS_PER_CALL = 3
    settings.MAX_ACTIVE_BOOKINGS_PER_CONTACT = 3
    settings.MAX_VEHICLES_PER_CALL = 2
    return ServiceType.objects.create(name="Oil change", duration_minutes=60)


def vin(serial: int) -> str:
    draft = f"1HGCM8263{'A'}{serial:07d}"
    return draft[:8] + compute_check_digit(draft) + draft[9:]


def book(day, hour: int, contact: str) -> ToolCall:
    return ToolCall(
        "book_appointment",
        {
            "slot": f"{day.isoformat()}T{hour:02d}:00",
            "service": "oil change",
            "name": "Ana Silva",
            "contact": contact,
        },
    )


async def one_reply(calls: list[ToolCall]) -> list[str]:
    """What each of ``calls``, made in one model reply, answered."""
    async with agent_call([Reply(tool_calls=calls), Reply(text="Done.")]) as (
        session,
        _call,
        server,
        writer,
        _,
    ):
        await session.run(user_input="Do it all at once.")
        await writer.flush()
    return tool_outputs(server.requests[1])


async def test_one_reply_asking_for_a_day_of_bookings_gets_the_calls_limit(oil):
    tuesday = next_weekday(1)
    answers = await one_reply([book(tuesday, hour, f"555 01{hour:02d}") for hour in range(8, 16)])
    assert sum(answer.startswith("Booked:") for answer in answers) == 3
    refused = [answer for answer in answers if not answer.startswith("Booked:")]
    assert len(refused) == 5
    assert all("the most one call may make" in answer for answer in refused)
    assert await Appointment.objects.acount() == 3


async def test_a_contact_holding_the_most_upcoming_bookings_cannot_book_another(oil):
    tuesday = next_weekday(1)
    for hour in (8, 9, 10):  # made on earlier calls, or by staff
        await sync_to_async(booking.book)(
            oil, at(tuesday, hour), customer_name="Ana Silva", contact="+49 151 555-0100"
        )
    answers = await one_reply([book(tuesday, 14, "+49151 5550100")])
    assert answers == [
        "Not done: This contact already holds 3 upcoming appointments, the most one contact "
        "may hold. Offer to move one of them instead."
    ]
    assert await Appointment.objects.acount() == 3


async def test_one_reply_registering_many_vehicles_gets_the_calls_limit(oil):
    calls = [
        ToolCall(
            "create_vehicle",
            {
                "vin": vin(serial),
                "make": "Honda",
                "model": "Accord",
                "year": 2003,
                "confirmed": True,
            },
        )
        for serial in range(1, 7)
    ]
    answers = await one_reply(calls)
    assert sum(answer.startswith("Registered:") for answer in answers) == 2
    assert sum("the most one call may register" in answer for answer in answers) == 4
    assert await Vehicle.objects.acount() == 2
