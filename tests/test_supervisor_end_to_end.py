"""The supervisor's tools on a real call: the monitor and listen-in through livekit-server.

A caller's call runs as in ``test_call_end_to_end`` (Chromium with a fake microphone, the real
server, ``runagent dev``); a supervisor in a second Chromium watches it on ``/monitor/``.
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.test import Client
from livekit import api
from playwright.sync_api import expect

from agentworker.agent import CALLER_MARK
from agentworker.control import BACK_AFTER_TIMEOUT
from callcenter.livekit_tokens import SUPERVISOR_IDENTITY_PREFIX
from callcenter.models import Call, CallEvent, TranscriptSegment
from tests.support.scripted_llm import ExpectedSpeech, Reply
from tests.support.service_desk_script import (
    ANSWER,
    CALLER_SAYS,
    GREETING,
    SUMMARY,
    VIN,
    service_desk,
)
from tests.support.voice_stack import (
    HEARD,
    REMOTE_AUDIO_METER,
    heard_from,
    page_time,
    silence_wav,
    speech_wav,
    wait_until,
)
from vehicles.models import Vehicle

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.slow]


def supervisor_page(stack, caller_browser, tmp_path, user, microphone=None):
    """The monitor in a Chromium of its own, logged in as ``user`` (its microphone silent
    unless a WAV is given)."""
    if microphone is None:
        microphone = tmp_path / "supervisor-silence.wav"
        silence_wav(microphone)
    page = caller_browser(microphone)
    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value,
          "domain": "127.0.0.1", "path": "/"}]
    )  # fmt: skip
    page.add_init_script(REMOTE_AUDIO_METER)
    page.goto(stack.web_url + "/monitor/")
    expect(page.locator("#connection")).to_have_text("Live", timeout=15000)
    return page


def participants(stack, room: str) -> list:
    """The room's participants as livekit-server lists them (its own API)."""

    async def listed():
        async with api.LiveKitAPI(stack.livekit_url, stack.api_key, stack.api_secret) as lkapi:
            answer = await lkapi.room.list_participants(api.ListParticipantsRequest(room=room))
            return list(answer.participants)

    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, listed()).result()


def test_a_supervisor_watches_a_real_call_live_and_listens_in_hidden(
    e2e_stack, caller_browser, tmp_path, staff_user
):
    Vehicle.objects.create(vin=VIN, make="Honda", model="Accord", year=2003)
    monitor = supervisor_page(e2e_stack, caller_browser, tmp_path, staff_user)
    microphone = tmp_path / "caller.wav"
    seconds = speech_wav(microphone, CALLER_SAYS, leading_silence=12)
    e2e_stack.script(service_desk, [ExpectedSpeech(CALLER_SAYS, seconds - 1.0, seconds + 2.5)])
    caller = caller_browser(microphone)
    caller.goto(e2e_stack.web_url + "/")
    caller.get_by_role("button", name="Call", exact=True).click()
    expect(caller.locator("#call-app")).to_have_attribute("data-state", "inCall", timeout=30000)
    call = Call.objects.get()

    # The call appears on the monitor; its transcript grows live, in order.
    monitor.get_by_role("button", name=call.caller).click()
    transcript = monitor.locator("#transcript")
    expect(transcript).to_contain_text(GREETING, timeout=20000)

    # Listen in: hidden, subscribe only; the supervisor hears the call.
    before_listening = page_time(monitor)
    monitor.get_by_role("button", name="Listen in").click()
    expect(monitor.locator("#listen-status")).to_contain_text("Listening", timeout=15000)
    listener = wait_until(
        lambda: [
            p
            for p in participants(e2e_stack, call.room_name)
            if p.identity.startswith(SUPERVISOR_IDENTITY_PREFIX)
        ],
        15,
        "the listener to join the room",
    )[0]
    assert listener.permission.hidden and not listener.permission.can_publish

    expect(transcript).to_contain_text(CALLER_SAYS, timeout=40000)
    # The tool call inline; the VIN the caller spoke reads as its 17 characters.
    lookup = f"Looked up {VIN}"
    found = f"{lookup}: Found on file: 2003 “Honda Accord”"
    expect(transcript).to_contain_text(found, timeout=20000)
    expect(transcript).to_contain_text(ANSWER, timeout=20000)
    monitor.wait_for_function(HEARD, arg=before_listening, timeout=20000)
    items = transcript.locator("li").all_inner_texts()
    order = [GREETING, CALLER_SAYS, lookup, ANSWER]
    positions = [next(i for i, text in enumerate(items) if part in text) for part in order]
    assert positions == sorted(positions), items

    # Leaving stops it, and nobody in the room ever saw the listener.
    monitor.get_by_role("button", name="Stop listening").click()
    wait_until(
        lambda: (
            not any(
                p.identity.startswith(SUPERVISOR_IDENTITY_PREFIX)
                for p in participants(e2e_stack, call.room_name)
            )
        ),
        15,
        "the listener to leave the room",
    )
    joined = call.events.filter(type=CallEvent.Type.PARTICIPANT_JOINED)
    assert not any(e.payload["identity"].startswith(SUPERVISOR_IDENTITY_PREFIX) for e in joined), (
        "the agent saw the hidden listener"
    )

    caller.get_by_role("button", name="Hang up").click()
    e2e_stack.wait_for_job_end(call.pk)


