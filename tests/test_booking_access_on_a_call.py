"""A caller reaches only their own bookings through the agent's tools (the caller steers the
model, so every argument is theirs): the vehicle identified on the call, plus the name or
contact the booking was made under; three wrong tries close the book to the call, and every
wrong try is an event supervisors see. Text-mode conversations on the real ORM."""

from types import SimpleNamespace

import pytest

from agentworker.appointment_tools import PROOF_TRIES
from appointments import booking
from appointments.models import Appointment, ServiceType
from callcenter.models import CallEvent
from tests.support.agent_job import agent_call, tool_outputs
from tests.support.scripted_llm import Reply, ToolCall
from tests.support.workshop import at, next_weekday, open_workshop
from vehicles.models import Vehicle

pytestmark = pytest.mark.django_db(transaction=True)

ACCORD = "1HGCM82633A004352"
CIVIC = "2HGES16575H591234"


@pytest.fixture
def book(transactional_db, settings):
    """Ana's Accord booked for Tuesday 8:00 (on another call), and a Civic of someone else's."""
    open_workshop(settings)
    oil = ServiceType.objects.create(name="Oil change", duration_minutes=60)
    tuesday = next_weekday(1)
    accord = Vehicle.objects.create(vin=ACCORD, make="Honda", model="Accord", year=2003)
    civic = Vehicle.objects.create(vin=CIVIC, make="Honda", model="Civic", year=2005)
    anas = booking.book(
        oil,
        at(tuesday, 8),
        customer_name="Ana Silva",
        contact="+49 151 555 0100",
        vehicle_id=accord.pk,
    )
    bens = booking.book(
        oil,
        at(tuesday, 10),
        customer_name="Ben Ode",
        contact="ben@example.com",
        vehicle_id=civic.pk,
    )
    return SimpleNamespace(oil=oil, tuesday=tuesday, anas=anas, bens=bens)


def slot(day, hour) -> str:
    return f"{day.isoformat()}T{hour:02d}:00"


async def tool_answers(calls: list[ToolCall]) -> tuple[list[str], object]:
    """What each tool call answered, one caller turn each, on one call; and the call."""
    script = []
    for call in calls:
        script += [Reply(tool_calls=[call]), Reply(text="Okay.")]
    async with agent_call(script) as (session, call, server, writer, _):
        answers = []
        for turn in range(len(calls)):
            await session.run(user_input="Please do that.")
            answers.append(tool_outputs(server.requests[2 * turn + 1])[-1])
        await writer.flush()
    return answers, call


async def status_of(appointment) -> tuple[str, object]:
    await appointment.arefresh_from_db()
    return appointment.status, appointment.start


async def test_without_a_vehicle_on_the_call_no_booking_is_read_moved_or_cancelled(book):
    reference = book.anas.reference
    answers, _ = await tool_answers(
        [
            ToolCall("list_appointments", {"booked_under": "Ana Silva"}),
            ToolCall("cancel_appointment", {"appointment": reference, "booked_under": "Ana Silva"}),
            ToolCall(
                "move_appointment",
                {
                    "appointment": reference,
                    "slot": slot(book.tuesday, 14),
                    "booked_under": "Ana Silva",
                },
            ),
        ]
    )
    assert all("No vehicle has been identified on this call" in answer for answer in answers)
    assert all(reference not in answer for answer in answers)
    assert await status_of(book.anas) == (Appointment.Status.BOOKED, at(book.tuesday, 8))


async def test_another_vehicles_booking_is_out_of_reach_even_with_its_owners_name(book):
    answers, call = await tool_answers(
        [
            ToolCall("lookup_vehicle", {"vin": ACCORD}),
            ToolCall(
                "cancel_appointment",
                {"appointment": book.bens.reference, "booked_under": "Ben Ode"},
            ),
        ]
    )
    assert answers[1].startswith("Refused: This call's vehicle has no appointment")
    assert (await status_of(book.bens))[0] == Appointment.Status.BOOKED
    refused = await CallEvent.objects.aget(call=call, type=CallEvent.Type.BOOKING_REFUSED)
    assert refused.important
    assert refused.describe().startswith("Refused the caller a booking: This call's vehicle")


async def test_the_vehicles_bookings_are_read_out_only_to_who_names_what_they_were_booked_under(
    book,
):
    answers, _ = await tool_answers(
        [
            ToolCall("lookup_vehicle", {"vin": ACCORD}),
            ToolCall("list_appointments", {}),
            ToolCall("list_appointments", {"booked_under": "Someone Else"}),
            ToolCall("list_appointments", {"booked_under": "  ana SILVA "}),
        ]
    )
    nothing_given, wrong_name, right_name = answers[1:]
    assert "Ask the caller for the name" in nothing_given
    assert wrong_name.startswith("Refused: No appointment of this vehicle was booked under")
    for refused in (nothing_given, wrong_name):
        assert book.anas.reference not in refused
    assert book.anas.reference in right_name and "Oil change on Tuesday" in right_name


