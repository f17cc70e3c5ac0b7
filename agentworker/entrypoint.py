"""One agent job: what LiveKit runs for each dispatched call (``entrypoint``).

Job processes are started by livekit-agents (forkserver), not by ``manage.py``, so this module
configures Django before any model is imported. The worker hands the job process
``entrypoint`` and ``prewarm`` by reference (pickled as module + name): they are defined here,
so that unpickling them imports this module, and Django is set up before the models load.
"""

import asyncio
import logging
import os
import time
from dataclasses import replace

import django
from asgiref.sync import sync_to_async
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

# livekit-agents writes the worker's logs itself (colours in dev, JSON in production) and
# forwards the job processes' to the worker: Django's console handler would print each twice.
for handler in list(logging.getLogger().handlers):
    if handler.get_name() == "console":
        logging.getLogger().removeHandler(handler)

from livekit import rtc  # noqa: E402
from livekit.agents import (  # noqa: E402
    AgentSession,
    CloseEvent,
    CloseReason,
    JobContext,
    JobProcess,
    room_io,
)

from agentworker import pipeline  # noqa: E402
from agentworker.audio_recording import AudioRecording, consent_for, first_words  # noqa: E402
from agentworker.background_sound import (  # noqa: E402
    start_background_sound,
    stop_background_sound,
)
from agentworker.call_job import CallJob  # noqa: E402
from agentworker.call_review import review_call  # noqa: E402
from agentworker.control import SupervisorControl  # noqa: E402
from agentworker.desk_handoff import DeskHandoff  # noqa: E402
from agentworker.fixed_speech import FixedSpeech  # noqa: E402
from agentworker.intake import take_up_call  # noqa: E402
from agentworker.keypad import Keypad  # noqa: E402
from agentworker.opening import Opening, agent_for, open_conversation, opening_for  # noqa: E402
from agentworker.phone_transfer import PhoneTransfer  # noqa: E402
from agentworker.placement import record_placement  # noqa: E402
from agentworker.resume import (  # noqa: E402
    ROOM_LOST,
    TAKEN_OVER,
    RoomWatch,
    caller_back,
    seconds_without_agent,
    welcome_back,
)
from agentworker.session_events import SessionEvents  # noqa: E402
from agentworker.summary import summarize_call  # noqa: E402
from agentworker.supervisor_voice import SupervisorVoices  # noqa: E402
from agentworker.writer import CallWriter  # noqa: E402
from callcenter.job_request import JobRequest  # noqa: E402
from callcenter.livekit_tokens import CALLER_IDENTITY_PREFIX  # noqa: E402
from callcenter.models import Call  # noqa: E402
from recordings.consent import QUESTION  # noqa: E402
from recordings.models import RecordingConsent  # noqa: E402
from telephony.models import PhoneLine  # noqa: E402

logger = logging.getLogger(__name__)


def prewarm(proc: JobProcess) -> None:
    """Load what is slow to load once per job process (see ``pipeline.prewarm``)."""
    pipeline.prewarm(proc)


