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
# What a telephone keypad can send (RFC 4733 events 0-15), one key a packet.
KEYS = frozenset("0123456789*#ABCD")
# The longest entry kept: a VIN is 17 keys; nothing a caller types here is longer.
ENTRY_MAX_KEYS = 32


def keypad_message(digits: str) -> str:
    """What the agent reads for an entry (the instructions say how to take it)."""
    return f"[keypad: {' '.join(digits)}]"


class Keypad:
    """Key presses become entries for the agent. Only a phone caller (a SIP participant) has a
    keypad: a web participant may publish DTMF packets with any text, which are dropped."""

    def __init__(self, job: CallJob) -> None:
        self.job = job
        self.digits = ""
        self._entry: asyncio.TimerHandle | None = None
        self._dropped_logged = False

    def attach(self, room: rtc.Room) -> None:
        room.on("sip_dtmf_received", self.on_key)

    def on_key(self, dtmf: rtc.SipDTMF) -> None:
        sender = dtmf.participant
        if sender is None or sender.kind != rtc.ParticipantKind.PARTICIPANT_KIND_SIP:
            self._drop("from a participant without a keypad")
            return
        if dtmf.digit not in KEYS:
            self._drop("that is not one keypad key")
            return
        if len(self.digits) >= ENTRY_MAX_KEYS and dtmf.digit != "#":
            self._drop(f"past {ENTRY_MAX_KEYS} keys in one entry")
            return
        if dtmf.digit == "#":
            self.finish_entry()
            return
        self.digits += dtmf.digit
        if self._entry is not None:
            self._entry.cancel()
        self._entry = asyncio.get_running_loop().call_later(ENTRY_PAUSE_SECONDS, self.finish_entry)

    def _drop(self, why: str) -> None:
        if not self._dropped_logged:  # once a call: a flood must not flood the log too
            self._dropped_logged = True
            logger.warning("call %s: key presses dropped, %s", self.job.call.pk, why)

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
