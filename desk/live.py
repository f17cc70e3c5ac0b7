"""The desk's live updates: one group every desk page and monitor follows.

A change of the desk is announced once, by whoever made it (an agent job, a web host), with
what every page shows alike already read (``desk.board.shared_board``), and with the people
whose own part changed (rung, missed, accepted, freed): only their pages read theirs
(``{"type": CHANGED_TYPE, "shared": {...}, "people": [user ids]}``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from desk.board import shared_board

logger = logging.getLogger(__name__)

DESK_GROUP = "desk"


CHANGED_TYPE = "desk.changed"  # consumers handle it in a method named desk_changed


async def announce_desk_change(people: Iterable[int] = ()) -> None:
    """Tell every desk page and monitor what the desk looks like now, and the pages of
    ``people`` (user ids) to read their own part again."""
    layer = get_channel_layer()
    if layer is not None:
        shared = await database_sync_to_async(shared_board)()
        message = {"type": CHANGED_TYPE, "shared": shared, "people": sorted(set(people))}
        await layer.group_send(DESK_GROUP, message)


def announce_desk_change_sync(people: Iterable[int] = ()) -> None:
    """From sync code (a view); a failure to publish is logged: pages catch up on their next
    ping."""
    try:
        async_to_sync(announce_desk_change)(people)
    except Exception:
        logger.warning("announcing a desk change failed", exc_info=True)
