"""A call taken up by a new job after its agent was lost (its worker died mid-call).

Everything the conversation needs is in the database: the transcript, the tools' answers,
the supervisors' notes, the call's vehicle and control. The new job rebuilds the model's
conversation from them, so the caller never repeats what they gave, tells the caller once
that it is back, and records how long the call was without its agent.
"""

from __future__ import annotations

import json
import socket

from asgiref.sync import sync_to_async
from django.utils import timezone
from livekit.agents import llm

from callcenter.models import Call, CallEvent, TranscriptSegment

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
    context.add_message(role="system", content=BACK_INSTRUCTIONS)
    return context


def record_return(call: Call, writer) -> None:
    """The call has its agent again: how long it was without one, on the monitor and the
    record (``agent_lost_at`` as the webhook set it, or the lost job's last write)."""
    lost_at = call.agent_lost_at
    seconds = round((timezone.now() - lost_at).total_seconds(), 1) if lost_at else None
    writer.event(CallEvent.Type.AGENT_BACK, {"seconds": seconds, "worker": socket.gethostname()})
    writer.change_call(Call.mark_agent_back)
