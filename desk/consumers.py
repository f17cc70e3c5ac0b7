"""The desk page's socket: the person's presence, and what their page shows, live.

Protocol (client -> server), JSON objects:
    {"type": "ping"}        every few seconds: the person's page is there (presence, and the
                            lease on the call they are on); answered with {"kind": "pong"}
    {"type": "available"} | {"type": "away"}   whether handoffs may ring at their desk
Server -> client: on connect and after every change of the desk anywhere, what every page
shows alike, ``{"kind": "desk", "queue": [...], "callbacks": [...], "summary": {...}}``, and
when the person's own part changed, ``{"kind": "mine", "me": {...}, "current": {...},
"today": [...]}`` (``desk.board``); ``{"kind": "error", "error": "..."}`` for a message it cannot
use (the socket stays open). Accepting, declining and handing back go through the API.
"""

from __future__ import annotations

import logging
from typing import Any

from channels.db import database_sync_to_async

from callcenter.models import Call
from callcenter.staff_socket import BadMessage, StaffSocket
from desk import routing
from desk.board import my_board, shared_board
from desk.live import DESK_GROUP, announce_desk_change
from desk.models import DeskPerson
from desk.permissions import is_desk_staff

logger = logging.getLogger(__name__)


def _ping(user) -> set[int]:
    """The page is there: presence and the lease on their call renewed, and offers that rang
    out passed on. Returns the people whose desk changed."""
    DeskPerson.of(user).seen()
    Call.renew_control(user)
    return routing.route()


def _set_available(user, available: bool) -> set[int]:
    DeskPerson.of(user).set_available(available)
    return {user.pk, *(ring.user_id for ring in routing.ring_next())}


class DeskConsumer(StaffSocket):
    """People at the desk only (``callcenter.staff_socket``: frames, errors, the right to the
    socket checked again)."""

    groups = [DESK_GROUP]
    allowed = staticmethod(is_desk_staff)
    MAX_MESSAGE_BYTES = 4 * 1024

    async def connect(self) -> None:
        if not await self.admitted():
            return
        await self.accept()
        user = self.scope["user"]
        changed = await database_sync_to_async(_ping)(user)
        if changed:
            await announce_desk_change(changed)
        await self.send_json(await database_sync_to_async(shared_board)())
        await self._send_mine()
        self.recheck_access()

    async def receive_json(self, content: Any, **kwargs) -> None:
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            raise BadMessage('Messages are JSON objects with a "type".')
        user = self.scope["user"]
        if content["type"] == "ping":
            if changed := await database_sync_to_async(_ping)(user):
                await announce_desk_change(changed)
            await self.send_json({"kind": "pong"})
        elif content["type"] in ("available", "away"):
            available = content["type"] == "available"
            changed = await database_sync_to_async(_set_available)(user, available)
            await announce_desk_change(changed)
        else:
            raise BadMessage(f"Unknown message type {content['type']!r}.")

    async def desk_changed(self, event: dict[str, Any]) -> None:
        """A change of the desk anywhere: what everybody sees, as it came; this person's own
        part, read again, when it changed."""
        await self.send_json(event["shared"])
        if self.scope["user"].pk in event["people"]:
            await self._send_mine()

    async def _send_mine(self) -> None:
        await self.send_json(await database_sync_to_async(my_board)(self.scope["user"]))
