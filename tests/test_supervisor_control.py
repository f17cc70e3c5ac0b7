"""Supervisor control: whispers reach the agent only, take-over pauses it, hand-back resumes it
with what was said meanwhile, leases lapse back to the agent, races leave one owner."""

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Permission
from django.utils import timezone
from livekit.agents import AgentSession
from livekit.api import TokenVerifier
from livekit.plugins import openai
from rest_framework.test import APIClient

from agentworker.control import BACK_AFTER_TIMEOUT, SupervisorControl
from agentworker.writer import CallWriter
from callcenter import supervision
from callcenter.models import Call, CallEvent, TranscriptSegment
from monitoring.consumers import MonitorConsumer
from tests.support.agent_job import text_mode_job
from tests.support.monitor_socket import logged_in
from tests.support.scripted_llm import Reply, ScriptedLLMServer

pytestmark = pytest.mark.django_db(transaction=True)
GUIDANCE = "the customer is a fleet account; offer the winter tyre check"


def make_supervisor(django_user_model, name="sup"):
    user = django_user_model.objects.create_user(name, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="monitor_calls"))
    return user


@asynccontextmanager
async def running_call(script, *, lease_check_seconds=5.0):
    call = await Call.objects.acreate(status=Call.Status.ACTIVE)
    async with ScriptedLLMServer(script) as server:
        writer = await CallWriter.open(call.pk)
        model = openai.LLM(model="scripted", base_url=server.base_url, api_key="test")
        async with AgentSession(llm=model) as session:
            job, _recorder = text_mode_job(call, writer, session)
            await session.start(job.agent)
            supervisor_control = SupervisorControl(job, lease_check_seconds=lease_check_seconds)
            supervisor_control.start()
            await asyncio.sleep(0.1)  # joined the control group
            yield call, session, server, writer, supervisor_control
            await supervisor_control.stop()
        await writer.close()


async def supervisor_socket(user):
    communicator = WebsocketCommunicator(MonitorConsumer.as_asgi(), "/ws/monitor/")
    await logged_in(communicator, user)
    assert (await communicator.connect())[0]
    await communicator.receive_json_from()  # snapshot
    return communicator


async def receive_kind(socket, kind):
    """The next frame of ``kind``, skipping live call updates that may come first."""
    for _ in range(10):
        frame = await socket.receive_json_from(timeout=5)
        if frame["kind"] == kind:
            return frame
    raise AssertionError(f"no {kind} frame")


def system_texts(request_body):
    return [m["content"] for m in request_body["messages"] if m["role"] == "system"]


async def test_a_whisper_reaches_the_agents_next_request_but_not_the_callers_transcript(
    django_user_model,
):
    user = await sync_to_async(make_supervisor)(django_user_model)
    script = [Reply(text="Hello!"), Reply(text="Since you run a fleet, may I offer a tyre check?")]
    async with running_call(script) as (call, session, server, writer, _):
        await session.run(user_input="Hi")
        socket = await supervisor_socket(user)
        sent_at = time.monotonic()
        await socket.send_json_to({"type": "whisper", "call_id": str(call.pk), "text": GUIDANCE})
        await receive_kind(socket, "control")
        while not any(GUIDANCE in t for t in system_texts({"messages": _context(session)})):
            assert time.monotonic() - sent_at < 1.0, "the whisper took over a second"
            await asyncio.sleep(0.01)
        await session.run(user_input="Anything else?")
        await writer.flush()
        await socket.disconnect()
    assert any(GUIDANCE in text for text in system_texts(server.requests[-1]))
    segments = [s.text async for s in TranscriptSegment.objects.filter(call=call)]
    assert all(GUIDANCE not in text for text in segments)
    whisper = await CallEvent.objects.aget(call=call, type=CallEvent.Type.WHISPER)
    assert whisper.payload == {"by": "sup", "text": GUIDANCE}


def _context(session):
    return [
        {"role": item.role, "content": item.text_content or ""}
        for item in session.current_agent.chat_ctx.items
        if getattr(item, "role", None)
    ]


