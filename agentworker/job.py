"""One agent job: what LiveKit runs for each dispatched call.

Job processes are started by livekit-agents (forkserver), not by ``manage.py``, so this module
configures Django before any model is imported. The worker hands the job process
``entrypoint`` and ``prewarm`` by reference (pickled as module + name): they are defined here,
so that unpickling them imports this module, and Django is set up before the models load.
"""

import asyncio
import contextlib
import logging
import os
import re
from dataclasses import replace

import django
from asgiref.sync import sync_to_async

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

# livekit-agents writes the worker's logs itself (colours in dev, JSON in production) and
# forwards the job processes' to the worker: Django's console handler would print each twice.
for handler in list(logging.getLogger().handlers):
    if handler.get_name() == "console":
        logging.getLogger().removeHandler(handler)

from django.conf import settings  # noqa: E402
from livekit import api, rtc  # noqa: E402
from livekit.agents import AgentSession, JobContext, JobProcess, room_io  # noqa: E402

from agentworker import pipeline  # noqa: E402
from agentworker.agent import (  # noqa: E402
    INSTRUCTIONS,
    ServiceDeskAgent,
    instructions_for_line,
)
from agentworker.audio_recording import AudioRecording, session_record_option  # noqa: E402
from agentworker.call_job import CallJob  # noqa: E402
from agentworker.callback import (  # noqa: E402
    callback_greeting,
    callback_instructions,
    dial_customer,
)
from agentworker.control import SupervisorControl  # noqa: E402
from agentworker.keypad import Keypad  # noqa: E402
from agentworker.phone_transfer import PhoneTransfer  # noqa: E402
from agentworker.placement import record_placement  # noqa: E402
from agentworker.recorder import CallRecorder  # noqa: E402
from agentworker.resume import (  # noqa: E402
    ROOM_LOST,
    TAKEN_OVER,
    RoomWatch,
    caller_back,
    conversation_so_far,
    seconds_without_agent,
    served_by_another_job,
    takes_over_from_a_lost_job,
    welcome_back,
)
from agentworker.summary import summarize_call  # noqa: E402
from agentworker.supervisor_voice import SupervisorVoices  # noqa: E402
from agentworker.writer import CallWriter  # noqa: E402
from callcenter.call_limits import phone_caller_over_limit  # noqa: E402
from callcenter.livekit_tokens import (  # noqa: E402
    CALLER_IDENTITY_PREFIX,
    call_id_from_dispatch_metadata,
    phone_line_of,
)
from callcenter.models import UNKNOWN_CALLER, Call  # noqa: E402
from telephony.callbacks import callback_of  # noqa: E402
from telephony.models import PhoneLine  # noqa: E402
from telephony.provisioning import CALLER_ATTRIBUTE  # noqa: E402

logger = logging.getLogger(__name__)


def prewarm(proc: JobProcess) -> None:
    """Load what is slow to load once per job process (see ``pipeline.prewarm``)."""
    pipeline.prewarm(proc)


# The longest caller number kept: E.164 has 15 digits; a From header's user part may be any
# text a SIP peer chose.
CALLER_MAX = 32
FROM_USER = re.compile(r"(?:sips?|tel):([^@;>\s]+)", re.IGNORECASE)


def number_in_from_header(header: str) -> str:
    """The caller in a SIP From header (``"Ana" <sip:+4915112345678@10.0.0.1>;tag=x``):
    its user part, cut to CALLER_MAX; "" when there is none."""
    found = FROM_USER.search(header or "")
    return found.group(1)[:CALLER_MAX] if found else ""


async def phone_numbers(ctx: JobContext) -> tuple[str, str]:
    """A phone call's (caller's number, dialled number). The dispatch rule hides the caller's
    number from the room (its name, the participant's identity, name and attributes); the
    trunk copies the From header into one attribute, which the job reads and clears before
    the call exists for supervisors, so a listen-in shows no number. The dialled number is
    the line the rule names."""
    dialled = phone_line_of(ctx.job.metadata) or ""
    sip = rtc.ParticipantKind.PARTICIPANT_KIND_SIP
    caller = next((p for p in ctx.room.remote_participants.values() if p.kind == sip), None)
    if caller is None:
        try:
            caller = await asyncio.wait_for(ctx.wait_for_participant(kind=sip), timeout=10)
        except TimeoutError:
            return UNKNOWN_CALLER, dialled
    number = number_in_from_header(caller.attributes.get(CALLER_ATTRIBUTE, ""))
    try:
        await ctx.api.room.update_participant(
            api.UpdateParticipantRequest(
                room=ctx.room.name, identity=caller.identity, name="Phone caller",
                attributes={CALLER_ATTRIBUTE: ""},  # an empty value removes it
            )
        )  # fmt: skip
    except Exception:
        logger.warning("call in %s: the caller's attribute was not cleared", ctx.room.name)
    return number or UNKNOWN_CALLER, dialled


