"""A call taken up by a new job after its agent was lost: its worker died mid-call, or the
media node hosting its room did and the caller came back through another.

Everything the conversation needs is in the database: the transcript, the tools' answers,
the supervisors' notes, the call's vehicle and control. The new job rebuilds the model's
conversation from them, so the caller never repeats what they gave, tells the caller once
that it is back, and records how long the call was without its agent.

The job that lost the call may still be running (a media node died, not its worker): it
learns that another job took over from its fenced writer (``agentworker.writer``) or when its
room connection comes back, and leaves without touching the call (``RoomWatch``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket

from asgiref.sync import sync_to_async
from django.utils import timezone
from livekit import rtc
from livekit.agents import llm

from callcenter.livekit_tokens import agent_identity
from callcenter.models import Call, CallEvent, TranscriptSegment

logger = logging.getLogger(__name__)

# What the caller hears once when the agent is back: no new greeting, no question repeated.
BACK_SAID = "Sorry, we were cut off for a moment. I am back with you."
BACK_INSTRUCTIONS = (
    "The call was cut off for a moment and you are back: the conversation so far is above. "
    "Do not greet the caller again and do not ask again for anything they already gave; "
    "carry on from where the conversation stopped."
)
# A tool's answer read back to the model, cut like the monitor's record of it.
MAX_TOOL_ANSWER = 2000


def takes_over_from_a_lost_job(call: Call, job_id: str) -> bool:
    """Whether another job served this live call before (read before ``assign_job``)."""
    return bool(call.is_live and call.worker_job_id and call.worker_job_id != job_id)


def served_by_another_job(call: Call, job_id: str, agents_in_room: set[str]) -> bool:
    """Whether the job serving the call is in the room with this one: two were asked for when
    the call's room moved to another media node (the caller's token on rejoining, and the web
    app on hearing the old agent leave). The first one there keeps the call."""
    return takes_over_from_a_lost_job(call, job_id) and (
        agent_identity(call.worker_job_id) in agents_in_room
    )


def _note(item) -> str | None:
    """A stored event as the model's context reads it (None: nothing for the model)."""
    payload = item.payload or {}
    if item.type == CallEvent.Type.TOOL_CALL:
        answer = str(payload.get("output") or "")[:MAX_TOOL_ANSWER]
        arguments = json.dumps(payload.get("arguments") or {}, ensure_ascii=False)
        return f"Earlier on this call you used {payload.get('name')} ({arguments}): {answer}"
    if item.type == CallEvent.Type.WHISPER:
        return (
            "Guidance from your supervisor (the caller does not hear this): "
            f"{payload.get('text', '')}"
        )
    return None


def _conversation_rows(call_id) -> list:
    segments = list(TranscriptSegment.objects.filter(call_id=call_id))
    events = list(
        CallEvent.objects.filter(
            call_id=call_id, type__in=[CallEvent.Type.TOOL_CALL, CallEvent.Type.WHISPER]
        )
    )
    return sorted([*segments, *events], key=lambda row: row.sequence)


async def conversation_so_far(call_id) -> llm.ChatContext:
    """The call's conversation as the lost job's model had it, from what is stored."""
    context = llm.ChatContext.empty()
    for row in await sync_to_async(_conversation_rows)(call_id):
        if isinstance(row, CallEvent):
            note = _note(row)
            if note:
                context.add_message(role="system", content=note)
        elif row.speaker == TranscriptSegment.Speaker.AGENT:
            context.add_message(role="assistant", content=row.text)
        elif row.speaker == TranscriptSegment.Speaker.CUSTOMER:
            context.add_message(role="user", content=row.text)
        elif row.speaker == TranscriptSegment.Speaker.SUPERVISOR:
            context.add_message(
                role="system", content=f"Your supervisor said to the caller: {row.text}"
            )
        elif row.speaker == TranscriptSegment.Speaker.DESK:
            context.add_message(
                role="system",
                content=f"Your colleague {row.speaker_name} from the desk said to the caller: "
                f"{row.text}",
            )
    context.add_message(role="system", content=BACK_INSTRUCTIONS)
    return context


def welcome_back(writer, session, agent, seconds: float | None) -> None:
    """The call has its agent again after ``seconds`` without it: an ``agent_back`` event on
    the monitor and the record, and the caller told once (unless a person holds the call)."""
    writer.event(CallEvent.Type.AGENT_BACK, {"seconds": seconds, "worker": socket.gethostname()})
    writer.change_call(Call.mark_agent_back)
    if not agent.paused:
        with contextlib.suppress(RuntimeError):  # the caller hung up meanwhile
            session.say(BACK_SAID, allow_interruptions=False)


def seconds_without_agent(call: Call) -> float | None:
    """Since the webhook saw the call's agent leave, else since the lost job's last stored
    write (its media node died: no webhook came); None for a call with neither."""
    lost_at = call.agent_lost_at
    if lost_at is None:
        last = [
            model.objects.filter(call=call).order_by("-created_at")
            .values_list("created_at", flat=True).first()
            for model in (TranscriptSegment, CallEvent)
        ]  # fmt: skip
        lost_at = max((moment for moment in last if moment), default=None)
    return round((timezone.now() - lost_at).total_seconds(), 1) if lost_at else None


