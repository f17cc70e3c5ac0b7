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

import asyncio
import json
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from callcenter.models import Call
from desk import routing
from desk.board import my_board, shared_board
from desk.live import DESK_GROUP, announce_desk_change
from desk.models import DeskPerson
from desk.permissions import is_desk_staff, login_still_desk_staff

logger = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 4 * 1024
REFUSED = 4403


class BadMessage(ValueError):
    """A client message the desk cannot use; its text goes back in an error frame."""


def _ping(user) -> set[int]:
    """The page is there: presence and the lease on their call renewed, and offers that rang
    out passed on. Returns the people whose desk changed."""
    DeskPerson.of(user).seen()
    Call.renew_control(user)
    return routing.route()


def _set_available(user, available: bool) -> set[int]:
    DeskPerson.of(user).set_available(available)
    return {user.pk, *(ring.user_id for ring in routing.ring_next())}


class DeskConsumer(AsyncJsonWebsocketConsumer):
    """People at the desk only; their right is checked again every ``ACCESS_RECHECK_SECONDS``
    and before each message."""

    groups = [DESK_GROUP]
    ACCESS_RECHECK_SECONDS = 30.0

    async def connect(self) -> None:
        if not await database_sync_to_async(is_desk_staff)(self.scope.get("user")):
            await self.close(code=REFUSED)
            return
        await self.accept()
        user = self.scope["user"]
        changed = await database_sync_to_async(_ping)(user)
        if changed:
            await announce_desk_change(changed)
        await self.send_json(await database_sync_to_async(shared_board)())
        await self._send_mine()
        self._recheck = asyncio.create_task(self._recheck_access_periodically())

    async def disconnect(self, code: int) -> None:
        recheck = getattr(self, "_recheck", None)
        if recheck is not None:
            recheck.cancel()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
        if not await self._access_stands():
            return
        try:
            if not text_data:
                raise BadMessage("Send JSON text frames.")
            await super().receive(text_data=text_data)
        except BadMessage as error:
            await self.send_json({"kind": "error", "error": str(error)})

    @classmethod
    async def decode_json(cls, text_data: str) -> Any:
        if len(text_data.encode()) > MAX_MESSAGE_BYTES:
            raise BadMessage(f"Messages may be at most {MAX_MESSAGE_BYTES} bytes.")
        try:
            return json.loads(text_data)
        except json.JSONDecodeError as exc:
            raise BadMessage("That message is not valid JSON.") from exc

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

    async def _access_stands(self) -> bool:
        if await database_sync_to_async(login_still_desk_staff)(self.scope):
            return True
        await self.close(code=REFUSED)
        return False

    async def _recheck_access_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.ACCESS_RECHECK_SECONDS)
            try:
                if not await self._access_stands():
                    return
            except Exception:  # the database blinked: keep the socket, check again later
                logger.warning("desk: could not re-check access", exc_info=True)