WHISPER = "offer the winter tyre check"
ASKED_MEANWHILE = "Are you still there?"


def echoing_desk(request: dict) -> Reply:
    """Greets, answers each typed line with what it heard, summarises."""
    messages = request["messages"]
    if str(messages[0].get("content", "")).startswith("You summarise calls"):
        return Reply(text=json.dumps(SUMMARY))
    last = messages[-1]
    if last["role"] == "user":
        heard = str(last["content"]).removeprefix(CALLER_MARK)  # the agent marks the caller's
        return Reply(text=f"You said {heard[:40]}")
    if any(m["role"] == "user" for m in messages):
        return Reply(text="I'm back with you.")
    return Reply(text=GREETING)


def requests_with(stack, text: str) -> list[dict]:
    return [body for body in list(stack.models.requests) if text in json.dumps(body)]


def typed_call(stack, caller_browser, tmp_path, monitor, transcripts=None):
    """A caller on the typed path (silent microphone), selected on the monitor."""
    microphone = tmp_path / "caller-silence.wav"
    silence_wav(microphone)
    stack.script(echoing_desk, transcripts)
    caller = caller_browser(microphone)
    caller.goto(stack.web_url + "/")
    caller.get_by_role("button", name="Call", exact=True).click()
    expect(caller.locator("#captions")).to_contain_text(GREETING, timeout=30000)
    call = Call.objects.get()
    monitor.get_by_role("button", name=call.caller).click()
    expect(monitor.locator("#transcript")).to_contain_text(GREETING, timeout=15000)
    return caller, call


def type_as_caller(caller, text: str) -> None:
    caller.get_by_label("Type a message to the assistant").fill(text)
    caller.get_by_role("button", name="Send").click()


def test_whisper_take_over_and_hand_back_on_a_real_call(
    e2e_stack, caller_browser, tmp_path, staff_user
):
    monitor = supervisor_page(e2e_stack, caller_browser, tmp_path, staff_user)
    caller, call = typed_call(e2e_stack, caller_browser, tmp_path, monitor)
    status = monitor.locator("#control-status")

    # Whisper: the agent's next request carries the note; the caller never sees it.
    monitor.locator("#whisper-input").fill(WHISPER)
    monitor.locator("#whisper-input").press("Enter")
    expect(status).to_contain_text("Whisper sent", timeout=10000)
    transcript = monitor.locator("#transcript")
    expect(transcript).to_contain_text(f"{staff_user.username} whispered: {WHISPER}")
    type_as_caller(caller, "What else can you do?")
    expect(caller.locator("#captions")).to_contain_text("You said What else", timeout=30000)
    answered = requests_with(e2e_stack, "What else can you do?")
    assert answered and WHISPER in json.dumps(answered[-1]["messages"])
    assert WHISPER not in caller.locator("#captions").inner_text()
    assert not call.segments.filter(text__icontains="winter tyre").exists()

    # Take over: the caller speaks (types) and the agent does not answer.
    monitor.get_by_role("button", name="Take over").click()
    expect(monitor.get_by_role("button", name="Hand back to the agent")).to_be_visible(
        timeout=10000
    )
    expect(transcript).to_contain_text(f"{staff_user.username} took over", timeout=10000)
    type_as_caller(caller, ASKED_MEANWHILE)
    caller.wait_for_timeout(5000)
    assert requests_with(e2e_stack, ASKED_MEANWHILE) == []
    assert "You said Are you" not in caller.locator("#captions").inner_text()

    # Hand back: the agent picks up, knowing what was said meanwhile.
    monitor.get_by_role("button", name="Hand back to the agent").click()
    wait_until(lambda: requests_with(e2e_stack, ASKED_MEANWHILE), 20, "the agent to resume")
    expect(caller.locator("#captions")).to_contain_text("back with you", timeout=20000)
    kinds = list(call.events.order_by("sequence").values_list("type", flat=True))
    whisper, take, give = (CallEvent.Type.WHISPER, CallEvent.Type.TAKE_OVER,
                           CallEvent.Type.HAND_BACK)  # fmt: skip
    assert kinds.index(whisper) < kinds.index(take) < kinds.index(give)
    caller.get_by_role("button", name="Hang up").click()
    e2e_stack.wait_for_job_end(call.pk)