# A room connection that ended for one of these was lost, not closed: the media node hosting
# the room died, or the worker's network did. The call is not over; the caller may come back.
LOST_ROOM = {
    rtc.DisconnectReason.UNKNOWN_REASON,
    rtc.DisconnectReason.SIGNAL_CLOSE,
    rtc.DisconnectReason.CONNECTION_TIMEOUT,
    rtc.DisconnectReason.MEDIA_FAILURE,
    rtc.DisconnectReason.SERVER_SHUTDOWN,
    rtc.DisconnectReason.JOIN_FAILURE,
    rtc.DisconnectReason.STATE_MISMATCH,
    rtc.DisconnectReason.MIGRATION,
}


async def room_sid(room: rtc.Room) -> str | None:
    """The id LiveKit gave the room, None while it has none (``Room.sid`` waits for one)."""
    try:
        return await asyncio.wait_for(room.sid, 0.1)
    except TimeoutError:
        return None


async def caller_back(room: rtc.Room, is_caller, seconds: float = 30.0) -> float:
    """Waits, up to ``seconds``, until the caller is in the room: after its media node died a
    job may rejoin the room on another before the caller does. Returns the seconds waited."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    if any(is_caller(p) for p in room.remote_participants.values()):
        return 0.0
    arrived = asyncio.Event()

    def joined(participant: rtc.RemoteParticipant) -> None:
        if is_caller(participant):
            arrived.set()

    room.on("participant_connected", joined)
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(arrived.wait(), seconds)
    finally:
        room.off("participant_connected", joined)
    return loop.time() - started


# The record of a call whose room was lost and whose caller never came back.
ROOM_LOST = "The call's media server was lost, and the caller did not come back."
TAKEN_OVER = "another job took the call over"
ROOM_GONE = "the call's room stayed unreachable"
# A room connection away this long was a gap the caller heard: they are told the agent is back.
NOTICED_GAP_SECONDS = 2.0


class RoomWatch:
    """Follows the job's room connection while the SDK reconnects it: the job leaves as soon
    as another job has taken the call over (the caller came back through another media node),
    or once its room is gone for ``give_up_seconds`` with nobody taking over (then the room
    was lost, not closed, and the call fails so). A connection that ended for a loss reason is
    lost too."""

    def __init__(self, room: rtc.Room, writer, leave, *, on_back=None,
                 check_seconds: float = 2.0, give_up_seconds: float = 60.0) -> None:  # fmt: skip
        self.writer = writer
        self.leave = leave  # called with the reason the job leaves
        # Called with the seconds the room was away, when the job is back in the call's room
        # after a gap the caller noticed (its media node died and it rejoined on another).
        self.on_back = on_back
        self._away_since: float | None = None
        self.lost = False
        self.check_seconds = check_seconds
        self.give_up_seconds = give_up_seconds
        self._room = room
        self._sid_before: str | None = None  # the room's id when the connection was lost
        self._watching: asyncio.Task | None = None  # while reconnecting
        self._checking: asyncio.Task | None = None  # once reconnected
        room.on("disconnected", self._disconnected)
        room.on("reconnecting", self._reconnecting)
        room.on("reconnected", self._reconnected)

    def _disconnected(self, reason=None) -> None:
        self._stop()
        self.lost = reason in LOST_ROOM

    def _reconnecting(self) -> None:
        loop = asyncio.get_running_loop()
        if self._away_since is None:
            self._away_since = loop.time()
        self._cancel("_checking")
        if self._watching is None:
            self._watching = loop.create_task(self._while_reconnecting())

    def _reconnected(self) -> None:
        self._stop()
        loop = asyncio.get_running_loop()
        away = loop.time() - self._away_since if self._away_since is not None else 0.0
        self._away_since = None
        # Back in a room: the call's, or the one the caller rejoined another job in.
        self._checking = loop.create_task(self._check_once(away))

    def _cancel(self, name: str) -> None:
        task = getattr(self, name)
        if task is not None:
            task.cancel()
            setattr(self, name, None)

    def _stop(self) -> None:
        self._cancel("_watching")
        self._cancel("_checking")

    async def _check_once(self, away: float) -> None:
        if not await self.writer.still_ours():
            self._leave(TAKEN_OVER)
            return
        # A room made anew (its node died, the SDK rejoined it on another) cut the caller off
        # too, however quickly this job got back: the caller has to reconnect as well.
        before, self._sid_before = self._sid_before, None
        remade = bool(before) and await room_sid(self._room) not in (None, before)
        if (remade or away >= NOTICED_GAP_SECONDS) and self.on_back is not None:
            self.on_back(round(away, 1))

    async def _while_reconnecting(self) -> None:
        deadline = asyncio.get_running_loop().time() + self.give_up_seconds
        if self._sid_before is None:
            self._sid_before = await room_sid(self._room)
        while True:
            await asyncio.sleep(self.check_seconds)
            if not await self.writer.still_ours():
                return self._leave(TAKEN_OVER)
            if asyncio.get_running_loop().time() > deadline:
                self.lost = True
                return self._leave(ROOM_GONE)

    def _leave(self, reason: str) -> None:
        logger.warning("call %s: %s; this job leaves", self.writer.call_id, reason)
        self.leave(reason)
