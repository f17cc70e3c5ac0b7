"""The agent job's side of supervisor control: whispers, take-over, hand-back, barge-in.

Commands (``callcenter.supervision.SupervisorCommand``) arrive on the channel layer, so the
web process and the worker may run on different machines. Every command is recorded as a
CallEvent by the call's writer (which owns the call's sequence numbers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.utils import timezone

from agentworker.call_job import CallJob
from agentworker.phone_transfer import PhoneTransfer
from callcenter.live_updates import publish_call_change
from callcenter.models import Call, CallEvent
from callcenter.supervision import SupervisorCommand, acknowledge, command_group
from desk import routing
from desk.live import announce_desk_change

logger = logging.getLogger(__name__)

LEASE_CHECK_SECONDS = 5.0
RESUME_INSTRUCTIONS = (
    "A colleague (a supervisor or a person from the desk) spoke with the caller for a while; "
    "the conversation so far includes it. Pick up from there in one short sentence."
)
BACK_AFTER_TIMEOUT = "Thanks for waiting. I'm back with you; how can I help?"
SUPERVISOR_JOINED = "A supervisor from our team has joined the call."


class SupervisorControl:
    """Applies supervisor commands to one running agent session."""

    def __init__(self, job: CallJob, *, lease_check_seconds: float = LEASE_CHECK_SECONDS) -> None:
        self.job = job
        self.call_id = job.call_id
        self.agent = job.agent
        self.session = job.session
        self.writer = job.writer
        self.lease_check_seconds = lease_check_seconds
        self._task: asyncio.Task | None = None
        self._transfer: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name=f"control-{self.call_id}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _listen(self) -> None:
        """Listen for commands for as long as the call lasts, through channel-layer outages
        (the lease is still checked meanwhile: it lives in the database)."""
        while True:
            try:
                await self._listen_on_layer()
            except Exception:
                logger.warning("call %s: control channel unavailable, retrying", self.call_id)
            await asyncio.sleep(self.lease_check_seconds)
            try:
                await self.check_lease()
            except Exception:
                logger.warning("call %s: lease check failed", self.call_id, exc_info=True)

    async def _listen_on_layer(self) -> None:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(command_group(self.call_id), channel)
        # One receive stays pending across lease checks: cancelling a receive makes the
        # pub/sub layer drop the channel's subscription, and a command could slip by.
        receiving: asyncio.Future | None = None
        try:
            while True:
                receiving = receiving or asyncio.ensure_future(layer.receive(channel))
                done, _ = await asyncio.wait({receiving}, timeout=self.lease_check_seconds)
                if not done:
                    await self.check_lease()
                    continue
                message, receiving = receiving.result(), None
                try:
                    command = SupervisorCommand.from_message(message)
                    await self.apply(command)
                    await acknowledge(self.call_id, command)
                except Exception:
                    logger.exception("call %s: control command failed", self.call_id)
        finally:
            if receiving is not None:
                receiving.cancel()
            with contextlib.suppress(Exception):
                await layer.group_discard(command_group(self.call_id), channel)

    async def apply(self, command: SupervisorCommand) -> None:
        """Carry out one command and record it."""
        if command.action == "whisper":
            await self.agent.add_guidance(command.text)
            self.writer.event(CallEvent.Type.WHISPER, {"by": command.by, "text": command.text})
        elif command.action == "take_over":
            self.agent.paused = True
            self.session.interrupt()
            self.writer.event(CallEvent.Type.TAKE_OVER, {"by": command.by})
        elif command.action == "hand_back":
            await self._resume({"by": command.by})
        elif command.action == "barge_in":
            self.writer.event(CallEvent.Type.BARGE_IN, {"by": command.by})
            self.session.say(SUPERVISOR_JOINED)
        elif command.action == "transfer":
            # Acknowledged at once; the transfer (a sentence, then the REFER) records its
            # own result as an event when it is done.
            self._transfer = asyncio.create_task(PhoneTransfer(self.job).transfer(by=command.by))

    async def _resume(self, payload: dict, *, announcement: str = "") -> None:
        self.agent.paused = False
        self.writer.event(CallEvent.Type.HAND_BACK, payload)
        if announcement:
            self.session.say(announcement)
        else:
            self.session.generate_reply(instructions=RESUME_INSTRUCTIONS)

    async def check_lease(self) -> bool:
        """Hand the call back when its controller's lease lapsed; True when it did."""
        call = await Call.objects.filter(pk=self.call_id).afirst()
        if call is None or not call.control_lapsed():
            return False
        released = await sync_to_async(call.release_control)(call.controller_id)
        if released:
            payload = {"by": "timeout", "at": timezone.now().isoformat()}
            await self._resume(payload, announcement=BACK_AFTER_TIMEOUT)
            try:
                person = await sync_to_async(routing.person_gone)(self.call_id)
                if person is not None:
                    await announce_desk_change([person])
                await publish_call_change(self.call_id)
            except Exception:  # stored; the pages read it on their next snapshot
                logger.warning("call %s: publishing the hand-back failed", self.call_id)
        return released
