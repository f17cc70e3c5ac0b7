"""One call's agent session: the models it uses, and how its events become the call's record.

``entrypoint`` is what LiveKit runs for each dispatched job. ``CallRecorder`` listens to the
``AgentSession`` events and hands every committed message, tool call, metric and state change
to the call's ``CallWriter``; it is used the same way in production and in the text-mode tests.
"""

from __future__ import annotations

import asyncio
import json
import logging
import statistics
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from django.conf import settings
from django.utils import timezone
from livekit import api, rtc
from livekit.agents import AgentSession, JobContext, JobProcess, inference, llm, room_io
from livekit.agents.voice import events as session_events
from livekit.plugins import openai

from agentworker.agent import ServiceDeskAgent
from agentworker.control import SupervisorControl
from agentworker.summary import summarize_call
from agentworker.supervisor_voice import SupervisorVoices
from agentworker.writer import CallWriter
from callcenter.livekit_tokens import CALLER_IDENTITY_PREFIX
from callcenter.models import Call, CallEvent, TranscriptSegment
from recordings.egress import start_call_egress, stop_call_egress
from recordings.models import Recording
from recordings.storage import spool_recording, upload_recording

logger = logging.getLogger(__name__)

# Per-turn latency samples kept on the call (seconds from the session, stored as ms).
# Keys in Call.metrics:
#   eou_delay_ms, transcription_delay_ms   user turns: end of speech -> end of turn / transcript
#   llm_ttft_ms, tts_ttfb_ms               agent turns: LLM first token, TTS first audio byte
#   turns                                  committed messages (user + agent)
#   llm_prompt_tokens, llm_completion_tokens, tts_characters, stt_audio_seconds   usage totals
#   <key>_p50 / <key>_p95                  percentiles, written when the call ends
LATENCY_KEYS = {
    "end_of_turn_delay": "eou_delay_ms",
    "transcription_delay": "transcription_delay_ms",
    "llm_node_ttft": "llm_ttft_ms",
    "tts_node_ttfb": "tts_ttfb_ms",
}
MAX_SAMPLES = 500
LLM_APOLOGY = "I'm sorry, I'm having trouble answering right now. Could you say that again?"


# --- Models ------------------------------------------------------------------------------------


def build_llm() -> llm.LLM:
    """The OpenAI (or OpenAI-compatible) LLM named in settings."""
    return openai.LLM(
        model=settings.LLM_MODEL,
        base_url=settings.OPENAI_BASE_URL or None,
        api_key=settings.OPENAI_API_KEY or None,
    )


def azure_configured() -> bool:
    return bool(settings.AZURE_SPEECH_KEY and settings.AZURE_SPEECH_REGION)


def build_stt():
    """Azure speech-to-text when configured (auto-detecting CALL_LANGUAGES), else OpenAI's."""
    if azure_configured():
        from livekit.plugins import azure

        languages = settings.CALL_LANGUAGES
        return azure.STT(
            speech_key=settings.AZURE_SPEECH_KEY,
            speech_region=settings.AZURE_SPEECH_REGION,
            language=languages if len(languages) > 1 else languages[0],
        )
    return openai.STT(
        base_url=settings.OPENAI_BASE_URL or None, api_key=settings.OPENAI_API_KEY or None
    )


def build_tts():
    """Azure text-to-speech with the voice of the first call language, else OpenAI's."""
    if azure_configured():
        from livekit.plugins import azure

        language = settings.CALL_LANGUAGES[0]
        return azure.TTS(
            speech_key=settings.AZURE_SPEECH_KEY,
            speech_region=settings.AZURE_SPEECH_REGION,
            language=language,
            voice=settings.AZURE_VOICES.get(language, "en-US-JennyNeural"),
        )
    return openai.TTS(
        base_url=settings.OPENAI_BASE_URL or None, api_key=settings.OPENAI_API_KEY or None
    )


def prewarm(proc: JobProcess) -> None:
    """Load once per worker process what is slow to load: the VAD shipped in livekit-agents."""
    proc.userdata["vad"] = inference.VAD()


# --- Session events -> the call's record --------------------------------------------------------


def _at(timestamp: float | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, tz=UTC) if timestamp else None