async def entrypoint(ctx: JobContext) -> None:
    """Serve one call: take it up, open the conversation as the request asks, and keep the
    call's record true to the end."""
    reached = {"job_started": time.time()}  # the opening's steps (SessionEvents.opening)
    await ctx.connect()
    reached["connected"] = time.time()
    request = JobRequest.from_metadata(ctx.job.metadata)
    taken = await take_up_call(ctx, request)
    if taken is None:
        return  # another job serves it, it has ended, or it is no call of ours
    reached["taken_up"] = time.time()
    call, resuming = taken
    ctx.log_context_fields["call_id"] = str(call.pk)
    opening = await opening_for(request, call, resuming)
    # Fenced by this job: once another job takes the call over, this one leaves.
    writer = await CallWriter.open(
        call.pk, job_id=ctx.job.id, on_taken_over=lambda: ctx.shutdown(reason=TAKEN_OVER)
    )
    line = await line_of(call)
    clients = ctx.proc.userdata.get("openai_clients") or {}
    session = pipeline.build_session(
        ctx.proc.userdata.get("vad"), line.language_list if line else None, clients
    )
    reached["session_built"] = time.time()
    agent = await agent_for(opening, request, call, writer, line)
    # A number refused for calling too often is told so and put down: nothing is recorded.
    consent = (
        RecordingConsent.NOT_RECORDED
        if opening == Opening.REFUSE
        else await consent_for(call, line, resuming)
    )
    if opening in (Opening.GREET, Opening.DIAL):
        agent.first_words = first_words(consent)
        language = line.language_list[0] if line else settings.CALL_LANGUAGES[0]
        agent.fixed_speech = FixedSpeech(
            pipeline.voice_of(language), pipeline.build_tts(language, clients.get("tts"))
        )
        # After the consent question the model words the greeting (it answers the tool).
        played = (
            [agent.first_words]
            if agent.first_words == QUESTION
            else [agent.first_words, agent.greeting_said]
        )
        await agent.fixed_speech.load(*played)
    parts = JobParts(ctx, CallJob(call, writer, agent, session, line), consent, opening)
    for step, at in reached.items():
        parts.events.reached(step, at)
    if not resuming and opening != Opening.REFUSE:
        parts.recording.note_consent()
    ctx.add_shutdown_callback(parts.finish)
    parts.events.reached("ready")  # the agent, its consent and kept audio too
    await session.start(
        agent=agent,
        room=ctx.room,
        room_options=caller_room_options(call),
        record=False,  # the call's recorder is its own (agentworker.audio_recording)
    )
    parts.events.reached("session_started")
    if not await open_conversation(ctx, parts.job, opening, request):
        return
    if opening == Opening.WELCOME_BACK:
        parts.welcome_back(await sync_to_async(seconds_without_agent)(call))
        await parts.desk.pick_up()  # a caller still waiting for a person goes on waiting
    await parts.start()


async def line_of(call: Call) -> PhoneLine | None:
    """The phone line the call came in on or calls out through; None for web calls."""
    if not call.dialled_number:
        return None
    return await PhoneLine.objects.filter(number=call.dialled_number).afirst()


class JobParts:
    """What serves a call beside its session: the record of the session's events, the audio
    recording, the supervisors' voices and commands, the keypad, a phone transfer, and the
    watch on the room connection; started once the conversation is open, finished at the
    job's shutdown."""

    def __init__(
        self, ctx: JobContext, job: CallJob, consent: RecordingConsent, opening: Opening
    ) -> None:
        self.ctx, self.job = ctx, job
        self.room_watch = RoomWatch(
            ctx.room, job.writer, lambda reason: ctx.shutdown(reason=reason)
        )
        # A person takes the caller in this room, from the desk; a phone line whose handoff
        # target is a phone number transfers its callers there instead (SIP REFER).
        self.desk = DeskHandoff(job)
        self.desk.attach(ctx.room)
        if job.line is not None and job.line.transfer_to:
            job.agent.on_handoff = PhoneTransfer(job).after_handoff
        else:
            job.agent.on_handoff = self.desk.after_handoff
        self.events = SessionEvents(job)
        self.events.attach()
        self.recording = AudioRecording(
            job, ctx, consent, from_the_greeting=opening == Opening.DIAL
        )
        job.agent.on_recording_consent = self.recording.caller_answered
        job.agent.on_entering = self.recording.attach
        for joined, event in ((True, "participant_connected"), (False, "participant_disconnected")):
            ctx.room.on(
                event,
                lambda p, joined=joined: self.events.participant_event(
                    joined, p.identity, str(p.kind)
                ),
            )
        # A supervisor who barges in is heard separately: the session listens to the caller only.
        self.supervisor_voices = SupervisorVoices(job)
        self.supervisor_voices.attach(ctx.room)
        self.supervisor_control = SupervisorControl(job)
        self.background_sound = None
        self._tasks: set[asyncio.Task] = set()
        job.session.on("close", self._session_closed)

    def _session_closed(self, event: CloseEvent) -> None:
        """The caller hung up: the call is over for everyone in it. A person from the desk or
        a supervisor still in the room would keep it, and this job, open: the room is closed,
        which disconnects them (their page says the call ended) and ends the job."""
        if event.reason == CloseReason.PARTICIPANT_DISCONNECTED:
            self.ctx.delete_room()  # a task of the job's own

    async def start(self) -> None:
        # Back in the call's room after its media node died (the same job, rejoined).
        self.room_watch.on_back = self.welcome_back
        self.supervisor_control.start()
        Keypad(self.job).attach(self.ctx.room)
        self.events.answered()
        await self.recording.start()
        self.background_sound = await start_background_sound(self.ctx.room, self.job.session)
        await record_placement(self.job, self.ctx.room)
        # Rejoined after its media node died: the call's room is on another node now.
        self.ctx.room.on(
            "reconnected", lambda: self._in_background(record_placement(self.job, self.ctx.room))
        )

    def welcome_back(self, seconds: float | None) -> None:
        """Tell the caller once that the agent is back, after ``seconds`` without it."""
        self._in_background(self._say_back(seconds))

    async def _say_back(self, seconds: float | None) -> None:
        # Said once the caller is back too: they may come back through another node later.
        waited = await caller_back(self.ctx.room, is_the_caller(self.job.call))
        without = None if seconds is None else round(seconds + waited, 1)
        welcome_back(self.job.writer, self.job.session, self.job.agent, without)

    def _in_background(self, work) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def finish(self, reason: str) -> None:
        job = self.job
        await self.supervisor_control.stop()
        await self.supervisor_voices.stop()
        # A job whose call another job serves now leaves it as it is.
        ours = await job.writer.still_ours()
        await self.desk.finish(ours=ours)
        if ours:
            self.events.ended(failed_reason=ROOM_LOST if self.room_watch.lost else "")
        await job.writer.flush()
        await self.recording.finish()  # this job's part of the recording, in any case
        if ours:  # the summary and the review, at once
            await asyncio.gather(
                summarize_call(job.call_id, job.session.llm),
                review_call(job.call_id, self._review_model(), job.agent.instructions),
            )
        await job.writer.close()
        if job.agent.fixed_speech is not None:  # audio being kept for the next calls
            await job.agent.fixed_speech.aclose()
        await stop_background_sound(self.background_sound)  # may wait for a room gone
        logger.info("call %s finished: %s", job.call_id, reason)

    def _review_model(self):
        """The review's LLM (REVIEW_MODEL, else the call's model) on the job's client: a model
        of its own, so that the review's tokens are counted apart from the call's."""
        clients = self.ctx.proc.userdata.get("openai_clients") or {}
        return pipeline.build_llm(clients.get("llm"), settings.REVIEW_MODEL)