async def open_call(
    metadata: str,
    room_name: str,
    job_id: str,
    phone: tuple[str, str] | None = None,
    agents_in_room: set[str] = frozenset(),
) -> tuple[Call, bool]:
    """The Call this job serves: the dispatched one, else the room's, else a new one (a phone
    call: ``phone`` holds the caller's and the dialled number); and whether it takes the call
    over from a job that was lost (``agentworker.resume``). Raises ``AlreadyServed`` when the
    job serving the call is in the room (``agents_in_room``: the identities of agents there)."""
    call_id = call_id_from_dispatch_metadata(metadata)
    call = await Call.objects.filter(pk=call_id).afirst() if call_id else None
    if call is None:
        call = await Call.objects.filter(room_name=room_name).afirst()
    if call is None:
        caller, dialled = phone or (UNKNOWN_CALLER, "")
        call = await Call.objects.acreate(
            room_name=room_name, channel=Call.Channel.PHONE, caller=caller, dialled_number=dialled
        )
    if served_by_another_job(call, job_id, agents_in_room):
        raise AlreadyServed(call.worker_job_id)
    resuming = takes_over_from_a_lost_job(call, job_id)
    # An ended call's record is never rewritten (see refuse_ended_call).
    await sync_to_async(call.assign_job)(job_id)
    return call, resuming


class AlreadyServed(Exception):
    """Another job serves the call, in the room with this one."""


ENDED_CALL_MESSAGE = "This call has already ended. Please start a new call."


TOO_MANY_CALLS_SAID = (
    "You have called us many times in a short while, so we cannot take this call now. "
    "Please call again later."
)
TOO_MANY_CALLS = "Refused: the caller's number called more often than CALL_START_RATE allows."


async def refuse_too_many_calls(ctx: JobContext, job: CallJob) -> None:
    """The caller hears why, once, and the call ends as failed with the reason (supervisors
    see it); the agent never answers it."""
    logger.warning("call %s: too many calls from this number, refused", job.call.pk)
    job.writer.change_call(Call.mark_ended, failed_reason=TOO_MANY_CALLS)
    with contextlib.suppress(Exception):  # a caller who hung up meanwhile
        await job.session.say(TOO_MANY_CALLS_SAID, allow_interruptions=False)
    await ctx.delete_room()
    ctx.shutdown(reason="too many calls from this number")


async def refuse_ended_call(ctx: JobContext, call: Call) -> None:
    """A job for a call that has ended: the caller rejoined with their old token (it lives
    10 minutes and dispatches the agent), which recreated the room. Nothing of the stored
    call is touched; the caller is told, and the room is closed."""
    logger.warning("call %s has already ended: job %s refuses it", call.pk, ctx.job.id)
    try:
        await ctx.room.local_participant.send_text(ENDED_CALL_MESSAGE, topic="lk.transcription")
        async with api.LiveKitAPI(
            settings.LIVEKIT_URL, settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET
        ) as lkapi:
            await lkapi.room.delete_room(api.DeleteRoomRequest(room=ctx.room.name))
    except Exception:
        logger.warning("call %s: could not close the rejoined room", call.pk, exc_info=True)
    ctx.shutdown(reason="the call has already ended")


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
    await handle(session, replace(event, text=text))


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


