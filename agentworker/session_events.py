"""The call's record from its session: every committed message, tool call, metric and state
change of an ``AgentSession`` goes to the call's ``CallWriter``. Used the same way in
production and in the text-mode tests."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone
from livekit.agents import llm
from livekit.agents.voice import events as voice_events

from agentworker.call_job import CallJob
from appointments.models import masked_if_phone
from callcenter.call_metrics import percentile
from callcenter.models import Call, CallEvent, TranscriptSegment

# The session's per-turn latency metrics, and their keys in Call.metrics (see
# callcenter.call_metrics); seconds from the session, stored as milliseconds.
SESSION_LATENCY = {
    "end_of_turn_delay": "eou_delay_ms",
    "transcription_delay": "transcription_delay_ms",
    "llm_node_ttft": "llm_ttft_ms",
    "tts_node_ttfb": "tts_ttfb_ms",
}
MAX_SAMPLES = 500
LLM_APOLOGY = "I'm sorry, I'm having trouble answering right now. Could you say that again?"


def _at(timestamp: float | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, tz=UTC) if timestamp else None


# Tool arguments that may hold a customer's phone number: supervisors read tool events, and
# see a number only as the masking rule allows (appointments.models.mask_number).
CONTACT_ARGUMENTS = ("contact", "booked_under")


class SessionEvents:
    """Turns one AgentSession's events into segments, events, metrics and call state."""

    def __init__(self, job: CallJob) -> None:
        self.call = job.call
        self.writer = job.writer
        self.session = job.session
        self.samples: dict[str, list[float]] = {key: [] for key in SESSION_LATENCY.values()}
        self.usage: dict[str, float] = {}
        self.turns = 0
        # When the job reached each step of opening the call (wall clock, seconds): where the
        # time until the caller hears the agent goes (bench.voice_turn reads it).
        self.opening: dict[str, float] = {}

    def reached(self, step: str, at: float | None = None) -> None:
        self.opening[step] = round(time.time() if at is None else at, 3)

    def attach(self) -> None:
        session = self.session
        session.on("conversation_item_added", self.on_conversation_item)
        session.on("function_tools_executed", self.on_tools_executed)
        session.on("session_usage_updated", self.on_usage)
        session.on("error", self.on_error)

    def on_conversation_item(self, event: voice_events.ConversationItemAddedEvent) -> None:
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
        for source, key in SESSION_LATENCY.items():
            value = metrics.get(source)
            if isinstance(value, int | float) and len(self.samples[key]) < MAX_SAMPLES:
                self.samples[key].append(round(value * 1000, 1))

    def on_tools_executed(self, event: voice_events.FunctionToolsExecutedEvent) -> None:
        for call, output in event.zipped():
            try:
                arguments = json.loads(call.arguments or "{}")
            except json.JSONDecodeError:
                arguments = {"raw": call.arguments}
            if isinstance(arguments, dict):
                arguments = {
                    name: masked_if_phone(value) if name in CONTACT_ARGUMENTS else value
                    for name, value in arguments.items()
                }
            self.writer.event(
                CallEvent.Type.TOOL_CALL,
                {
                    "name": call.name,
                    "arguments": arguments,
                    "output": output.output if output else None,
                    "is_error": bool(output and output.is_error),
                },
            )

    def on_usage(self, event: voice_events.SessionUsageUpdatedEvent) -> None:
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

    def on_error(self, event: voice_events.ErrorEvent) -> None:
        error = event.error
        recoverable = bool(getattr(error, "recoverable", False))
        if not recoverable and isinstance(event.source, llm.LLM):
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
        if self.opening:
            result["opening"] = self.opening
        for key, values in self.samples.items():
            result[key] = values
            if values:
                result[f"{key}_p50"] = round(percentile(values, 50), 1)
                result[f"{key}_p95"] = round(percentile(values, 95), 1)
        return result

    def participant_event(self, joined: bool, identity: str, kind: str) -> None:
        # A phone caller's identity carries their number (sip_+49…): stored masked, as
        # supervisors see it everywhere.
        shown = self.call.hide_number_in(identity)
        self.writer.event(
            CallEvent.Type.PARTICIPANT_JOINED if joined else CallEvent.Type.PARTICIPANT_LEFT,
            {"identity": shown, "kind": kind},
        )

    def answered(self) -> None:
        self.writer.change_call(Call.mark_active, timezone.now())

    def ended(self, *, failed_reason: str = "") -> None:
        self.writer.change_call(Call.store_metrics, self.metrics())
        self.writer.change_call(Call.mark_ended, timezone.now(), failed_reason=failed_reason)
