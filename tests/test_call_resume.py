"""A call taken up by a new job after its agent was lost: the conversation rebuilt from what
is stored, in order, for the model to carry on without asking again (agentworker.resume)."""

import pytest

from agentworker.resume import BACK_INSTRUCTIONS, conversation_so_far, takes_over_from_a_lost_job
from callcenter.models import Call, CallEvent, TranscriptSegment


@pytest.mark.django_db(transaction=True)
async def test_the_conversation_so_far_is_rebuilt_from_the_stored_call_in_order():
    call = await Call.objects.acreate(status=Call.Status.ACTIVE, worker_job_id="AJ_lost")
    rows = [
        TranscriptSegment(call=call, sequence=1, speaker="agent", text="Welcome. Your VIN?"),
        TranscriptSegment(call=call, sequence=2, speaker="customer", text="1HGCM82633A004352"),
        CallEvent(
            call=call,
            sequence=3,
            type=CallEvent.Type.TOOL_CALL,
            payload={
                "name": "lookup_vehicle",
                "arguments": {"vin": "1HGCM82633A004352"},
                "output": "Found on file: 2003 Honda Accord.",
            },
        ),
        CallEvent(call=call, sequence=4, type=CallEvent.Type.PARTICIPANT_JOINED, payload={}),
        CallEvent(
            call=call,
            sequence=5,
            type=CallEvent.Type.WHISPER,
            payload={"by": "jane", "text": "Offer the winter check."},
        ),
        TranscriptSegment(call=call, sequence=6, speaker="agent", text="Found your Accord."),
        TranscriptSegment(call=call, sequence=7, speaker="supervisor", text="Hello, Jane here."),
    ]
    for row in rows:
        await row.asave()
    context = await conversation_so_far(call.pk)
    said = [(item.role, item.text_content) for item in context.items]
    assert said == [
        ("assistant", "Welcome. Your VIN?"),
        ("user", "1HGCM82633A004352"),
        ("system", 'Earlier on this call you used lookup_vehicle ({"vin": "1HGCM82633A004352"}): '
                   "Found on file: 2003 Honda Accord."),
        ("system", "Guidance from your supervisor (the caller does not hear this): "
                   "Offer the winter check."),
        ("assistant", "Found your Accord."),
        ("system", "Your supervisor said to the caller: Hello, Jane here."),
        ("system", BACK_INSTRUCTIONS),
    ]  # fmt: skip


@pytest.mark.django_db
def test_only_a_live_call_another_job_served_is_taken_over():
    served = Call.objects.create(status=Call.Status.ACTIVE, worker_job_id="AJ_lost")
    assert takes_over_from_a_lost_job(served, "AJ_new")
    assert not takes_over_from_a_lost_job(served, "AJ_lost")  # the same job again
    assert not takes_over_from_a_lost_job(Call.objects.create(), "AJ_new")  # a new call
    served.mark_ended()
    assert not takes_over_from_a_lost_job(served, "AJ_new")
