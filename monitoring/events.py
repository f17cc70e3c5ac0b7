"""The one home of the live-monitor groups and message format.

Everything a supervisor's screen learns about live calls travels as one of these JSON messages,
whether it comes from the snapshot on connect, a resume after a reconnect, or a live delta the
agent worker publishes:

``{"kind": "call", "call": {...}}``
    A call started, was answered, changed vehicle or ended (see :func:`call_message`).
``{"kind": "segment", "call_id": "<uuid>", "sequence": 7, "speaker": "customer", ...}``
    One committed transcript segment (see :func:`segment_message`).
``{"kind": "event", "call_id": "<uuid>", "sequence": 8, "type": "tool_call", "payload": {...}}``
    One call event: tool call, handoff request, participant joined/left, error.

Segments and events share the call's sequence numbers, so a client that remembers the last
number it saw per call can ask for exactly what it missed.

Groups: every message goes to ``calls`` (all supervisors' live view of every call) and to
``call.<uuid>`` (clients following that one call). A consumer joins one or the other, never
both, so no message arrives twice. On the channel layer a message is wrapped as
``{"type": MESSAGE_TYPE, "message": <the JSON above>}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from channels.layers import get_channel_layer

if TYPE_CHECKING:
    from callcenter.models import Call, CallEvent, TranscriptSegment

CALLS_GROUP = "calls"
# Supervisor commands to the agent job serving a call: {"type": CONTROL_TYPE, "command": {...}}
# with command {"action": "whisper"|"take_over"|"hand_back"|"barge_in", "by": "<username>",
# "text": "<whisper>", "at": "<iso time>"}.
CONTROL_TYPE = "call.control"
# Consumers handle it in a method named ``monitor_message``.
MESSAGE_TYPE = "monitor.message"


def call_group(call_id: UUID | str) -> str:
    """Group name of one call's live updates."""
    return f"call.{UUID(str(call_id))}"


def control_group(call_id: UUID | str) -> str:
    """Group the agent job of a call listens to for supervisor commands."""
    return f"control.{UUID(str(call_id))}"


async def send_control(call_id: UUID | str, command: dict[str, Any]) -> None:
    """Hand a supervisor command to the worker serving the call (any machine, via the layer)."""
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(control_group(call_id), {"type": CONTROL_TYPE, "command": command})


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def call_message(call: Call) -> dict[str, Any]:
    """A call's state as the monitor shows it. Reads ``call.vehicle`` and ``call.controller``:
    select them first."""
    vehicle = call.vehicle
    return {
        "kind": "call",
        "call": {
            "id": str(call.pk),
            "room": call.room_name,
            "status": call.status,
            "channel": call.channel,
            "caller": call.caller,
            "vehicle": (
                {
                    "vin": vehicle.vin,
                    "description": f"{vehicle.year} {vehicle.make} {vehicle.model}",
                }
                if vehicle
                else None
            ),
            "started_at": _iso(call.started_at),
            "answered_at": _iso(call.answered_at),
            "ended_at": _iso(call.ended_at),
            "needs_human": call.needs_human,
            "outcome": call.outcome,
            "controller": call.controller.get_username() if call.controller_id else None,
        },
    }


def segment_message(segment: TranscriptSegment) -> dict[str, Any]:
    """One transcript segment."""
    return {
        "kind": "segment",
        "call_id": str(segment.call_id),
        "sequence": segment.sequence,
        "speaker": segment.speaker,
        "text": segment.text,
        "language": segment.language,
        "interrupted": segment.interrupted,
        "started_at": _iso(segment.started_at),
        "ended_at": _iso(segment.ended_at),
    }


def event_message(event: CallEvent) -> dict[str, Any]:
    """One call event (tool call, handoff request, participant change, error)."""
    return {
        "kind": "event",
        "call_id": str(event.call_id),
        "sequence": event.sequence,
        "type": event.type,
        "payload": event.payload,
        "text": event.describe(),
        "important": event.important,
        "created_at": _iso(event.created_at),
    }


def message_call_id(message: dict[str, Any]) -> str:
    return message["call"]["id"] if message["kind"] == "call" else message["call_id"]


async def publish(message: dict[str, Any]) -> None:
    """Send one message to ``calls`` and to its call's group."""
    layer = get_channel_layer()
    if layer is None:
        return
    envelope = {"type": MESSAGE_TYPE, "message": message}
    await layer.group_send(CALLS_GROUP, envelope)
    await layer.group_send(call_group(message_call_id(message)), envelope)