async def entrypoint(ctx: JobContext) -> None:
    """Serve one call: open its record, run the session, keep the record true to the end."""
    await ctx.connect()
    phone = await phone_numbers(ctx) if phone_line_of(ctx.job.metadata) else None
    agents = {
        p.identity
        for p in ctx.room.remote_participants.values()
        if p.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT
    }
    try:
        call, resuming = await open_call(ctx.job.metadata, ctx.room.name, ctx.job.id, phone, agents)
    except AlreadyServed as served:
        logger.info("room %s: job %s serves the call already; leaving", ctx.room.name, served)
        ctx.shutdown(reason="another job serves the call")
        return
    if not call.is_live:
        await refuse_ended_call(ctx, call)
        return
    ctx.log_context_fields["call_id"] = str(call.pk)
    # Fenced by this job: once another job takes the call over, this one leaves.
    writer = await CallWriter.open(
        call.pk, job_id=ctx.job.id, on_taken_over=lambda: ctx.shutdown(reason=TAKEN_OVER)
    )
    room_watch = RoomWatch(ctx.room, writer, lambda reason: ctx.shutdown(reason=reason))
    line = (  # web calls dial no number
        await PhoneLine.objects.filter(number=call.dialled_number).afirst()
        if call.dialled_number
        else None
    )
    session = pipeline.build_session(
        ctx.proc.userdata.get("vad"), line.language_list if line else None
    )
    instructions = instructions_for_line(line) if line else ""
    callback = callback_of(ctx.job.metadata)
    # A phone caller who called more often than CALL_START_RATE hears so, and nothing else.
    too_often = not (callback or resuming) and await sync_to_async(phone_caller_over_limit)(call)
    if resuming:  # the conversation so far, and no new greeting (agentworker.resume)
        agent = ServiceDeskAgent(
            writer, instructions=instructions, greets=False,
            chat_ctx=await conversation_so_far(call.pk),
        )  # fmt: skip
        agent.vehicle_id = call.vehicle_id
        agent.paused = bool(call.controller_id and not call.control_lapsed())
    elif callback:  # the agent greets once a person has answered (agentworker.callback)
        reason = str(callback.get("reason"))
        agent = ServiceDeskAgent(
            writer,
            greets=False,
            greeting=callback_greeting(reason),
            instructions=callback_instructions(instructions or INSTRUCTIONS, reason),
        )
        agent.awaiting_answer = True
    else:
        agent = ServiceDeskAgent(writer, instructions=instructions, greets=not too_often)
    job = CallJob(call, writer, agent, session, line)
    if call.channel == Call.Channel.PHONE:
        agent.on_handoff = PhoneTransfer(job).after_handoff
    recorder = CallRecorder(job)
    recorder.attach()
    recording = AudioRecording(job, ctx)
    ctx.room.on(
        "participant_connected",
        lambda p: recorder.participant_event(True, p.identity, str(p.kind)),
    )
    ctx.room.on(
        "participant_disconnected",
        lambda p: recorder.participant_event(False, p.identity, str(p.kind)),
    )
    # A supervisor who barges in is heard separately: the session listens to the caller only.
    supervisor_voices = SupervisorVoices(job)
    supervisor_voices.attach(ctx.room)
    supervisor_control = SupervisorControl(job)

    async def finish(reason: str) -> None:
        await supervisor_control.stop()
        await supervisor_voices.stop()
        # A job whose call another job serves now leaves it as it is.
        ours = await writer.still_ours()
        if ours:
            recorder.ended(failed_reason=ROOM_LOST if room_watch.lost else "")
        await writer.flush()
        await recording.finish()  # this job's part of the recording, in any case
        if ours:
            await summarize_call(call.pk, session.llm)
        await writer.close()
        logger.info("call %s finished: %s", call.pk, reason)

    ctx.add_shutdown_callback(finish)
    # The agent greets the caller as it enters (ServiceDeskAgent.on_enter).
    await session.start(
        agent=job.agent,
        room=ctx.room,
        room_options=caller_room_options(call),
        record=session_record_option(),
    )
    if too_often:
        await refuse_too_many_calls(ctx, job)
        return
    if callback:
        if not await dial_customer(ctx, job, reason):
            # Its outcome stored first: the room's end would otherwise end the call as
            # never answered (the first end wins).
            await writer.flush()
            await ctx.delete_room()  # puts the phone down, if anyone picked it up
            ctx.shutdown(reason="no person answered the callback")
            return
        # Not cut short by the end of the customer's own "Hello?", which comes after; not at
        # all if they hung up in between (the session has closed).
        with contextlib.suppress(RuntimeError):
            agent.greet(allow_interruptions=False)
    welcomes: set[asyncio.Task] = set()

    async def say_back(seconds: float | None) -> None:
        # Said once the caller is back too: they may come back through another node later.
        waited = await caller_back(ctx.room, is_the_caller(call))
        without = None if seconds is None else round(seconds + waited, 1)
        welcome_back(writer, session, agent, without)

    def back_after(seconds: float | None) -> None:
        task = asyncio.get_running_loop().create_task(say_back(seconds))
        welcomes.add(task)
        task.add_done_callback(welcomes.discard)

    if resuming:
        back_after(await sync_to_async(seconds_without_agent)(call))
    # Back in the call's room after its media node died (the same job, rejoined).
    room_watch.on_back = back_after
    supervisor_control.start()
    Keypad(job).attach(ctx.room)
    recorder.answered()
    await recording.start()
    await record_placement(job, ctx.room)
    # Rejoined after its media node died: the call's room is on another node now.
    placements: set[asyncio.Task] = set()

    def placed_again() -> None:
        task = asyncio.get_running_loop().create_task(record_placement(job, ctx.room))
        placements.add(task)
        task.add_done_callback(placements.discard)

    ctx.room.on("reconnected", placed_again)
