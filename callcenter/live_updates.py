"""The one publisher of live call updates, and the group the supervisors' screens follow.

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
number it saw per call can ask for exactly what it missed. Every message goes to the
``calls`` group, wrapped as ``{"type": UPDATE_TYPE, "message": <the JSON above>}``; consumers
handle it in a method named ``live_update``.
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


def call_message(call_id: UUID | str) -> dict[str, Any]:
    """The call's live message, read fresh from the database."""
    return Call.objects.for_messages().get(pk=call_id).to_message()


async def publish(message: dict[str, Any]) -> None:
    """Send one live message to every supervisor's screen (any process, via the layer)."""
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(CALLS_GROUP, {"type": UPDATE_TYPE, "message": message})


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
