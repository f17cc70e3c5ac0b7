"""A call taken up by a new job after its agent was lost: the conversation rebuilt from what
is stored, in order, for the model to carry on without asking again (agentworker.resume)."""

import asyncio

import pytest
from asgiref.sync import sync_to_async

from agentworker.resume import (
    BACK_INSTRUCTIONS,
    BACK_SAID,
    RoomWatch,
    conversation_so_far,
    served_by_another_job,
    takes_over_from_a_lost_job,
)
from agentworker.writer import CallWriter
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


@pytest.mark.django_db(transaction=True)
async def test_a_job_whose_call_another_job_took_over_writes_nothing_more_and_leaves():
    call = await Call.objects.acreate(status=Call.Status.ACTIVE, worker_job_id="AJ_old")
    left = []
    old = await CallWriter.open(
        call.pk, job_id="AJ_old", publish=None, on_taken_over=lambda: left.append(True)
    )
    old.segment("agent", "Welcome. Your VIN?")
    await old.flush()
    assert await old.still_ours()

    # The caller came back through another media node; a new job serves the call now.
    await sync_to_async(call.assign_job)("AJ_new")
    new = await CallWriter.open(call.pk, job_id="AJ_new", publish=None)
    new.segment("agent", BACK_SAID)
    old.segment("agent", "Are you still there?")  # the old job, still up, says something
    old.change_call(Call.mark_ended)
    old.event(CallEvent.Type.ERROR, {"message": "room lost"})
    await old.flush()
    await new.flush()

    segments = TranscriptSegment.objects.filter(call=call).order_by("sequence")
    stored = [segment.text async for segment in segments]
    assert stored == ["Welcome. Your VIN?", BACK_SAID]
    assert not await CallEvent.objects.filter(call=call).aexists()
    assert (await Call.objects.aget(pk=call.pk)).is_live  # the old job ended nothing
    assert left == [True] and old.taken_over and not await old.still_ours()
    assert await new.still_ours()
    await old.close()
    await new.close()


async def test_a_room_connection_that_dropped_is_lost_and_one_closed_is_not():
    from livekit import rtc

    class Writer:
        call_id = "call"

    for reason, lost in [
        (rtc.DisconnectReason.UNKNOWN_REASON, True),  # the SDK gave up reconnecting
        (rtc.DisconnectReason.SIGNAL_CLOSE, True),
        (rtc.DisconnectReason.CLIENT_INITIATED, False),  # the job hung up
        (rtc.DisconnectReason.ROOM_DELETED, False),  # the call ended
        (rtc.DisconnectReason.PARTICIPANT_REMOVED, False),
    ]:
        room = rtc.Room()
        watch = RoomWatch(room, Writer(), leave=lambda: None)
        room.emit("disconnected", reason)
        assert watch.lost is lost, reason


@pytest.mark.django_db
def test_a_second_job_asked_for_a_moved_room_leaves_the_call_to_the_first_one_there():
    call = Call.objects.create(status=Call.Status.ACTIVE, worker_job_id="AJ_first")
    # The first new job took the call over; the second finds its agent in the room.
    assert served_by_another_job(call, "AJ_second", {"agent-AJ_first"})
    # The lost job's agent is nowhere: the call is taken over, not served.
    assert not served_by_another_job(call, "AJ_second", {"agent-AJ_other"})
    assert not served_by_another_job(call, "AJ_first", {"agent-AJ_first"})  # itself


@pytest.mark.django_db(transaction=True)
async def test_a_job_stuck_reconnecting_leaves_once_taken_over_or_after_giving_up():
    from livekit import rtc

    from agentworker.resume import ROOM_GONE, TAKEN_OVER

    taken = await Call.objects.acreate(status=Call.Status.ACTIVE, worker_job_id="AJ_old")
    abandoned = await Call.objects.acreate(status=Call.Status.ACTIVE, worker_job_id="AJ_old2")
    left: dict[str, str] = {}
    watches = {}
    for call, job in ((taken, "AJ_old"), (abandoned, "AJ_old2")):
        room = rtc.Room()
        writer = CallWriter(call.pk, job_id=job, publish=None)
        watches[job] = RoomWatch(
            room, writer, lambda reason, job=job: left.setdefault(job, reason),
            check_seconds=0.05, give_up_seconds=1.0,
        )  # fmt: skip
        room.emit("reconnecting")  # its media node died; the SDK keeps trying
    await sync_to_async(taken.assign_job)("AJ_new")  # the caller came back with a new job
    for _ in range(100):
        if len(left) == 2:
            break
        await asyncio.sleep(0.05)
    assert left == {"AJ_old": TAKEN_OVER, "AJ_old2": ROOM_GONE}
    assert not watches["AJ_old"].lost and watches["AJ_old2"].lost