async def test_take_over_silences_the_agent_and_hand_back_resumes_with_what_was_said(
    django_user_model,
):
    user = await sync_to_async(make_supervisor)(django_user_model)
    script = [Reply(text="Welcome back, you asked about your brakes.")]
    async with running_call(script) as (call, session, server, writer, _):
        socket = await supervisor_socket(user)
        await socket.send_json_to({"type": "take_over", "call_id": str(call.pk)})
        await receive_kind(socket, "control")
        await asyncio.sleep(0.2)
        await session.run(user_input="My brakes squeak.")
        assert server.requests == []  # the agent kept quiet
        await socket.send_json_to({"type": "hand_back", "call_id": str(call.pk)})
        await receive_kind(socket, "control")
        for _ in range(100):
            if server.requests:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        await writer.flush()
        await socket.disconnect()
    # The resumed reply was generated with the caller's words from the take-over in context.
    assert any("My brakes squeak." in str(m["content"]) for m in server.requests[0]["messages"])
    types = [e.type async for e in CallEvent.objects.filter(call=call).order_by("sequence")]
    assert types[:2] == [CallEvent.Type.TAKE_OVER, CallEvent.Type.HAND_BACK]
    call = await Call.objects.aget(pk=call.pk)
    assert call.controller_id is None


def test_two_supervisors_taking_over_at_once_leave_one_owner(django_user_model):
    first = make_supervisor(django_user_model, "ana")
    second = make_supervisor(django_user_model, "ben")
    call = Call.objects.create(status=Call.Status.ACTIVE)

    def attempt(user):
        try:
            async_to_sync(supervision.take_over)(call.pk, user)
            return "owner"
        except supervision.ControlRefused as refused:
            return str(refused)

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(attempt, [first, second]))
    assert results.count("owner") == 1
    (refusal,) = [r for r in results if r != "owner"]
    assert "already controls this call" in refusal
    call.refresh_from_db()
    assert call.controller in (first, second)
    loser = second if call.controller == first else first
    with pytest.raises(supervision.ControlRefused, match="do not control"):
        async_to_sync(supervision.hand_back)(call.pk, loser)


async def test_a_lapsed_lease_hands_the_call_back_and_says_so(django_user_model):
    user = await sync_to_async(make_supervisor)(django_user_model)
    async with running_call([], lease_check_seconds=0.1) as (call, _session, _server, writer, _):
        await supervision.take_over(call.pk, user)
        await Call.objects.filter(pk=call.pk).aupdate(
            controller_seen_at=timezone.now() - Call.CONTROL_LEASE - timedelta(seconds=1)
        )
        for _ in range(50):
            if (await Call.objects.aget(pk=call.pk)).controller_id is None:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        await writer.flush()
    back = await CallEvent.objects.aget(call=call, type=CallEvent.Type.HAND_BACK)
    assert back.payload["by"] == "timeout"
    said = [s.text async for s in TranscriptSegment.objects.filter(call=call, speaker="agent")]
    assert BACK_AFTER_TIMEOUT in said


async def test_control_messages_are_checked_and_refusals_say_why(django_user_model):
    user = await sync_to_async(make_supervisor)(django_user_model)
    other = await sync_to_async(make_supervisor)(django_user_model, "other")
    call = await Call.objects.acreate(status=Call.Status.ACTIVE)
    await supervision.take_over(call.pk, other)
    socket = await supervisor_socket(user)
    for frame, error in [
        ({"type": "take_over", "call_id": str(call.pk)}, "other already controls this call"),
        ({"type": "hand_back", "call_id": str(call.pk)}, "You do not control this call"),
        ({"type": "whisper", "call_id": "nope", "text": "x"}, "must be a call id"),
        ({"type": "whisper", "call_id": str(call.pk), "text": ""}, "needs some text"),
        ({"type": "whisper", "call_id": str(call.pk), "text": "x" * 501}, "at most 500"),
        ({"type": "transfer", "call_id": str(call.pk)}, "Only phone calls can be transferred"),
    ]:
        await socket.send_json_to(frame)
        answer = await socket.receive_json_from()
        assert answer["kind"] == "error" and error in answer["error"], (frame, answer)
    # Pinging keeps the lease of the calls one controls.
    await socket.send_json_to({"type": "ping"})
    await socket.receive_json_from()
    await socket.disconnect()


def test_barge_in_token_may_speak_and_is_visible(settings, django_user_model):
    settings.LIVEKIT_URL = "wss://voice.example.com"
    settings.LIVEKIT_API_KEY = "APIbarge"
    settings.LIVEKIT_API_SECRET = "barge-secret-0123456789-0123456789-01234"
    user = make_supervisor(django_user_model)
    call = Call.objects.create(status=Call.Status.ACTIVE)
    client = APIClient()
    client.force_authenticate(user)
    answer = client.post(f"/api/calls/{call.pk}/barge-in/").json()
    claims = TokenVerifier("APIbarge", "barge-secret-0123456789-0123456789-01234").verify(
        answer["token"]
    )
    assert claims.video.room == call.room_name
    assert claims.video.can_publish is True
    assert claims.video.can_publish_sources == ["microphone"]
    assert claims.video.can_publish_data is False
    assert not claims.video.hidden
    customer = django_user_model.objects.create_user("cust")
    client.force_authenticate(customer)
    assert client.post(f"/api/calls/{call.pk}/barge-in/").status_code == 403


