"""The supervisors' live-monitor socket: snapshot, resume and live updates, with no gaps.

Protocol (client -> server), JSON objects:
    {"type": "resume", "last": {"<call uuid>": <last sequence seen>, ...}}
        Send after a reconnect: the server answers with exactly the segments and events after
        those numbers (and the calls' current state), then carries on live.
    {"type": "ping"}  ->  {"kind": "pong"}   (also renews the calls this supervisor controls)
    {"type": "whisper", "call_id": "<uuid>", "text": "..."}   guidance for the agent only
    {"type": "take_over" | "hand_back", "call_id": "<uuid>"}
    {"type": "transfer", "call_id": "<uuid>"}                 a phone caller to a person
        Each control message is answered with {"kind": "control", "action": ...} once the job
        serving the call has carried it out, or an error frame with the "action": refused
        (who controls the call, an ended call), or not confirmed by the job in time.
The same resume map may also be given when connecting, as the query string
``?resume=<uuid>:<seq>,<uuid>:<seq>``, so the first snapshot already leaves out what was seen.

Server -> client: ``{"kind": "snapshot", "calls": [...], "items": [...], "finished": [...]}``
(``finished``: the calls that ended last, newest first) on connect, then the live messages
of ``callcenter.live_updates`` (``call``, ``segment``, ``event``), ``{"kind": "resumed"}``
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
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.db.models import Q

from callcenter import supervision
from callcenter.live_updates import CALLS_GROUP
from callcenter.models import Call, CallEvent, TranscriptSegment, in_sequence
from callcenter.permissions import is_supervisor, login_still_supervisor

MAX_MESSAGE_BYTES = 64 * 1024
MAX_RESUME_CALLS = 1000
RECENTLY_FINISHED = 10  # the monitor's "just finished" list
REFUSED = 4403  # close code for a socket that is not a supervisor's
TRY_AGAIN_LATER = 1013
LAYER_DOWN = "Live updates are unavailable right now (the message bus is down). Retrying."
# What the page says when the job serving the call does not acknowledge a command in time.
NOT_CONFIRMED = {
    "whisper": "The agent did not confirm your whisper: it may not have reached it. Try again.",
    "take_over": "The agent did not confirm that you took over: it may still answer the caller.",
    "hand_back": "The agent did not confirm the hand-back: it may still be holding back.",
    "transfer": "The agent did not confirm the transfer: the caller may still be on the line.",
}
CONTROL_ACTIONS = {"whisper", "take_over", "hand_back", "transfer"}


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
    """Segments and events of the calls after the numbers in ``last``, call by call in
    sequence order: two queries whatever the number of calls."""
    if not call_ids:
        return []
    missed = Q()
    for call_id in call_ids:
        missed |= Q(call_id=call_id, sequence__gt=last.get(call_id, 0))
    timeline = in_sequence(
        TranscriptSegment.objects.filter(missed), CallEvent.objects.filter(missed)
    )
    position = {call_id: index for index, call_id in enumerate(call_ids)}
    timeline.sort(key=lambda item: position[str(item.call_id)])  # stable: sequence kept
    return [item.to_message() for item in timeline]


def snapshot(last: dict[str, int], *, with_finished: bool = True) -> dict[str, Any]:
    """Live calls (and the calls being resumed, which may have ended) with what was missed;
    on connect also the calls that ended last (a resume keeps the page's own list)."""
    wanted = Q(status__in=Call.LIVE_STATUSES) | Q(pk__in=list(last))
    calls = list(Call.objects.for_messages().filter(wanted))
    calls.sort(key=lambda c: c.started_at)
    data = {
        "kind": "snapshot",
        "calls": [call.to_dict() for call in calls],
        "items": items_after([str(call.pk) for call in calls], last),
    }
    if with_finished:
        # The page's "just finished" list, so that it survives a reload: newest first.
        finished = (
            Call.objects.exclude(status__in=Call.LIVE_STATUSES)
            .filter(ended_at__isnull=False)
            .for_messages()
            .order_by("-ended_at")[:RECENTLY_FINISHED]
        )
        data["finished"] = [call.to_dict() for call in finished]
    return data


def answer_when_layer_down(consumer):
    """Wraps the consumer's ASGI app: when the channel layer fails before the socket was
    answered (the pub/sub layer subscribes a new channel at once, so with Redis away the
    consumer cannot even start), a supervisor is told so and asked to retry; anyone else
    is refused as always."""

    async def app(scope, receive, send) -> None:
        handshake = {"received": False, "answered": False}

        async def receiving():
            message = await receive()
            handshake["received"] |= message["type"] == "websocket.connect"
            return message

        async def sending(message):
            handshake["answered"] = True
            await send(message)

        try:
            await consumer(scope, receiving, sending)
        except Exception:
            if handshake["answered"]:
                raise
            logger.warning("monitor: channel layer unavailable", exc_info=True)
            if not handshake["received"] and (await receive())["type"] != "websocket.connect":
                return
            if not await database_sync_to_async(is_supervisor)(scope.get("user")):
                await send({"type": "websocket.close", "code": REFUSED})
                return
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.send", "text": json.dumps(_layer_down())})
            await send({"type": "websocket.close", "code": TRY_AGAIN_LATER})

    return app


def _layer_down() -> dict[str, str]:
    return {"kind": "error", "error": LAYER_DOWN}


class MonitorConsumer(AsyncJsonWebsocketConsumer):
    """Supervisors only. Translates between the socket and the ``calls`` group.

    The right to the socket is checked again before every message from the page and every
    ``ACCESS_RECHECK_SECONDS`` while it is open: after a logout, a password change, a
    deactivation or a lost permission the socket is closed with 4403.
    """

    # Joined before ``connect`` reads the snapshot: anything committed later arrives as an
    # update, and anything both in the snapshot and delivered live is dropped by its sequence.
    groups = [CALLS_GROUP]
    ACCESS_RECHECK_SECONDS = 30.0

    @classmethod
    def as_asgi(cls, **initkwargs):
        return answer_when_layer_down(super().as_asgi(**initkwargs))

    async def connect(self) -> None:
        if not await database_sync_to_async(is_supervisor)(self.scope.get("user")):
            await self.close(code=REFUSED)  # before anything is said
            return
        try:
            last = parse_resume_query(self.scope.get("query_string", b""))
        except BadMessage:
            last = {}
        self.sent: dict[str, int] = {}
        self.unconfirmed: dict[str, asyncio.Task] = {}  # command id -> its timeout
        await self.accept()
        await self._send_items_message(await database_sync_to_async(snapshot)(last), last)
        self._access_recheck = asyncio.create_task(self._recheck_access_periodically())

    async def disconnect(self, code: int) -> None:
        recheck = getattr(self, "_access_recheck", None)
        if recheck is not None:
            recheck.cancel()
        for timeout in getattr(self, "unconfirmed", {}).values():
            timeout.cancel()

    async def websocket_disconnect(self, message) -> None:
        try:
            await super().websocket_disconnect(message)  # leaves the groups
        except StopConsumer:
            raise
        except Exception:  # the layer is away; its group membership expires by itself
            logger.warning("monitor: could not leave the group", exc_info=True)
            await self.disconnect(message["code"])
            raise StopConsumer() from None

    # --- From the client --------------------------------------------------------------------

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
        if content["type"] == "ping":
            # The page pings every few seconds: that keeps the calls this supervisor controls.
            await database_sync_to_async(supervision.renew_leases)(self.scope["user"])
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
        user, reply_to = self.scope["user"], self.channel_name
        try:
            if action == "whisper":
                text = content.get("text", "")
                command = await supervision.whisper(call_id, user, text, reply_to=reply_to)
            elif action == "take_over":
                command = await supervision.take_over(call_id, user, reply_to=reply_to)
            elif action == "transfer":
                command = await supervision.transfer(call_id, user, reply_to=reply_to)
            else:
                command = await supervision.hand_back(call_id, user, reply_to=reply_to)
        except supervision.ControlRefused as refused:
            await self.send_json({"kind": "error", "action": action, "error": str(refused)})
            return
        # Confirmed to the page when the job serving the call acknowledges it (control_ack).
        self.unconfirmed[command.id] = asyncio.create_task(self._unconfirmed_after(command))

    async def _unconfirmed_after(self, command: supervision.SupervisorCommand) -> None:
        await asyncio.sleep(supervision.ACK_TIMEOUT_SECONDS)
        self.unconfirmed.pop(command.id, None)
        error = NOT_CONFIRMED[command.action]
        await self.send_json({"kind": "error", "action": command.action, "error": error})

    async def control_ack(self, ack: dict[str, Any]) -> None:
        """The job serving the call carried a command of this socket out."""
        waiting = self.unconfirmed.pop(ack.get("id"), None)
        if waiting is None:
            return  # too late: the page was already told it did not arrive
        waiting.cancel()
        await self.send_json(
            {"kind": "control", "action": ack["action"], "call_id": ack["call_id"]}
        )

    # --- From the group ---------------------------------------------------------------------

    async def live_update(self, envelope: dict[str, Any]) -> None:
        message = envelope["message"]
        if message["kind"] == "call":
            await self.send_json(message)
            return
        call_id, sequence = message["call_id"], message["sequence"]
        already = self.sent.get(call_id, 0)
        if sequence <= already:
            return  # seen in the snapshot or a resume
        if sequence > already + 1:
            # An update went missing on the way (layer capacity, expiry): read the gap.
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