@pytest.mark.django_db(transaction=True)
async def test_a_job_back_in_its_calls_room_after_a_gap_says_so_and_after_a_blip_does_not(
    monkeypatch,
):
    from livekit import rtc

    from agentworker import resume

    monkeypatch.setattr(resume, "NOTICED_GAP_SECONDS", 0.2)
    call = await Call.objects.acreate(status=Call.Status.ACTIVE, worker_job_id="AJ_same")
    back: list[float] = []
    room = rtc.Room()
    writer = CallWriter(call.pk, job_id="AJ_same", publish=None)
    RoomWatch(room, writer, leave=lambda reason: None, on_back=back.append, check_seconds=5)
    room.emit("reconnecting")
    room.emit("reconnected")  # a blip: nothing to say
    await asyncio.sleep(0.1)
    room.emit("reconnecting")  # its node died; it rejoined the room on another
    await asyncio.sleep(0.3)
    room.emit("reconnected")
    await asyncio.sleep(0.1)
    assert len(back) == 1 and back[0] >= 0.3


@pytest.mark.django_db
def test_the_time_without_an_agent_counts_from_its_loss_or_else_its_last_write():
    from datetime import timedelta

    from django.utils import timezone

    from agentworker.resume import seconds_without_agent

    now = timezone.now()
    lost = Call.objects.create(status=Call.Status.ACTIVE, agent_lost_at=now - timedelta(seconds=9))
    assert 9 <= seconds_without_agent(lost) < 11
    silent = Call.objects.create(status=Call.Status.ACTIVE)  # its media node died: no webhook
    TranscriptSegment.objects.create(call=silent, sequence=1, speaker="agent", text="Welcome.")
    CallEvent.objects.create(call=silent, sequence=2, type=CallEvent.Type.TOOL_CALL, payload={})
    TranscriptSegment.objects.filter(call=silent).update(created_at=now - timedelta(seconds=30))
    CallEvent.objects.filter(call=silent).update(created_at=now - timedelta(seconds=6))
    assert 6 <= seconds_without_agent(silent) < 8
    assert seconds_without_agent(Call.objects.create()) is None


@pytest.mark.django_db(transaction=True)
async def test_a_job_back_in_a_room_made_anew_says_so_however_quickly_it_got_back():
    from livekit import rtc

    call = await Call.objects.acreate(status=Call.Status.ACTIVE, worker_job_id="AJ_same")
    back: list[float] = []
    room = rtc.Room()
    room._info.sid = "RM_on_the_dead_node"  # what LiveKit's join told the SDK
    writer = CallWriter(call.pk, job_id="AJ_same", publish=None)
    RoomWatch(room, writer, leave=lambda reason: None, on_back=back.append, check_seconds=5)
    room.emit("reconnecting")
    await asyncio.sleep(0.05)
    room.emit("reconnected")  # the same room again: a blip
    await asyncio.sleep(0.2)
    assert back == []
    room.emit("reconnecting")
    await asyncio.sleep(0.05)
    room._info.sid = "RM_on_the_other_node"  # the SDK rejoined the room made on another node
    room.emit("reconnected")
    await asyncio.sleep(0.2)
    assert len(back) == 1 and back[0] < 1  # the caller was cut off too: told at once


async def test_the_welcome_back_waits_for_the_caller_to_come_back_too():
    from types import SimpleNamespace

    from livekit import rtc

    from agentworker.resume import caller_back

    room = rtc.Room()
    caller = SimpleNamespace(identity="caller-1")
    is_caller = lambda participant: participant.identity == "caller-1"  # noqa: E731
    assert await caller_back(room, is_caller, seconds=0.2) >= 0.2  # nobody came: gives up
    waiting = asyncio.create_task(caller_back(room, is_caller, seconds=5))
    await asyncio.sleep(0.1)
    room.emit("participant_connected", SimpleNamespace(identity="supervisor-1"))
    await asyncio.sleep(0.1)
    assert not waiting.done()  # someone else joined
    room.emit("participant_connected", caller)
    assert 0.2 <= await asyncio.wait_for(waiting, 1) < 1