class CallRecorder:
    """Turns one AgentSession's events into segments, events, metrics and call state."""

    def __init__(self, call_id: UUID | str, writer: CallWriter) -> None:
        self.call_id = UUID(str(call_id))
        self.writer = writer
        self.samples: dict[str, list[float]] = {key: [] for key in LATENCY_KEYS.values()}
        self.usage: dict[str, float] = {}
        self.turns = 0
        self.session: AgentSession | None = None

    def attach(self, session: AgentSession) -> None:
        self.session = session
        session.on("conversation_item_added", self.on_conversation_item)
        session.on("function_tools_executed", self.on_tools_executed)
        session.on("session_usage_updated", self.on_usage)
        session.on("error", self.on_error)

    def on_conversation_item(self, event: session_events.ConversationItemAddedEvent) -> None:
        item = event.item
        if not isinstance(item, llm.ChatMessage) or item.role not in ("user", "assistant"):
            return
        text = item.text_content or ""
        if not text.strip():
            return
        speaker = (
            TranscriptSegment.Speaker.CUSTOMER
            if item.role == "user"
            else TranscriptSegment.Speaker.AGENT
        )
        metrics = item.metrics or {}
        self.writer.segment(
            speaker,
            text,
            started_at=_at(metrics.get("started_speaking_at")) or _at(item.created_at),
            ended_at=_at(metrics.get("stopped_speaking_at")),
            language=str(item.extra.get("language", "") or "")[:16],
            interrupted=item.interrupted,
        )
        self.turns += 1
        for source, key in LATENCY_KEYS.items():
            value = metrics.get(source)
            if isinstance(value, int | float) and len(self.samples[key]) < MAX_SAMPLES:
                self.samples[key].append(round(value * 1000, 1))

    def on_tools_executed(self, event: session_events.FunctionToolsExecutedEvent) -> None:
        for call, output in event.zipped():
            try:
                arguments = json.loads(call.arguments or "{}")
            except json.JSONDecodeError:
                arguments = {"raw": call.arguments}
            self.writer.event(
                CallEvent.Type.TOOL_CALL,
                {
                    "name": call.name,
                    "arguments": arguments,
                    "output": output.output if output else None,
                    "is_error": bool(output and output.is_error),
                },
            )

    def on_usage(self, event: session_events.SessionUsageUpdatedEvent) -> None:
        totals: dict[str, float] = {}
        for usage in event.usage.model_usage:
            kind = getattr(usage, "type", "")
            if kind == "llm_usage":
                totals["llm_prompt_tokens"] = (
                    totals.get("llm_prompt_tokens", 0) + usage.input_tokens
                )
                totals["llm_completion_tokens"] = (
                    totals.get("llm_completion_tokens", 0) + usage.output_tokens
                )
            elif kind == "tts_usage":
                totals["tts_characters"] = totals.get("tts_characters", 0) + usage.characters_count
            elif kind == "stt_usage":
                seconds = getattr(usage, "audio_duration", 0) or 0
                totals["stt_audio_seconds"] = totals.get("stt_audio_seconds", 0) + seconds
        self.usage = totals

    def on_error(self, event: session_events.ErrorEvent) -> None:
        error = event.error
        recoverable = bool(getattr(error, "recoverable", False))
        if not recoverable and isinstance(event.source, llm.LLM) and self.session is not None:
            # The LLM gave up after its retries: the caller hears why nothing came, and the
            # call goes on; the next turn tries the LLM again.
            self.session.say(LLM_APOLOGY)
        self.writer.event(
            CallEvent.Type.ERROR,
            {
                "source": type(event.source).__name__,
                "message": str(getattr(error, "error", error))[:500],
                "recoverable": recoverable,
            },
        )

    def metrics(self) -> dict[str, Any]:
        """The metrics stored on the call: samples, their percentiles, usage totals."""
        result: dict[str, Any] = {"turns": self.turns, **self.usage}
        for key, values in self.samples.items():
            result[key] = values
            if values:
                result[f"{key}_p50"] = round(statistics.median(values), 1)
                result[f"{key}_p95"] = round(_percentile(values, 95), 1)
        return result

    def participant_event(self, joined: bool, identity: str, kind: str) -> None:
        self.writer.event(
            CallEvent.Type.PARTICIPANT_JOINED if joined else CallEvent.Type.PARTICIPANT_LEFT,
            {"identity": identity, "kind": kind},
        )

    def answered(self) -> None:
        now = timezone.now()

        def mark(call: Call) -> None:
            call.mark_active(now)

        self.writer.call_change(mark, "answered")

    def ended(self, *, failed_reason: str = "") -> None:
        now = timezone.now()
        metrics = self.metrics()

        def end(call: Call) -> None:
            Call.objects.filter(pk=call.pk).update(metrics=metrics)
            call.mark_ended(now, failed_reason=failed_reason)

        self.writer.call_change(end, "ended")


def _percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(percent / 100 * (len(ordered) - 1))))
    return ordered[index]


# --- The job ------------------------------------------------------------------------------------


def call_id_from_metadata(metadata: str) -> UUID | None:
    """The call id the token's agent dispatch carries, or None when absent or malformed."""
    try:
        return UUID(str(json.loads(metadata or "{}").get("call_id")))
    except (ValueError, TypeError, AttributeError):
        return None


async def open_call(metadata: str, room_name: str, job_id: str) -> Call:
    """The Call this job serves: the dispatched one, else the room's, else a new one."""
    call_id = call_id_from_metadata(metadata)
    call = await Call.objects.filter(pk=call_id).afirst() if call_id else None
    if call is None:
        call = await Call.objects.filter(room_name=room_name).afirst()
    if call is None:
        call = await Call.objects.acreate(
            room_name=room_name, channel=Call.Channel.PHONE, caller="unknown"
        )
    if call.is_live:  # an ended call's record is never rewritten (see refuse_ended_call)
        call.worker_job_id = job_id
        await call.asave(update_fields=["worker_job_id"])
    return call


