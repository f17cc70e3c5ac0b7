"""The supervisors' live-monitor socket: snapshot, resume and live deltas, with no gaps.

Protocol (client -> server), JSON objects:
    {"type": "resume", "last": {"<call uuid>": <last sequence seen>, ...}}
        Send after a reconnect: the server answers with exactly the segments and events after
        those numbers (and the calls' current state), then carries on live.
    {"type": "ping"}  ->  {"kind": "pong"}   (also renews the calls this supervisor controls)
    {"type": "whisper", "call_id": "<uuid>", "text": "..."}   guidance for the agent only
    {"type": "take_over" | "hand_back", "call_id": "<uuid>"}   answered with
        {"kind": "control", ...}, or an error frame saying who controls the call
The same resume map may also be given when connecting, as the query string
``?resume=<uuid>:<seq>,<uuid>:<seq>``, so the first snapshot already leaves out what was seen.

Server -> client: ``{"kind": "snapshot", "calls": [...], "items": [...], "finished": [...]}``
(``finished``: the calls that ended last, newest first) on connect, then the
messages of ``monitoring.events`` (``call``, ``segment``, ``event``), ``{"kind": "resumed"}``
after a resume, and ``{"kind": "error", "error": "..."}`` for a message it cannot use (the
socket stays open).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import parse_qs
from uuid import UUID

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.utils import timezone

from callcenter import control
from callcenter.models import Call, CallEvent, TranscriptSegment
from callcenter.permissions import is_supervisor, login_still_supervisor
from monitoring import events

MAX_MESSAGE_BYTES = 64 * 1024
MAX_RESUME_CALLS = 1000
MAX_WHISPER = 500
RECENTLY_FINISHED = 10  # the monitor's "just finished" list
CONTROL_ACTIONS = {"whisper", "take_over", "hand_back"}
REFUSED = 4403  # close code for a socket that is not a supervisor's
TRY_AGAIN_LATER = 1013
LAYER_DOWN = "Live updates are unavailable right now (the message bus is down). Retrying."


logger = logging.getLogger(__name__)


class BadMessage(ValueError):
    """A client message the monitor cannot use; its text goes back in an error frame."""


def parse_resume_map(value: Any) -> dict[str, int]:
    """Validate ``{"<uuid>": <non-negative int>}``; BadMessage says what is wrong."""
    if not isinstance(value, dict):
        raise BadMessage('"last" must be an object of call ids to sequence numbers.')
    if len(value) > MAX_RESUME_CALLS:
        raise BadMessage(f'"last" may name at most {MAX_RESUME_CALLS} calls.')
    result = {}
    for key, sequence in value.items():
        try:
            call_id = str(UUID(str(key)))
        except ValueError as exc:
            raise BadMessage(f"{key!r} is not a call id.") from exc
        if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 0:
            raise BadMessage(f"The sequence for call {call_id} must be a whole number ≥ 0.")
        result[call_id] = sequence
    return result


def parse_resume_query(query_string: bytes) -> dict[str, int]:
    raw = parse_qs(query_string.decode("latin-1")).get("resume", [""])[0]
    pairs = {}
    for part in filter(None, raw.split(",")):
        call_id, _, sequence = part.partition(":")
        pairs[call_id] = int(sequence) if sequence.isdigit() else -1
    return parse_resume_map(pairs)


def items_after(call_ids: list[str], last: dict[str, int]) -> list[dict[str, Any]]:
    """Segments and events of the calls after the numbers in ``last``, in sequence order."""
    items = []
    for call_id in call_ids:
        after = last.get(call_id, 0)
        segments = TranscriptSegment.objects.filter(call_id=call_id, sequence__gt=after)
        call_events = CallEvent.objects.filter(call_id=call_id, sequence__gt=after)
        merged = [events.segment_message(s) for s in segments] + [
            events.event_message(e) for e in call_events
        ]
        items.extend(sorted(merged, key=lambda m: m["sequence"]))
    return items


def snapshot(last: dict[str, int], *, with_finished: bool = True) -> dict[str, Any]:
    """Live calls (and the calls being resumed, which may have ended) with what was missed;
    on connect also the calls that ended last (a resume keeps the page's own list)."""
    calls = list(
        Call.objects.filter(status__in=Call.LIVE_STATUSES).select_related("vehicle", "controller")
        | Call.objects.filter(pk__in=list(last)).select_related("vehicle", "controller")
    )
    calls.sort(key=lambda c: c.started_at)
    call_ids = [str(c.pk) for c in calls]
    data = {
        "kind": "snapshot",
        "calls": [events.call_message(c)["call"] for c in calls],
        "items": items_after(call_ids, last),
    }
    if with_finished:
        # The page's "just finished" list, so that it survives a reload: newest first.
        finished = (
            Call.objects.exclude(status__in=Call.LIVE_STATUSES)
            .filter(ended_at__isnull=False)
            .select_related("vehicle", "controller")
            .order_by("-ended_at")[:RECENTLY_FINISHED]
        )
        data["finished"] = [events.call_message(c)["call"] for c in finished]
    return data


class MonitorConsumer(AsyncJsonWebsocketConsumer):
    """Supervisors only. Translates between the socket and the ``calls`` group.

    The right to the socket is checked again before every message from the page and every
    ``ACCESS_RECHECK_SECONDS`` while it is open: after a logout, a password change, a
    deactivation or a lost permission the socket is closed with 4403.
    """

    ACCESS_RECHECK_SECONDS = 30.0

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except Exception:
            if hasattr(self, "channel_receive"):
                raise
            # The layer could not even make this socket's channel (the pub/sub layer
            # subscribes at once, and Redis is away): answer the handshake ourselves.
            logger.warning("monitor: channel layer unavailable", exc_info=True)
            self.base_send = send
            if (await receive())["type"] == "websocket.connect" and await self._admitted():
                await self._say_layer_down()

    async def _admitted(self) -> bool:
        """Supervisors only: anyone else is refused before anything is said."""
        if await database_sync_to_async(is_supervisor)(self.scope.get("user")):
            return True
        await self.close(code=REFUSED)
        return False

    async def _say_layer_down(self) -> None:
        """The channel layer (Redis) is away: say so, and let the page retry."""
        await self.accept()
        await self.send_json({"kind": "error", "error": LAYER_DOWN})
        await self.close(code=TRY_AGAIN_LATER)

    async def connect(self) -> None:
        if not await self._admitted():
            return
        try:
            last = parse_resume_query(self.scope.get("query_string", b""))
        except BadMessage:
            last = {}
        self.sent: dict[str, int] = {}
        # Join before reading the snapshot: anything committed later arrives as a delta, and
        # anything both in the snapshot and delivered live is dropped by its sequence number.
        try:
            await self.channel_layer.group_add(events.CALLS_GROUP, self.channel_name)
        except Exception:
            logger.warning("monitor: channel layer unavailable", exc_info=True)
            await self._say_layer_down()
            return
        await self.accept()
        await self._send_items_message(await database_sync_to_async(snapshot)(last), last)
        self._access_recheck = asyncio.create_task(self._recheck_access_periodically())

    async def disconnect(self, code: int) -> None:
        recheck = getattr(self, "_access_recheck", None)
        if recheck is not None:
            recheck.cancel()
        try:
            await self.channel_layer.group_discard(events.CALLS_GROUP, self.channel_name)
        except Exception:
            logger.warning("monitor: could not leave the group", exc_info=True)

    # --- From the client --------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
        if not await self._access_stands():
            return
        try:
            if text_data is None:
                raise BadMessage("Send JSON text frames.")
            if len(text_data.encode()) > MAX_MESSAGE_BYTES:
                raise BadMessage(f"Messages may be at most {MAX_MESSAGE_BYTES} bytes.")
            try:
                content = json.loads(text_data)
            except json.JSONDecodeError as exc:
                raise BadMessage("That message is not valid JSON.") from exc
            await self.receive_json(content)
        except BadMessage as error:
            await self.send_json({"kind": "error", "error": str(error)})

    async def receive_json(self, content: Any, **kwargs) -> None:
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            raise BadMessage('Messages are JSON objects with a "type".')
        if content["type"] == "ping":
            # The page pings every few seconds: that keeps the calls this supervisor controls.
            await database_sync_to_async(control.renew_leases)(self.scope["user"])
            await self.send_json({"kind": "pong"})
        elif content["type"] in CONTROL_ACTIONS:
            await self._control(content)
        elif content["type"] == "resume":
            last = parse_resume_map(content.get("last"))
            missing = await database_sync_to_async(snapshot)(last, with_finished=False)
            await self._send_items_message(missing, last, kind="resumed")
        else:
            raise BadMessage(f"Unknown message type {content['type']!r}.")

    async def _control(self, content: dict[str, Any]) -> None:
        action = content["type"]
        try:
            call_id = str(UUID(str(content.get("call_id"))))
        except ValueError as exc:
            raise BadMessage('"call_id" must be a call id.') from exc
        text = content.get("text", "")
        if action == "whisper" and (not isinstance(text, str) or not text.strip()):
            raise BadMessage("A whisper needs some text.")
        if action == "whisper" and len(text) > MAX_WHISPER:
            raise BadMessage(f"Whispers may be at most {MAX_WHISPER} characters.")
        user = self.scope["user"]
        try:
            if action == "take_over":
                await database_sync_to_async(control.take_over)(call_id, user)
            elif action == "hand_back":
                await database_sync_to_async(control.hand_back)(call_id, user)
            else:
                await database_sync_to_async(control.live_call)(call_id)
        except control.ControlRefused as refused:
            await self.send_json({"kind": "error", "action": action, "error": str(refused)})
            return
        command = {"action": action, "by": user.get_username(), "at": timezone.now().isoformat()}
        if action == "whisper":
            command["text"] = text.strip()
        await events.send_control(call_id, command)
        if action != "whisper":
            fresh = await Call.objects.select_related("vehicle", "controller").aget(pk=call_id)
            await events.publish(events.call_message(fresh))
        await self.send_json({"kind": "control", "action": action, "call_id": call_id})

    # --- From the group ---------------------------------------------------------------------

    async def monitor_message(self, envelope: dict[str, Any]) -> None:
        message = envelope["message"]
        if message["kind"] == "call":
            await self.send_json(message)
            return
        call_id, sequence = message["call_id"], message["sequence"]
        already = self.sent.get(call_id, 0)
        if sequence <= already:
            return  # seen in the snapshot or a resume
        if sequence > already + 1:
            # A delta went missing on the way (layer capacity, expiry): read the gap.
            gap = await database_sync_to_async(items_after)([call_id], {call_id: already})
            for item in gap:
                if item["sequence"] < sequence:
                    await self._send_item(item)
        await self._send_item(message)

    # --- Helpers ----------------------------------------------------------------------------

    async def _access_stands(self) -> bool:
        """Whether the login behind this socket is still a supervisor's; closes it if not."""
        if await database_sync_to_async(login_still_supervisor)(self.scope):
            return True
        logger.info("monitor: closing the socket of %s, whose access ended", self.scope["user"])
        await self.close(code=REFUSED)
        return False

    async def _recheck_access_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.ACCESS_RECHECK_SECONDS)
            try:
                if not await self._access_stands():
                    return
            except Exception:  # the database blinked: keep the socket, check again later
                logger.warning("monitor: could not re-check access", exc_info=True)

    async def _send_item(self, item: dict[str, Any]) -> None:
        self.sent[item["call_id"]] = max(self.sent.get(item["call_id"], 0), item["sequence"])
        await self.send_json(item)

    async def _send_items_message(
        self, data: dict[str, Any], last: dict[str, int], kind: str = "snapshot"
    ) -> None:
        for call_id, sequence in last.items():
            self.sent[call_id] = max(self.sent.get(call_id, 0), sequence)
        fresh = [i for i in data["items"] if i["sequence"] > self.sent.get(i["call_id"], 0)]
        for item in fresh:
            self.sent[item["call_id"]] = max(self.sent.get(item["call_id"], 0), item["sequence"])
        for call in data["calls"]:
            self.sent.setdefault(call["id"], 0)
        message = {"kind": kind, "calls": data["calls"], "items": fresh}
        if "finished" in data:
            message["finished"] = data["finished"]
        await self.send_json(message)