async def test_the_owner_moves_and_cancels_with_the_contact_it_was_booked_under(book):
    reference = " ".join(book.anas.reference.lower())  # as it is read out: "k 7 m 4 r 9"
    answers, _ = await tool_answers(
        [
            ToolCall("lookup_vehicle", {"vin": ACCORD}),
            ToolCall(
                "move_appointment",
                {"appointment": reference, "slot": slot(book.tuesday, 14)},
            ),
            ToolCall(
                "move_appointment",
                {
                    "appointment": reference,
                    "slot": slot(book.tuesday, 14),
                    "booked_under": "+49-151-5550100",
                },
            ),
            ToolCall("cancel_appointment", {"appointment": reference, "booked_under": "ana silva"}),
        ]
    )
    asked, moved, cancelled = answers[1:]
    # Supervisors read the tool events: the contact the caller gave shows masked.
    events = [e.payload async for e in CallEvent.objects.filter(payload__name="move_appointment")]
    given = [event["arguments"].get("booked_under", "") for event in events]
    assert "5550100" not in str(events) and given[-1].endswith("100")
    assert "Ask the caller for the name" in asked
    assert moved.startswith("Moved: Oil change on Tuesday") and "at 2 pm" in moved
    assert cancelled.startswith("Cancelled:")
    assert await status_of(book.anas) == (Appointment.Status.CANCELLED, at(book.tuesday, 14))


@pytest.mark.parametrize("vehicle_named", [True, False])
async def test_a_booking_made_on_this_call_needs_no_proof(book, vehicle_named):
    """Also when no vehicle was named: the end-to-end call books before any VIN."""
    cancel = ToolCall("cancel_appointment", {"appointment": "filled in once booked"})
    booking = ToolCall(
        "book_appointment",
        {"slot": slot(book.tuesday, 11), "service": "oil change", "name": "Ana Silva",
         "contact": "555 0100"},
    )  # fmt: skip
    lookup = [Reply(tool_calls=[ToolCall("lookup_vehicle", {"vin": ACCORD})]), Reply(text="Ok.")]
    script = [
        *(lookup if vehicle_named else []),
        Reply(tool_calls=[booking]),
        Reply(text="Booked."),
        Reply(tool_calls=[cancel]),
        Reply(text="Cancelled."),
    ]
    async with agent_call(script) as (session, call, server, writer, _):
        if vehicle_named:
            await session.run(user_input=f"My VIN is {ACCORD}")
        await session.run(user_input="Tuesday at 11, Ana Silva, 555 0100.")
        made_here = await Appointment.objects.aget(call=call)
        cancel.arguments["appointment"] = made_here.reference
        await session.run(user_input="Oh, cancel that again, please.")
        answer = tool_outputs(server.requests[-1])[-1]
        await writer.flush()
    assert answer.startswith("Cancelled:")
    assert (await status_of(made_here))[0] == Appointment.Status.CANCELLED


async def test_three_wrong_tries_close_the_book_to_the_call_even_for_the_right_name(book):
    wrong = [
        ToolCall("cancel_appointment", {"appointment": "XXXXXX", "booked_under": "Ana Silva"}),
        ToolCall(
            "cancel_appointment", {"appointment": book.anas.reference, "booked_under": "Anna"}
        ),
        ToolCall("list_appointments", {"booked_under": "Mr Silva"}),
    ]
    right = ToolCall(
        "cancel_appointment", {"appointment": book.anas.reference, "booked_under": "Ana Silva"}
    )
    answers, call = await tool_answers([ToolCall("lookup_vehicle", {"vin": ACCORD}), *wrong, right])
    assert len(wrong) == PROOF_TRIES
    assert "2 more tries on this call" in answers[1]
    assert "1 more try on this call" in answers[2]
    assert "cannot be read out or changed on it any more" in answers[3]
    assert answers[4].startswith("Refused: too many wrong references or names")
    assert (await status_of(book.anas))[0] == Appointment.Status.BOOKED
    logged = [
        event.payload["reason"]
        async for event in CallEvent.objects.filter(
            call=call, type=CallEvent.Type.BOOKING_REFUSED
        ).order_by("sequence")
    ]
    assert len(logged) == PROOF_TRIES + 1 and logged[-1] == "too many wrong tries"
