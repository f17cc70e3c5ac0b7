"""Key presses of a phone caller (DTMF, which livekit-sip forwards from RFC 2833 events):
digits pressed in one go become one event on the call (the monitor shows it) and one message
to the agent, who may take a 1 or a 2 as an answer or digits of a VIN."""

from __future__ import annotations

import asyncio
import logging

from livekit import rtc

from agentworker.call_job import CallJob
from callcenter.models import CallEvent

logger = logging.getLogger(__name__)

# Digits pressed within this long of each other are one entry; # ends an entry at once.
ENTRY_PAUSE_SECONDS = 1.5


def keypad_message(digits: str) -> str:
    """What the agent reads for an entry (the instructions say how to take it)."""
    return f"[keypad: {' '.join(digits)}]"


class Keypad:
    def __init__(self, job: CallJob) -> None:
        self.job = job
        self.digits = ""
        self._entry: asyncio.TimerHandle | None = None

    def attach(self, room: rtc.Room) -> None:
        room.on("sip_dtmf_received", self.on_key)

    def on_key(self, dtmf: rtc.SipDTMF) -> None:
        if dtmf.digit == "#":
            self.finish_entry()
            return
        self.digits += dtmf.digit
        if self._entry is not None:
            self._entry.cancel()
        self._entry = asyncio.get_running_loop().call_later(ENTRY_PAUSE_SECONDS, self.finish_entry)

    def finish_entry(self) -> None:
        if self._entry is not None:
            self._entry.cancel()
            self._entry = None
        digits, self.digits = self.digits, ""
        if not digits:
            return
        self.job.writer.event(CallEvent.Type.KEY_PRESSED, {"digits": digits})
        if self.job.agent.holding_back:
            return  # a supervisor has the call: the keys are on record, the agent stays quiet
        try:
            self.job.session.generate_reply(user_input=keypad_message(digits))
        except RuntimeError:
            logger.warning("call %s: keys pressed after the session closed", self.job.call.pk)
