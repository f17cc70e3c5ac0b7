"""A warm handoff to a person at the desk, in the caller's own room.

When the agent asks for a person (``request_human``), the job queues a handoff with its brief
(``desk.brief``) and waits: the desk rings one available person at a time (``desk.routing``,
row locks). The person who accepts joins this room from their browser with a token for this
call only; they hear the brief on a track only they receive (``agentworker.private_brief``),
then the agent introduces them to the caller by name and falls silent. It stays on as
note-taker: the caller's words and the person's (``agentworker.supervisor_voice``, under their
name) go on into the transcript and the agent's context, and no reply is generated until the
person hands the call back (``agentworker.control``, the ``hand_back`` command).

Nobody there, or nobody accepting within ``HANDOFF_WAIT_SECONDS``: the agent tells the caller
and offers a callback or an appointment; the handoff stays in the desk's queue as a callback
task with its brief.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone
from livekit import rtc

from agentworker.call_job import CallJob
from agentworker.private_brief import speak_privately
from agentworker.supervisor_voice import is_desk_participant
from callcenter.live_updates import publish_call_change
from callcenter.models import CallEvent
from desk import routing
from desk.brief import brief_for
from desk.live import announce_desk_change
from desk.models import Handoff

logger = logging.getLogger(__name__)

# How often the waiting job looks at its handoff (and makes the desk ring on).
POLL_SECONDS = 1.0
BRIEF_WAITS_FOR_WRITES_SECONDS = 2.0

FINDING_A_PERSON = (
    "A colleague at the desk is being asked to take the call. Tell the caller in one short "
    "sentence that you are getting a colleague who will have all the details, and keep "
    "helping them until the colleague joins."
)
NOBODY_THERE = (
    "Nobody at the desk can take the call now. Tell the caller, and offer a callback or to "
    "book them an appointment; their request stays with the desk, who will call back."
)
NOBODY_CAME = (
    "Nobody at the desk could take the call in time. Apologise briefly, and offer a callback "
    "or to book them an appointment; their request stays with the desk, who will call back."
)
ONE_MOMENT = "One moment please, I'm passing your details to my colleague {name}."
INTRODUCTION = "I'm putting you through to my colleague {name}, who has all the details."


class DeskHandoff:
    """One call's handoff to the desk, from the agent's job."""

    def __init__(self, job: CallJob) -> None:
        self.job = job
        self._tasks: set[asyncio.Task] = set()
        self._waiting: asyncio.Task | None = None

    def attach(self, room: rtc.Room) -> None:
        room.on("participant_connected", self._joined)

    async def after_handoff(self, reason: str) -> str:
        """The agent asked for a person; what it is told to say."""
        # The brief quotes the caller's last words: let the writer store what it still holds
        # (briefly: a database that is away must not hold the caller up).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.job.writer.flush(), BRIEF_WAITS_FOR_WRITES_SECONDS)
        handoff = await sync_to_async(self._open)(reason)
        # Rung at once if someone is free; in the queue of every desk page in any case.
        await announce_desk_change(await sync_to_async(routing.route)())
        if not await sync_to_async(routing.anyone_at_the_desk)():
            await self._nobody(handoff.pk, "nobody was available")
            return NOBODY_THERE
        self._keep_waiting(handoff)
        return FINDING_A_PERSON

    async def pick_up(self) -> None:
        """A job that takes the call over from a lost one goes on waiting for the handoff the
        caller is still waiting on, to the same deadline."""
        handoff = await Handoff.objects.waiting().filter(call_id=self.job.call_id).afirst()
        if handoff is not None:
            self._keep_waiting(handoff)

    def _keep_waiting(self, handoff: Handoff) -> None:
        if self._waiting is None or self._waiting.done():
            self._waiting = self._in_background(self._wait(handoff.pk, handoff.requested_at))

    def _open(self, reason: str) -> Handoff:
        brief = brief_for(self.job.call_id, reason)
        return routing.open_handoff(self.job.call, reason, brief)

    async def _wait(self, handoff_id: int, requested_at) -> None:
        """Keep the desk ringing until a person accepts, the caller leaves, or the wait is
        over (then the caller is told, and the handoff becomes a callback task)."""
        deadline = requested_at + timedelta(seconds=settings.HANDOFF_WAIT_SECONDS)
        while True:
            try:
                if changed := await sync_to_async(routing.route)():
                    await announce_desk_change(changed)
                handoff = await Handoff.objects.filter(pk=handoff_id).afirst()
            except Exception:  # the database or the bus blinked: look again
                logger.warning("call %s: the desk could not be asked", self.job.call_id)
                handoff = None
            if handoff is not None and handoff.status not in Handoff.WAITING:
                return  # accepted (the person joins), or over
            if timezone.now() >= deadline:
                if await self._nobody(handoff_id, "nobody accepted in time"):
                    self.job.session.generate_reply(instructions=NOBODY_CAME)
                return
            await asyncio.sleep(POLL_SECONDS)

    async def _nobody(self, handoff_id: int, why: str) -> bool:
        freed = await sync_to_async(routing.to_callback)(handoff_id)
        if freed is None:
            return False  # a person took it meanwhile
        self.job.writer.event(CallEvent.Type.HANDOFF_UNANSWERED, {"why": why})
        await announce_desk_change(freed)
        return True

    def _joined(self, participant: rtc.RemoteParticipant) -> None:
        if is_desk_participant(participant):
            self._in_background(self._introduce(participant))

    async def _introduce(self, participant: rtc.RemoteParticipant) -> None:
        """The person who accepted is in the room: the caller hears who they are, and the
        agent falls silent, listening on."""
        handoff = await (
            Handoff.objects.filter(call_id=self.job.call_id, status=Handoff.Status.ACCEPTED)
            .select_related("accepted_by")
            .afirst()
        )
        user_id = participant.identity.removeprefix("desk-").partition("-")[0]
        if handoff is None or str(handoff.accepted_by_id) != user_id:
            return  # not the person who took this call (their token admits them elsewhere)
        name = participant.name or "a colleague"
        agent, session = self.job.agent, self.job.session
        waited = round((handoff.accepted_at - handoff.requested_at).total_seconds(), 1)
        self.job.writer.event(
            CallEvent.Type.HANDOFF_ANSWERED,
            {"name": name, "by": handoff.accepted_by.get_username(), "waited": waited},
        )
        # Silent from here on (what it says next is said, not generated): whatever the caller
        # says meanwhile is kept for the person and the agent, and not answered.
        await agent.colleague_took_over(name)
        with contextlib.suppress(RuntimeError):  # what may not be cut off finishes first
            session.interrupt()
        spoken = handoff.brief.get("spoken") or handoff.brief.get("text")
        if settings.HANDOFF_SPOKEN_BRIEF and spoken:
            await session.say(ONE_MOMENT.format(name=name), allow_interruptions=False)
            await speak_privately(self.job.call, session.tts, spoken, participant.identity)
        await session.say(INTRODUCTION.format(name=name), allow_interruptions=False)
        try:
            await publish_call_change(self.job.call_id)
        except Exception:
            logger.warning("call %s: publishing the handoff failed", self.job.call_id)

    def _in_background(self, work) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def finish(self, *, ours: bool) -> None:
        """The job ends: stop waiting; when the call ended with it (``ours``), a caller still
        waiting abandoned their handoff and whoever was with them is free again."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if ours:
            try:
                freed = await sync_to_async(routing.call_finished)(self.job.call_id)
                if freed is not None:
                    await announce_desk_change(freed)
            except Exception:
                logger.warning("call %s: the desk was not told", self.job.call_id, exc_info=True)
