"""The desk pages' live updates: one group every desk page (and monitor) follows.

A change of the queue or of anyone's presence is announced as a nudge, ``{"type":
CHANGED_TYPE}``; each page's socket then reads what its own person sees (``desk.board``), so
an offer reaches the person it rings, from whichever process rang it.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

DESK_GROUP = "desk"
CHANGED_TYPE = "desk.changed"  # consumers handle it in a method named desk_changed


async def announce_desk_change() -> None:
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(DESK_GROUP, {"type": CHANGED_TYPE})


def announce_desk_change_sync() -> None:
    """From sync code (a view); a failure to publish is logged: pages catch up on their next
    ping."""
    try:
        async_to_sync(announce_desk_change)()
    except Exception:
        logger.warning("announcing a desk change failed", exc_info=True)
