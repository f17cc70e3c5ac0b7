"""Key presses reach the agent only from a phone caller's keypad: one key from 0-9 * # A-D a
packet, at most ENTRY_MAX_KEYS an entry. A web participant may publish DTMF packets with any
text (the caller token can publish data); those are dropped and logged once per call. Real
writer and text-mode session; the packets are rtc.SipDTMF as the room gives them."""

import asyncio
import logging
from types import SimpleNamespace

import pytest
from livekit import rtc

from agentworker.agent import as_callers
from agentworker.call_job import CallJob
from agentworker.keypad import ENTRY_MAX_KEYS, Keypad, keypad_message
from callcenter.models import CallEvent
from tests.support.agent_job import agent_call
from tests.support.scripted_llm import Reply

pytestmark = pytest.mark.django_db(transaction=True)

PHONE_CALLER = SimpleNamespace(kind=rtc.ParticipantKind.PARTICIPANT_KIND_SIP, identity="sip_x")
WEB_CALLER = SimpleNamespace(kind=rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD, identity="web")


def press(keypad: Keypad, digit: str, sender=PHONE_CALLER) -> None:
    keypad.on_key(rtc.SipDTMF(code=0, digit=digit, participant=sender))


async def entries_after(presses) -> tuple[list[str], list[str]]:
    """The entries stored as events, and what the model read, after ``presses(keypad)``."""
    async with agent_call([Reply(text="Thank you.")] * 4) as (session, call, server, writer, _):
        keypad = Keypad(CallJob(call, writer, session.current_agent, session))
        presses(keypad)
        keypad.finish_entry()
        await writer.flush()
        for _ in range(50):  # an entry is a turn: wait for the model's request, up to 5 s
            if server.requests or not await call.events.aexists():
                break
            await asyncio.sleep(0.1)
    events = [
        event.payload["digits"]
        async for event in CallEvent.objects.filter(call=call, type=CallEvent.Type.KEY_PRESSED)
    ]
    read = [m["content"] for r in server.requests for m in r["messages"] if m["role"] == "user"]
    return events, read


async def test_a_phone_callers_keys_become_one_entry():
    def presses(keypad):
        for digit in "12*":
            press(keypad, digit)

    events, read = await entries_after(presses)
    assert events == ["12*"]
    assert read == [as_callers(keypad_message("12*"))]


async def test_dtmf_from_a_web_participant_is_dropped_and_logged_once(caplog):
    def presses(keypad):
        for _ in range(1500):
            press(keypad, "1" * 4000, sender=WEB_CALLER)
            press(keypad, "1", sender=WEB_CALLER)

    with caplog.at_level(logging.WARNING, logger="agentworker.keypad"):
        events, read = await entries_after(presses)
    assert events == [] and read == []
    dropped = [r for r in caplog.records if "key presses dropped" in r.getMessage()]
    assert len(dropped) == 1 and "without a keypad" in dropped[0].getMessage()


async def test_a_packet_that_is_not_one_key_is_dropped():
    def presses(keypad):
        for digit in ("1", "4" * 4000, "", "x", "2"):
            press(keypad, digit)

    events, _ = await entries_after(presses)
    assert events == ["12"]


async def test_an_entry_stops_growing_at_the_longest_a_caller_types():
    def presses(keypad):
        for _ in range(10_000):
            press(keypad, "7")

    events, read = await entries_after(presses)
    assert events == ["7" * ENTRY_MAX_KEYS]
    assert read == [as_callers(keypad_message("7" * ENTRY_MAX_KEYS))]