def test_when_the_owners_page_closes_the_lease_lapses_and_the_agent_resumes(
    e2e_stack, caller_browser, tmp_path, staff_user
):
    monitor = supervisor_page(e2e_stack, caller_browser, tmp_path, staff_user)
    caller, call = typed_call(e2e_stack, caller_browser, tmp_path, monitor)
    monitor.get_by_role("button", name="Take over").click()
    wait_until(lambda: call.events.filter(type=CallEvent.Type.TAKE_OVER).exists(), 15, "ack")

    monitor.context.browser.close()  # the owner's page is gone: no more lease renewals

    handed_back = wait_until(
        lambda: call.events.filter(type=CallEvent.Type.HAND_BACK).first(),
        Call.CONTROL_LEASE.total_seconds() + 30,
        "the lease to lapse",
    )
    assert handed_back.payload["by"] == "timeout"
    expect(caller.locator("#captions")).to_contain_text(BACK_AFTER_TIMEOUT, timeout=20000)
    call.refresh_from_db()
    assert call.controller_id is None
    caller.get_by_role("button", name="Hang up").click()
    e2e_stack.wait_for_job_end(call.pk)


SUPERVISOR_SAYS = "Hello this is Jane the service manager and I will look after your warranty claim"


def test_a_supervisor_joins_the_call_and_is_heard_by_the_caller_and_the_agent(
    e2e_stack, caller_browser, tmp_path, staff_user
):
    microphone = tmp_path / "supervisor.wav"
    seconds = speech_wav(microphone, SUPERVISOR_SAYS, leading_silence=3)
    monitor = supervisor_page(e2e_stack, caller_browser, tmp_path, staff_user, microphone)
    speech = ExpectedSpeech(SUPERVISOR_SAYS, seconds - 1.0, seconds + 2.5)
    caller, call = typed_call(e2e_stack, caller_browser, tmp_path, monitor, [speech])
    caller.evaluate(REMOTE_AUDIO_METER)  # meters the agent's track and the next ones
    before = page_time(caller)

    monitor.get_by_role("button", name="Join the call").click()
    expect(monitor.locator("#control-status")).to_contain_text("You are on the call", timeout=15000)
    # The caller hears the supervisor on a track of their own.
    caller.wait_for_function(heard_from(SUPERVISOR_IDENTITY_PREFIX), arg=before, timeout=30000)
    # Their words are a supervisor segment, live on the monitor and stored.
    wait_until(
        lambda: call.segments.filter(speaker=TranscriptSegment.Speaker.SUPERVISOR).first(),
        40,
        "the supervisor's words to be transcribed",
    )
    assert e2e_stack.models.unexpected_audio == []
    said = call.segments.get(speaker=TranscriptSegment.Speaker.SUPERVISOR)
    assert said.text == SUPERVISOR_SAYS
    expect(monitor.locator("#transcript")).to_contain_text(SUPERVISOR_SAYS, timeout=10000)
    assert call.events.filter(type=CallEvent.Type.BARGE_IN).exists()

    # The agent held back while the supervisor spoke, and knows what was said.
    caller.wait_for_timeout(5000)  # the supervisor's floor (4 s) passes
    type_as_caller(caller, "Thank you Jane")
    expect(caller.locator("#captions")).to_contain_text("You said Thank you Jane", timeout=30000)
    answered = requests_with(e2e_stack, "Thank you Jane")
    assert answered and SUPERVISOR_SAYS in json.dumps(answered[-1]["messages"])
    caller.get_by_role("button", name="Hang up").click()
    e2e_stack.wait_for_job_end(call.pk)
