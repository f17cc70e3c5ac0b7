"""The live-monitor socket: who may connect, snapshot, live deltas, resume without gaps, and
what goes to whom (every call's changes to all, a call's words to those who have it open)."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, Permission

from agentworker.writer import CallWriter
from callcenter import live_updates
from callcenter.models import Call, CallEvent, TranscriptSegment
from config.asgi import application
from monitoring.consumers import MAX_OPEN_CALLS, REFUSED, MonitorConsumer
from tests.support.monitor_socket import logged_in

pytestmark = pytest.mark.django_db(transaction=True)


def make_user(name, *, staff=False, monitor=False, superuser=False):
    user = get_user_model().objects.create_user(
        name, f"{name}@example.com", "pw 12345 secret", is_staff=staff, is_superuser=superuser
    )
    if monitor:
        user.user_permissions.add(Permission.objects.get(codename="monitor_calls"))
    return user


async def connect(user, query=""):
    communicator = WebsocketCommunicator(MonitorConsumer.as_asgi(), f"/ws/monitor/{query}")
    await logged_in(communicator, user)
    connected, code = await communicator.connect()
    return communicator, connected, code


async def supervisor():
    return await sync_to_async(make_user)("sup", staff=True, monitor=True)


async def open_call(communicator, call, last=0):
    await communicator.send_json_to({"type": "open", "call_id": str(call.pk), "last": last})
    opened = await communicator.receive_json_from()
    assert (opened["kind"], opened["call"]["id"]) == ("opened", str(call.pk)), opened
    return opened


async def call_with_history(texts, status=Call.Status.ACTIVE):
    call = await Call.objects.acreate(status=status, caller="web:test")
    for number, text in enumerate(texts, start=1):
        await TranscriptSegment.objects.acreate(
            call=call, sequence=number, speaker="customer", text=text
        )
    return call


@pytest.mark.parametrize(
    ("who", "allowed"),
    [
        ("anonymous", False),
        ("customer", False),
        ("staff_without_permission", False),
        ("supervisor", True),
        ("superuser", True),
    ],
)
async def test_only_supervisors_may_connect(who, allowed):
    users = {
        "anonymous": lambda: AnonymousUser(),
        "customer": lambda: make_user("c"),
        "staff_without_permission": lambda: make_user("s", staff=True),
        "supervisor": lambda: make_user("m", staff=True, monitor=True),
        "superuser": lambda: make_user("r", staff=True, superuser=True),
    }
    user = await sync_to_async(users[who])()
    communicator, connected, code = await connect(user)
    assert connected is allowed
    if not allowed:
        assert code == REFUSED
    await communicator.disconnect()


async def test_the_snapshot_lists_live_calls_and_opening_one_gives_its_transcript_so_far():
    live = await call_with_history(["Hello", "My VIN is"])
    await CallEvent.objects.acreate(call=live, sequence=3, type="tool_call", payload={"name": "x"})
    await call_with_history(["old call"], status=Call.Status.ENDED)
    communicator, _, _ = await connect(await supervisor())
    snapshot = await communicator.receive_json_from()
    assert snapshot["kind"] == "snapshot"
    assert [c["id"] for c in snapshot["calls"]] == [str(live.pk)]
    assert snapshot["items"] == []  # no call is open yet
    opened = await open_call(communicator, live)
    assert [(i["kind"], i["sequence"]) for i in opened["items"]] == [
        ("segment", 1),
        ("segment", 2),
        ("event", 3),
    ]
    # Opened again after the page dropped what it had: all of it again; from 2: the rest.
    assert len((await open_call(communicator, live))["items"]) == 3
    assert [i["sequence"] for i in (await open_call(communicator, live, 2))["items"]] == [3]
    await communicator.disconnect()


async def test_a_calls_words_reach_only_the_monitors_that_have_it_open():
    followed, other = await call_with_history(["Hello"]), await call_with_history(["Hi"])
    communicator, _, _ = await connect(await supervisor())
    await communicator.receive_json_from()  # snapshot
    await open_call(communicator, followed)
    for call, text in ((other, "not for this page"), (followed, "for this page")):
        writer = await CallWriter.open(call.pk)
        writer.segment("agent", text)
        await writer.close()
    message = await communicator.receive_json_from(timeout=5)
    assert (message["call_id"], message["text"]) == (str(followed.pk), "for this page")
    assert await communicator.receive_nothing(timeout=0.3)
    # A call-level change of the other call reaches every monitor.
    writer = await CallWriter.open(other.pk)
    writer.change_call(Call.flag_needs_human)
    await writer.close()
    change = await communicator.receive_json_from(timeout=5)
    assert (change["kind"], change["call"]["id"], change["call"]["needs_human"]) == (
        "call",
        str(other.pk),
        True,
    )
    # Closed: its words no longer come.
    await communicator.send_json_to({"type": "close", "call_id": str(followed.pk)})
    assert await communicator.receive_json_from() == {"kind": "closed", "call_id": str(followed.pk)}
    writer = await CallWriter.open(followed.pk)
    writer.segment("agent", "after the close")
    await writer.close()
    assert await communicator.receive_nothing(timeout=0.5)
    await communicator.disconnect()


async def test_a_monitor_follows_a_bounded_number_of_calls_word_by_word():
    calls = [await call_with_history([]) for _ in range(MAX_OPEN_CALLS + 1)]
    communicator, _, _ = await connect(await supervisor())
    await communicator.receive_json_from()
    for call in calls[:MAX_OPEN_CALLS]:
        await open_call(communicator, call)
    await communicator.send_json_to({"type": "open", "call_id": str(calls[-1].pk)})
    refused = await communicator.receive_json_from()
    assert refused["kind"] == "error" and "close one first" in refused["error"]
    await communicator.send_json_to({"type": "close", "call_id": str(calls[0].pk)})
    await communicator.receive_json_from()
    await open_call(communicator, calls[-1])  # room again
    await communicator.disconnect()


async def test_a_segment_written_by_the_worker_arrives_live_once():
    call = await call_with_history(["Hello"])
    communicator, _, _ = await connect(await supervisor())
    await communicator.receive_json_from()  # snapshot
    await open_call(communicator, call)
    writer = await CallWriter.open(call.pk)
    writer.segment("agent", "Could you read me your VIN?")
    await writer.close()
    message = await communicator.receive_json_from(timeout=5)
    assert message["kind"] == "segment"
    assert (message["sequence"], message["text"]) == (2, "Could you read me your VIN?")
    # Publishing the snapshot's own row again is not sent twice.
    first = await TranscriptSegment.objects.aget(call=call, sequence=1)
    await live_updates.publish(first.to_message())
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_reconnecting_with_the_last_numbers_gets_exactly_the_missing_ones():
    call = await call_with_history(["one", "two", "three", "four"])
    communicator, _, _ = await connect(await supervisor(), f"?resume={call.pk}:2")
    snapshot = await communicator.receive_json_from()
    assert [i["sequence"] for i in snapshot["items"]] == [3, 4]
    writer = await CallWriter.open(call.pk)
    writer.segment("agent", "five")
    await writer.close()
    live = await communicator.receive_json_from(timeout=5)
    assert live["sequence"] == 5
    await communicator.disconnect()


async def test_a_resume_message_replays_what_was_missed_even_for_an_ended_call():
    call = await call_with_history(["one", "two", "three"], status=Call.Status.ENDED)
    communicator, _, _ = await connect(await supervisor())
    snapshot = await communicator.receive_json_from()
    assert snapshot["calls"] == []
    await communicator.send_json_to({"type": "resume", "last": {str(call.pk): 1}})
    resumed = await communicator.receive_json_from()
    assert resumed["kind"] == "resumed"
    assert resumed["calls"][0]["status"] == "ended"
    assert [i["text"] for i in resumed["items"]] == ["two", "three"]
    await communicator.disconnect()


async def test_a_delta_lost_on_the_way_is_filled_in_from_the_database():
    call = await call_with_history(["one"])
    communicator, _, _ = await connect(await supervisor())
    await communicator.receive_json_from()
    await open_call(communicator, call)
    # Rows 2 and 3 are stored, but only row 3's message is published.
    await TranscriptSegment.objects.acreate(call=call, sequence=2, speaker="agent", text="two")
    third = await TranscriptSegment.objects.acreate(
        call=call, sequence=3, speaker="customer", text="three"
    )
    await live_updates.publish(third.to_message())
    received = [await communicator.receive_json_from(timeout=5) for _ in range(2)]
    assert [m["sequence"] for m in received] == [2, 3]
    await communicator.disconnect()


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", '"type"'),
        ('{"type": "dance"}', "Unknown message type"),
        ('{"type": "resume", "last": []}', "must be an object"),
        ('{"type": "resume", "last": {"nope": 1}}', "is not a call id"),
        (
            '{"type": "resume", "last": {"0b6a3c6e-9c9e-4a43-9d0a-2d3f0f4f2a11": -1}}',
            "whole number",
        ),
        (json.dumps({"type": "ping", "pad": "x" * 70000}), "at most"),
        ('{"type": "open", "call_id": "nope"}', '"call_id" must be a call id'),
        ('{"type": "open", "call_id": "0b6a3c6e-9c9e-4a43-9d0a-2d3f0f4f2a11"}', "no such call"),
        (
            '{"type": "open", "call_id": "0b6a3c6e-9c9e-4a43-9d0a-2d3f0f4f2a11", "last": -1}',
            "whole number",
        ),
        ('{"type": "close", "call_id": 7}', '"call_id" must be a call id'),
    ],
)
async def test_malformed_messages_get_an_error_frame_and_the_socket_stays_open(frame, error):
    communicator, _, _ = await connect(await supervisor())
    await communicator.receive_json_from()
    await communicator.send_to(text_data=frame)
    answer = await communicator.receive_json_from()
    assert answer["kind"] == "error"
    assert error in answer["error"]
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from() == {"kind": "pong"}
    await communicator.disconnect()


async def test_the_full_stack_refuses_a_foreign_origin_and_admits_a_supervisors_session(client):
    user = await supervisor()
    await sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    foreign = WebsocketCommunicator(
        application,
        "/ws/monitor/",
        headers=[
            (b"origin", b"https://evil.example"),
            (b"host", b"localhost"),
            (b"cookie", cookie),
        ],
    )
    connected, _ = await foreign.connect()
    assert not connected
    own = WebsocketCommunicator(
        application,
        "/ws/monitor/",
        headers=[(b"origin", b"http://localhost"), (b"host", b"localhost"), (b"cookie", cookie)],
    )
    connected, _ = await own.connect()
    assert connected
    assert (await own.receive_json_from())["kind"] == "snapshot"
    await own.disconnect()


@pytest.mark.redis
async def test_two_supervisors_on_the_redis_layer_both_receive_a_delta():
    call = await call_with_history(["one"])
    user = await supervisor()
    first, _, _ = await connect(user)
    second, _, _ = await connect(user)
    for communicator in (first, second):
        await communicator.receive_json_from()
        await open_call(communicator, call)
    writer = await CallWriter.open(call.pk)
    writer.event(CallEvent.Type.HANDOFF_REQUESTED, {"reason": "angry caller"})
    await writer.close()
    for communicator in (first, second):
        message = await communicator.receive_json_from(timeout=5)
        assert (message["kind"], message["type"], message["sequence"]) == (
            "event",
            "handoff_requested",
            2,
        )
        await communicator.disconnect()
    await asyncio.sleep(0)


def test_the_snapshot_reads_any_number_of_live_calls_in_the_same_few_queries():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from monitoring.consumers import snapshot

    def queries_for(calls: int) -> tuple[int, dict]:
        for number in range(calls):
            call = Call.objects.create(status=Call.Status.ACTIVE, caller=f"web:{number}")
            TranscriptSegment.objects.create(call=call, sequence=1, speaker="agent", text="Hi")
            CallEvent.objects.create(call=call, sequence=2, type=CallEvent.Type.TOOL_CALL)
        opened = {str(pk): 0 for pk in Call.objects.values_list("pk", flat=True)}
        with CaptureQueriesContext(connection) as captured:
            data = snapshot(opened)
        return len(captured), data

    few, _ = queries_for(2)
    many, data = queries_for(10)
    assert many == few
    # Call by call, each in its sequence order.
    by_call = [(item["call_id"], item["sequence"]) for item in data["items"]]
    assert len(by_call) == 24
    assert by_call == sorted(
        by_call, key=lambda pair: ([c["id"] for c in data["calls"]].index(pair[0]), pair[1])
    )


async def test_a_new_waiting_call_and_its_failure_reach_an_open_monitor(
    settings, client, agent_worker_registered
):
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    settings.LIVEKIT_URL = "wss://voice.example.com"
    settings.LIVEKIT_API_KEY = "APItestkey"
    settings.LIVEKIT_API_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"
    communicator, _, _ = await connect(await supervisor())
    assert (await communicator.receive_json_from())["calls"] == []  # the snapshot

    started = await sync_to_async(client.post)("/api/calls/", {}, content_type="application/json")
    assert started.status_code == 201
    waiting = await communicator.receive_json_from(timeout=5)
    assert waiting["kind"] == "call"
    assert (waiting["call"]["id"], waiting["call"]["status"]) == (
        started.json()["call_id"],
        "waiting",
    )

    await Call.objects.filter(pk=waiting["call"]["id"]).aupdate(
        started_at=timezone.now() - timedelta(minutes=10)
    )
    await sync_to_async(call_command)("sweep_stale_calls", "--unanswered-minutes", "2")
    failed = await communicator.receive_json_from(timeout=5)
    assert (failed["call"]["id"], failed["call"]["status"]) == (waiting["call"]["id"], "failed")
    assert failed["call"]["version"] > waiting["call"]["version"]
    await communicator.disconnect()