# What the caller may type at once (lk.chat); the call page's chat box has the same maxlength.
MAX_TYPED_CHARACTERS = 500


async def typed_text_input(session: AgentSession, event: room_io.TextInputEvent) -> None:
    """Typed messages (lk.chat) as livekit-agents handles them, cut to MAX_TYPED_CHARACTERS:
    the page limits the box, but anyone holding the caller's token can send more."""
    text = event.text.strip()
    if not text:
        return
    if len(text) > MAX_TYPED_CHARACTERS:
        logger.info("typed message of %d characters cut to %d", len(text), MAX_TYPED_CHARACTERS)
        text = text[:MAX_TYPED_CHARACTERS]
    handle = room_io.TextInputOptions().text_input_cb  # livekit-agents' own handling
    try:
        await handle(session, replace(event, text=text))
    except RuntimeError:
        # A sentence that may not be cut off is playing (the agent introducing a person from
        # the desk): the caller's words are kept and taken after it, never dropped.
        session.generate_reply(user_input=text)


def caller_room_options(call: Call) -> room_io.RoomOptions:
    """Link the session to the call's caller, never to a supervisor who joins later.

    Web callers have the identity their token names; phone (SIP) callers are linked by kind.
    """
    text_input = room_io.TextInputOptions(text_input_cb=typed_text_input)
    if call.caller.startswith(CALLER_IDENTITY_PREFIX):
        return room_io.RoomOptions(participant_identity=call.caller, text_input=text_input)
    return room_io.RoomOptions(
        participant_kinds=[rtc.ParticipantKind.PARTICIPANT_KIND_SIP], text_input=text_input
    )


def is_the_caller(call: Call):
    """Whether a participant is the call's caller, as ``caller_room_options`` links them."""
    if call.caller.startswith(CALLER_IDENTITY_PREFIX):
        return lambda participant: participant.identity == call.caller
    return lambda participant: participant.kind == rtc.ParticipantKind.PARTICIPANT_KIND_SIP
