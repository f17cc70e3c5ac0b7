"""Cold transfer of a phone caller to a person (SIP REFER through livekit-sip): after the
agent asked for a person and no supervisor took the call over within
``PHONE_TRANSFER_AFTER_SECONDS``, the caller hears a sentence and is handed to their line's
transfer destination; outside its opening hours the agent is told nobody is there instead
(a supervisor's own transfer is theirs to judge). Every attempt is a ``transfer`` event with
its result."""

from __future__ import annotations

import asyncio
import logging

from django.conf import settings
from livekit import api, rtc
from livekit.agents import get_job_context

from agentworker.call_job import CallJob
from callcenter.models import Call, CallEvent

logger = logging.getLogger(__name__)

TRANSFER_SENTENCE = "I'm transferring you to a colleague now. Please hold the line."
TRANSFER_FAILED_SENTENCE = "I'm sorry, I couldn't reach a colleague. I'll keep helping you."


class PhoneTransfer:
    def __init__(self, job: CallJob) -> None:
        self.job = job
        self._waiting: asyncio.Task | None = None

    async def after_handoff(self, reason: str = "") -> str | None:
        """The agent asked for a person: transfer unless a supervisor takes the call first.
        Outside the line's opening hours nobody is there to take it: the agent is told so
        (the answer), and nothing is scheduled."""
        line = self.job.line
        if line is not None and line.transfer_to and not line.is_open():
            result = "not transferred: outside the line's opening hours"
            self.job.writer.event(
                CallEvent.Type.TRANSFER, {"to": line.transfer_to, "by": "", "result": result}
            )
            return (
                f"No colleague can take the call now: they take calls {line.hours_spoken}. "
                "Tell the caller, and help them yourself or book them an appointment."
            )
        if self._waiting is None or self._waiting.done():
            self._waiting = asyncio.create_task(self._after_a_wait())
        return None

    async def _after_a_wait(self) -> None:
        await asyncio.sleep(settings.PHONE_TRANSFER_AFTER_SECONDS)
        call = await Call.objects.aget(pk=self.job.call.pk)
        if call.controller_id is not None or not call.is_live:
            return  # a supervisor has the caller, or the caller has gone
        await self.transfer(by="")

    async def transfer(self, *, by: str) -> str:
        """Transfer now; returns the result as stored on the event."""
        destination = self.job.line.transfer_to if self.job.line else ""
        if not destination:
            result = "not transferred: the line has no transfer destination"
            self.job.writer.event(CallEvent.Type.TRANSFER, {"to": "", "by": by, "result": result})
            return result
        session = self.job.session
        if not self.job.agent.paused:  # a supervisor who has the call speaks for themselves
            await session.say(TRANSFER_SENTENCE, allow_interruptions=False)
        context = get_job_context()
        sip = rtc.ParticipantKind.PARTICIPANT_KIND_SIP
        caller = next((p for p in context.room.remote_participants.values() if p.kind == sip), None)
        try:
            if caller is None:
                raise RuntimeError("the caller is no longer on the line")
            await context.api.sip.transfer_sip_participant(
                api.TransferSIPParticipantRequest(
                    room_name=context.room.name,
                    participant_identity=caller.identity,
                    transfer_to=destination,
                    play_dialtone=False,
                )
            )
            result = "transferred"
        except Exception as error:
            logger.warning(
                "call %s: transfer to %s failed", self.job.call_id, destination, exc_info=True
            )
            result = f"failed: {error}"
            session.say(TRANSFER_FAILED_SENTENCE)
        self.job.writer.event(
            CallEvent.Type.TRANSFER, {"to": destination, "by": by, "result": result}
        )
        return result
