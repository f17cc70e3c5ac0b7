"""The supervisors' live-monitor socket: every call's state, and the transcript of the calls
a supervisor has open, with no gaps.

What a socket receives: every call-level change (``callcenter.live_updates.CALLS_GROUP``:
started, answered, vehicle, asks for a person, taken over, ended), and the segments and events
of the calls it has open only (their ``call_group``), at most ``MAX_OPEN_CALLS`` at once.

Protocol (client -> server), JSON objects:
    {"type": "open", "call_id": "<uuid>", "last": <last sequence seen, default 0>}
        Follow a call's transcript: answered with ``{"kind": "opened", "call": {...},
        "items": [...]}`` (what came after ``last``), then its segments and events live.
    {"type": "close", "call_id": "<uuid>"}  ->  {"kind": "closed", "call_id": "<uuid>"}
    {"type": "resume", "last": {"<call uuid>": <last sequence seen>, ...}}
        Send after a reconnect: opens those calls again and answers with exactly the segments
        and events after those numbers (and the calls' current state), then carries on live.
    {"type": "ping"}  ->  {"kind": "pong"}   (also renews the calls this supervisor controls)
    {"type": "whisper", "call_id": "<uuid>", "text": "..."}   guidance for the agent only
    {"type": "take_over" | "hand_back", "call_id": "<uuid>"}
    {"type": "transfer", "call_id": "<uuid>"}                 a phone caller to a person
        Each control message is answered with {"kind": "control", "action": ...} once the job
        serving the call has carried it out, or an error frame with the "action": refused
        (who controls the call, an ended call), or not confirmed by the job in time.
The same resume map may also be given when connecting, as the query string
``?resume=<uuid>:<seq>,<uuid>:<seq>``, so the first snapshot already holds the open calls'
missed items.

Server -> client: ``{"kind": "snapshot", "calls": [...], "items": [...], "finished": [...]}``
on connect (``calls``: every live call; ``items``: those of the calls opened by the resume map;
``finished``: the calls that ended last, newest first), then the live messages of
``callcenter.live_updates`` (``call``, and ``segment`` and ``event`` of the open calls),
``{"kind": "resumed"}`` after a resume, ``{"kind": "desk", "desk": {...}}`` when the desk's queue
or people change (``desk.board.desk_summary``, also in the snapshot), and ``{"kind": "error",
"error": "..."}`` for a message it cannot use (the socket stays open).
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
from django.db.models import Q

from callcenter import supervision
from callcenter.live_updates import CALLS_GROUP, call_group
from callcenter.models import Call, CallEvent, TranscriptSegment, in_sequence
from callcenter.permissions import is_supervisor
from callcenter.staff_socket import REFUSED, BadMessage, StaffSocket
from desk.board import desk_summary
from desk.live import DESK_GROUP

# The calls one monitor follows word by word at once: what a supervisor reads, bounded.
MAX_OPEN_CALLS = 20
RECENTLY_FINISHED = 10  # the monitor's "just finished" list
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


def parse_resume_map(value: Any) -> dict[str, int]:
    """Validate ``{"<uuid>": <non-negative int>}``; BadMessage says what is wrong."""
    if not isinstance(value, dict):
        raise BadMessage('"last" must be an object of call ids to sequence numbers.')
    if len(value) > MAX_OPEN_CALLS:
        raise BadMessage(f'"last" may name at most {MAX_OPEN_CALLS} calls.')
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
    """Live calls (and the calls being resumed, which may have ended), with what was missed of
    the calls in ``last`` (the open ones); on connect also the calls that ended last (a resume
    keeps the page's own list)."""
    wanted = Q(status__in=Call.LIVE_STATUSES) | Q(pk__in=list(last))
    calls = list(Call.objects.for_messages().filter(wanted))
    calls.sort(key=lambda c: c.started_at)
    data = {
        "kind": "snapshot",
        "calls": [call.to_dict() for call in calls],
        "items": items_after([str(call.pk) for call in calls if str(call.pk) in last], last),
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
        data["desk"] = desk_summary()
    return data


def opened(call_id: str, last: int) -> dict[str, Any] | None:
    """A call just opened on a monitor: its state and what came after ``last`` (None: no such
    call)."""
    call = Call.objects.for_messages().filter(pk=call_id).first()
    if call is None:
        return None
    return {"call": call.to_dict(), "items": items_after([call_id], {call_id: last})}


def parse_call_id(content: dict[str, Any]) -> str:
    try:
        return str(UUID(str(content.get("call_id"))))
    except ValueError as exc:
        raise BadMessage('"call_id" must be a call id.') from exc


def parse_sequence(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadMessage('"last" must be a whole number ≥ 0.')
    return value


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


class MonitorConsumer(StaffSocket):
    """Supervisors only. Translates between the socket and the ``calls`` group, and the groups
    of the calls the page has open (``callcenter.staff_socket``: frames, errors, the right to
    the socket checked again)."""

    # Joined before ``connect`` reads the snapshot (and a call's group before its items are
    # read): anything committed later arrives as an update, and anything both read and
    # delivered live is dropped by its sequence.
    groups = [CALLS_GROUP, DESK_GROUP]

    @classmethod
    def as_asgi(cls, **initkwargs):
        return answer_when_layer_down(super().as_asgi(**initkwargs))

    async def connect(self) -> None:
        if not await self.admitted():
            return
        try:
            last = parse_resume_query(self.scope.get("query_string", b""))
        except BadMessage:
            last = {}
        self.sent: dict[str, int] = {}  # the open calls: call id -> the last sequence sent
        self.unconfirmed: dict[str, asyncio.Task] = {}  # command id -> its timeout
        await self.accept()
        await self._open_groups(last)
        await self._send_items_message(await database_sync_to_async(snapshot)(last), last)
        self.recheck_access()

    async def disconnect(self, code: int) -> None:
        await super().disconnect(code)
        for timeout in getattr(self, "unconfirmed", {}).values():
            timeout.cancel()
        for call_id in list(getattr(self, "sent", {})):
            try:
                await self._close_call(call_id)
            except Exception:  # the layer is away; its group membership expires by itself
                logger.warning("monitor: could not leave a call's group", exc_info=True)
                break

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

    async def receive_json(self, content: Any, **kwargs) -> None:
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            raise BadMessage('Messages are JSON objects with a "type".')
        if content["type"] == "ping":
            # The page pings every few seconds: that keeps the calls this supervisor controls.
            await database_sync_to_async(supervision.renew_leases)(self.scope["user"])
            await self.send_json({"kind": "pong"})
        elif content["type"] in CONTROL_ACTIONS:
            await self._control(content)
        elif content["type"] == "open":
            await self._open(parse_call_id(content), parse_sequence(content.get("last", 0)))
        elif content["type"] == "close":
            call_id = parse_call_id(content)
            await self._close_call(call_id)
            await self.send_json({"kind": "closed", "call_id": call_id})
        elif content["type"] == "resume":
            last = parse_resume_map(content.get("last"))
            await self._open_groups(last)
            missing = await database_sync_to_async(snapshot)(last, with_finished=False)
            await self._send_items_message(missing, last, kind="resumed")
        else:
            raise BadMessage(f"Unknown message type {content['type']!r}.")

    async def _control(self, content: dict[str, Any]) -> None:
        action = content["type"]
        call_id = parse_call_id(content)
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
        if call_id not in self.sent:
            return  # closed while the message was on its way
        already = self.sent[call_id]
        if sequence <= already:
            return  # seen in the snapshot or a resume
        if sequence > already + 1:
            # An update went missing on the way (layer capacity, expiry): read the gap.
            gap = await database_sync_to_async(items_after)([call_id], {call_id: already})
            for item in gap:
                if item["sequence"] < sequence:
                    await self._send_item(item)
        await self._send_item(message)

    async def desk_changed(self, event: dict[str, Any]) -> None:
        """The desk's queue or people changed: the monitor's line about the desk (read once
        by whoever changed it)."""
        await self.send_json({"kind": "desk", "desk": event["shared"]["summary"]})

    # --- Helpers ----------------------------------------------------------------------------

    async def _open(self, call_id: str, last: int) -> None:
        await self._open_groups({call_id: last})
        data = await database_sync_to_async(opened)(call_id, last)
        if data is None:
            await self._close_call(call_id)
            raise BadMessage("There is no such call.")
        await self._send_items_message(data, {call_id: last}, kind="opened")

    async def _open_groups(self, last: dict[str, int]) -> None:
        """Join the groups of the calls in ``last`` (before their items are read)."""
        if len(self.sent.keys() | last.keys()) > MAX_OPEN_CALLS:
            raise BadMessage(
                f"A monitor follows at most {MAX_OPEN_CALLS} calls at once: close one first."
            )
        for call_id in last:
            if call_id not in self.sent:
                await self.channel_layer.group_add(call_group(call_id), self.channel_name)
                self.sent[call_id] = 0

    async def _close_call(self, call_id: str) -> None:
        if self.sent.pop(call_id, None) is not None:
            await self.channel_layer.group_discard(call_group(call_id), self.channel_name)

    async def _send_item(self, item: dict[str, Any]) -> None:
        self.sent[item["call_id"]] = max(self.sent.get(item["call_id"], 0), item["sequence"])
        await self.send_json(item)

    async def _send_items_message(
        self, data: dict[str, Any], last: dict[str, int], kind: str = "snapshot"
    ) -> None:
        # What the page says it has is what it has: after it dropped a call's items, it opens
        # the call again from 0 and is sent them all again.
        self.sent.update(last)
        fresh = [i for i in data["items"] if i["sequence"] > self.sent[i["call_id"]]]
        for item in fresh:
            self.sent[item["call_id"]] = max(self.sent[item["call_id"]], item["sequence"])
        message = {"kind": kind, **{key: data[key] for key in ("calls", "call", "finished", "desk")
                                    if key in data}, "items": fresh}  # fmt: skip
        await self.send_json(message)