ENDED_CALL_MESSAGE = "This call has already ended. Please start a new call."


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


def build_session(vad=None) -> AgentSession:
    """The voice session: Azure (or OpenAI) speech, the LLM, the bundled VAD and turn detector."""
    return AgentSession(
        stt=build_stt(),
        llm=build_llm(),
        tts=build_tts(),
        vad=vad or inference.VAD(),
        turn_handling={
            "turn_detection": inference.TurnDetector(version="v1-mini"),
            "interruption": {"enabled": True},
        },
    )


# Both sides of the call, recorded by livekit-agents' RecorderIO into the job's directory as
# audio.ogg; nothing goes to LiveKit Cloud (traces, logs and transcripts stay off).
AGENT_RECORDING = {"audio": True, "traces": False, "logs": False, "transcript": False}


class CallRecording:
    """Starts and finishes the call's recording in the mode settings choose."""

    def __init__(self, call: Call, ctx: JobContext) -> None:
        self.call = call
        self.ctx = ctx
        self.mode = settings.RECORDING_MODE
        self.recording: Recording | None = None
        self._lkapi: api.LiveKitAPI | None = None

    @property
    def session_record_option(self) -> bool | dict:
        return AGENT_RECORDING if self.mode == "agent" else False

    async def start(self, recorder: CallRecorder) -> None:
        try:
            if self.mode == "egress":
                self._lkapi = api.LiveKitAPI(
                    settings.LIVEKIT_URL, settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET
                )
                self.recording = await start_call_egress(self.call, self._lkapi)
            elif self.mode == "agent":
                self.recording = await Recording.objects.acreate(
                    call=self.call, source=Recording.Source.AGENT, format="ogg"
                )
        except Exception as exc:
            logger.exception("call %s: recording did not start", self.call.pk)
            recorder.writer.event(
                CallEvent.Type.ERROR, {"source": "recording", "message": str(exc)}
            )

    async def finish(self, session: AgentSession) -> None:
        if self.recording is None:
            return
        try:
            if self.mode == "egress" and self._lkapi is not None:
                await stop_call_egress(self.recording, self._lkapi)
            elif self.mode == "agent":
                await session.aclose()  # RecorderIO writes the file when the session closes
                # The job's directory is removed when the job ends: keep the file in the spool
                # until the storage has it, whatever happens to this process.
                spooled = await asyncio.to_thread(
                    spool_recording, self.ctx.session_directory / "audio.ogg", self.call.pk
                )
                await upload_recording(self.recording.pk, spooled)
        except Exception:
            logger.exception("call %s: finishing the recording failed", self.call.pk)
        finally:
            if self._lkapi is not None:
                await self._lkapi.aclose()


async def entrypoint(ctx: JobContext) -> None:
    """Serve one call: open its record, run the session, keep the record true to the end."""
    await ctx.connect()
    call = await open_call(ctx.job.metadata, ctx.room.name, ctx.job.id)
    if not call.is_live:
        await refuse_ended_call(ctx, call)
        return
    writer = await CallWriter.open(call.pk)
    recorder = CallRecorder(call.pk, writer)
    recording = CallRecording(call, ctx)
    session = build_session(ctx.proc.userdata.get("vad"))
    recorder.attach(session)

    ctx.room.on(
        "participant_connected",
        lambda p: recorder.participant_event(True, p.identity, str(p.kind)),
    )
    ctx.room.on(
        "participant_disconnected",
        lambda p: recorder.participant_event(False, p.identity, str(p.kind)),
    )

    supervisor_control: SupervisorControl | None = None
    supervisor_voices: SupervisorVoices | None = None

    async def finish(reason: str) -> None:
        if supervisor_control is not None:
            await supervisor_control.stop()
        if supervisor_voices is not None:
            await supervisor_voices.stop()
        recorder.ended()
        await writer.flush()
        await recording.finish(session)
        await summarize_call(call.pk, session.llm)
        await writer.close()
        logger.info("call %s finished: %s", call.pk, reason)

    ctx.add_shutdown_callback(finish)
    agent = ServiceDeskAgent(call.pk, writer)
    # A supervisor who barges in is heard separately: the session listens to the caller only.
    supervisor_voices = SupervisorVoices(agent, writer, stt=session.stt, vad=session.vad)
    supervisor_voices.attach(ctx.room)
    await session.start(
        agent=agent,
        room=ctx.room,
        room_options=caller_room_options(call),
        record=recording.session_record_option,
    )
    supervisor_control = SupervisorControl(call.pk, agent, session, writer)
    supervisor_control.start()
    recorder.answered()
    await recording.start(recorder)
    await session.generate_reply(instructions="Greet the caller and ask for their vehicle's VIN.")