async def test_an_action_no_job_acknowledges_is_reported_as_not_reaching_the_agent(
    django_user_model, monkeypatch
):
    monkeypatch.setattr(supervision, "ACK_TIMEOUT_SECONDS", 0.3)
    user = await sync_to_async(make_supervisor)(django_user_model)
    call = await Call.objects.acreate(status=Call.Status.ACTIVE)  # no job serves it
    socket = await supervisor_socket(user)
    await socket.send_json_to({"type": "whisper", "call_id": str(call.pk), "text": GUIDANCE})
    error = await receive_kind(socket, "error")
    assert error["action"] == "whisper"
    assert "did not confirm your whisper" in error["error"]
    await socket.send_json_to({"type": "take_over", "call_id": str(call.pk)})
    error = await receive_kind(socket, "error")
    assert error["action"] == "take_over"
    assert "did not confirm that you took over" in error["error"]
    await socket.disconnect()


async def frames_for(socket, seconds: float) -> list[dict]:
    frames = []
    while not await socket.receive_nothing(timeout=seconds):
        frames.append(await socket.receive_json_from())
    return frames


async def test_the_job_acknowledges_each_command_to_the_socket_that_sent_it(django_user_model):
    user = await sync_to_async(make_supervisor)(django_user_model)
    other = await sync_to_async(make_supervisor)(django_user_model, "other")
    async with running_call([]) as (call, session, _server, writer, _control):
        socket, watcher = await supervisor_socket(user), await supervisor_socket(other)
        await watcher.send_json_to({"type": "open", "call_id": str(call.pk)})
        await receive_kind(watcher, "opened")
        await socket.send_json_to({"type": "whisper", "call_id": str(call.pk), "text": GUIDANCE})
        confirmed = await receive_kind(socket, "control")
        assert (confirmed["action"], confirmed["call_id"]) == ("whisper", str(call.pk))
        # The agent had the note before the page was told.
        notes = [item.text_content or "" for item in _notes(session)]
        assert any(GUIDANCE in note for note in notes)
        # The other supervisor, who has the call open, sees the whisper event, but no
        # confirmation of another's action.
        seen = await frames_for(watcher, 0.5)
        assert "event" in {frame["kind"] for frame in seen}
        assert "control" not in {frame["kind"] for frame in seen}
        await writer.flush()
        await socket.disconnect()
        await watcher.disconnect()


def _notes(session):
    return [i for i in session.current_agent.chat_ctx.items if getattr(i, "role", "") == "system"]


async def test_a_supervisors_transfer_reaches_the_job_of_a_phone_call(django_user_model):
    from channels.layers import get_channel_layer

    user = await sync_to_async(make_supervisor)(django_user_model)
    call = await Call.objects.acreate(status=Call.Status.ACTIVE, channel=Call.Channel.PHONE)
    layer = get_channel_layer()
    job_channel = await layer.new_channel()
    await layer.group_add(supervision.command_group(call.pk), job_channel)
    socket = await supervisor_socket(user)
    await socket.send_json_to({"type": "transfer", "call_id": str(call.pk)})
    sent = await asyncio.wait_for(layer.receive(job_channel), 5)
    command = supervision.SupervisorCommand.from_message(sent)
    assert (command.action, command.by) == ("transfer", "sup")
    await socket.disconnect()


async def test_a_call_another_supervisor_took_over_is_theirs_to_transfer(django_user_model):
    from channels.layers import get_channel_layer

    owner = await sync_to_async(make_supervisor)(django_user_model, "owner")
    other = await sync_to_async(make_supervisor)(django_user_model, "other")
    call = await Call.objects.acreate(status=Call.Status.ACTIVE, channel=Call.Channel.PHONE)
    assert await sync_to_async(call.take_over)(owner)
    layer = get_channel_layer()
    job_channel = await layer.new_channel()
    await layer.group_add(supervision.command_group(call.pk), job_channel)

    socket = await supervisor_socket(other)
    await socket.send_json_to({"type": "transfer", "call_id": str(call.pk)})
    refused = await receive_kind(socket, "error")
    assert "owner controls this call; only they can transfer it" in refused["error"]
    await socket.disconnect()

    socket = await supervisor_socket(owner)
    await socket.send_json_to({"type": "transfer", "call_id": str(call.pk)})
    sent = await asyncio.wait_for(layer.receive(job_channel), 5)
    assert supervision.SupervisorCommand.from_message(sent).by == "owner"
    await socket.disconnect()
