"""What every staff socket does alike (the supervisors' monitor, the desk): JSON text frames of
a bounded size, a sentence for a message it cannot use (the socket stays open), and the right
to the socket checked again before every message from the page and every
``ACCESS_RECHECK_SECONDS`` while it is open: after a logout, a password change, a deactivation
or a lost permission the socket is closed with 4403."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from callcenter.permissions import is_supervisor, login_still_holds

logger = logging.getLogger(__name__)

REFUSED = 4403  # close code for a socket whose user may not (or may no longer) have it


class BadMessage(ValueError):
    """A client message the socket cannot use; its text goes back in an error frame."""


class StaffSocket(AsyncJsonWebsocketConsumer):
    """A socket for one staff role; ``allowed`` says who holds it (a function of the user)."""

    allowed = staticmethod(is_supervisor)
    MAX_MESSAGE_BYTES = 64 * 1024
    ACCESS_RECHECK_SECONDS = 30.0

    async def admitted(self) -> bool:
        """Whether the connecting user holds the role; refused (4403) before anything is said
        otherwise. Call first in ``connect``."""
        if await database_sync_to_async(self.allowed)(self.scope.get("user")):
            return True
        await self.close(code=REFUSED)
        return False

    def recheck_access(self) -> None:
        """Once accepted: keep checking the login while the socket is open."""
        self._access_recheck = asyncio.create_task(self._recheck_access_periodically())

    async def disconnect(self, code: int) -> None:
        recheck = getattr(self, "_access_recheck", None)
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
        if len(text_data.encode()) > cls.MAX_MESSAGE_BYTES:
            raise BadMessage(f"Messages may be at most {cls.MAX_MESSAGE_BYTES} bytes.")
        try:
            return json.loads(text_data)
        except json.JSONDecodeError as exc:
            raise BadMessage("That message is not valid JSON.") from exc

    async def _access_stands(self) -> bool:
        """Whether the login behind this socket still holds the role; closes it if not."""
        if await database_sync_to_async(login_still_holds)(self.scope, self.allowed):
            return True
        logger.info("closing the %s of %s, whose access ended", type(self).__name__,
                    self.scope.get("user"))  # fmt: skip
        await self.close(code=REFUSED)
        return False

    async def _recheck_access_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.ACCESS_RECHECK_SECONDS)
            try:
                if not await self._access_stands():
                    return
            except Exception:  # the database blinked: keep the socket, check again later
                logger.warning("could not re-check a staff socket's access", exc_info=True)
