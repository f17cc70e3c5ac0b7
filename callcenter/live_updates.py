"""The one publisher of live call updates, and the groups the supervisors' screens follow.

Everything a supervisor's monitor learns about live calls travels as one of the models' live
messages (their ``to_message``), whether it comes from the snapshot on connect, a resume after
a reconnect, or a live update:

``{"kind": "call", "call": {...}}``
    A call started, was answered, changed vehicle, controller or status (``Call.to_message``).
    ``call.version`` counts the changes of the row: a late message with a lower version than
    one already shown is stale.
``{"kind": "segment", "call_id": "<uuid>", "sequence": 7, "speaker": "customer", ...}``
    One committed transcript segment (``TranscriptSegment.to_message``).
``{"kind": "event", "call_id": "<uuid>", "sequence": 8, "type": "tool_call", ...}``
    One call event with its sentence (``CallEvent.to_message``).

Segments and events share the call's sequence numbers, so a client that remembers the last
number it saw per call can ask for exactly what it missed.

What goes to whom: a call's changes go to the ``calls`` group, which every monitor follows
(a few small messages per call: the list, its counts and the handoff alert); a call's
segments and events go only to its own group, ``call_group(call_id)``, which a monitor joins
while a supervisor has that call open. A monitor's work and messages thus grow with the calls
it shows open, not with every word said anywhere. Each message travels wrapped as
``{"type": UPDATE_TYPE, "message": <the JSON above>}``; consumers handle it in a method named
``live_update``.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from callcenter.models import Call

logger = logging.getLogger(__name__)

CALLS_GROUP = "calls"
UPDATE_TYPE = "live.update"


def call_group(call_id: UUID | str) -> str:
    """The group of the monitors that have the call open: its segments and events."""
    return f"call.{call_id}"


def group_of(message: dict[str, Any]) -> str:
    """Where a live message goes: a call's change to every monitor, its words to its own."""
    return CALLS_GROUP if message["kind"] == "call" else call_group(message["call_id"])


def call_message(call_id: UUID | str) -> dict[str, Any]:
    """The call's live message, read fresh from the database."""
    return Call.objects.for_messages().get(pk=call_id).to_message()


async def publish(message: dict[str, Any]) -> None:
    """Send one live message to the screens that follow it (any process, via the layer)."""
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(group_of(message), {"type": UPDATE_TYPE, "message": message})


def announce_call_change(call_id: UUID | str) -> None:
    """Tell the screens the call's state as it is now stored, from sync code (a view, a
    webhook, a command); a failure to publish is logged, never the caller's error: the
    screens catch up on their next snapshot."""
    try:
        async_to_sync(publish)(call_message(call_id))
    except Exception:
        logger.warning("publishing call %s failed", call_id, exc_info=True)


async def publish_call_change(call_id: UUID | str) -> None:
    """Tell the screens the call's state as it is now stored (from async code; sync code
    publishes ``call_message`` itself, on its own database connection)."""
    await publish(await database_sync_to_async(call_message)(call_id))
