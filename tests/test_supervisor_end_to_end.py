"""The supervisor's tools on a real call: the monitor and listen-in through livekit-server.

A caller's call runs as in ``test_call_end_to_end`` (Chromium with a fake microphone, the real
server, ``runagent dev``); a supervisor in a second Chromium watches it on ``/monitor/``.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.test import Client
from livekit import api
from playwright.sync_api import expect

from callcenter.livekit_tokens import SUPERVISOR_IDENTITY_PREFIX
from callcenter.models import Call, CallEvent
from tests.support.scripted_llm import ExpectedSpeech
from tests.support.voice_stack import silence_wav, speech_wav
from tests.test_call_end_to_end import (
    ANSWER,
    CALLER_SAYS,
    GREETING,
    HEARD,
    REMOTE_AUDIO_METER,
    VIN,
    page_time,
    service_desk,
    wait_until,
)
from vehicles.models import Vehicle

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.slow]


def supervisor_page(stack, caller_browser, tmp_path, user):
    """The monitor in a Chromium of its own, logged in as ``user``."""
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
    # The tool call inline, with what the model passed (the VIN as the caller spoke it).
    lookup = "Looked up one H G C M eight two six three three A zero zero four three five two"
    expect(transcript).to_contain_text(f"{lookup}: Found on file: 2003 Honda Accord", timeout=20000)
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
