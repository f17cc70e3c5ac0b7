"""Supervisors on a live call: the command protocol and the actions, in one place.

The actions (whisper, take over, hand back, barge in) are used by the monitor's socket and the
API alike: each checks and changes the database, sends the command to the agent job serving
the call, and publishes the call's change to the monitors. The job (``agentworker.control``)
reads the same commands.

Ownership is a row update that succeeds for one supervisor only (``Call.take_over``: two
pressing *take over* at once leave one owner; the other is told who). The owner's monitor
renews a lease; when it lapses (the supervisor closed the page, lost the network) the job
hands the call back to the agent and says so.

Commands travel on the channel layer to the group ``control.<call uuid>``, so the web process
and the worker may run on different machines:
``{"type": COMMAND_TYPE, "command": {"action": ..., "by": "<username>", "text": ..., "at": ...,
"id": ..., "reply_to": "<channel>"}}``. The job that carried a command out acknowledges it to
``reply_to`` (``{"type": ACK_TYPE, "id": ..., "action": ..., "call_id": ...}``); the monitor
confirms an action only then, and says it did not reach the agent when no acknowledgement
comes within ``ACK_TIMEOUT_SECONDS``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any
from uuid import UUID, uuid4

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.utils import timezone

from callcenter.live_updates import publish_call_change
from callcenter.models import Call

COMMAND_TYPE = "call.control"
ACK_TYPE = "control.ack"  # consumers handle it in a method named control_ack
# A job answers within milliseconds; this long means the command did not reach one.
ACK_TIMEOUT_SECONDS = 5.0
ACTIONS = ("whisper", "take_over", "hand_back", "barge_in", "transfer")
# The monitor's whisper box has the same maxlength (templates/monitor/monitor.html).
MAX_WHISPER_CHARACTERS = 500


class ControlRefused(Exception):
    """A control action that cannot be done; the message says why, for the supervisor."""


@dataclass(frozen=True)
class SupervisorCommand:
    """One command for the agent job serving a call."""

    action: str
    by: str
    text: str = ""
    at: str = field(default_factory=lambda: timezone.now().isoformat())
    id: str = field(default_factory=lambda: uuid4().hex)
    # The channel that wants the acknowledgement (a supervisor's socket), if any.
    reply_to: str = ""

    def to_message(self) -> dict[str, Any]:
        """The command as the channel layer carries it."""
        return {"type": COMMAND_TYPE, "command": asdict(self)}

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> SupervisorCommand:
        """The command in a channel-layer message; ValueError when it is none."""
        command = message.get("command") or {}
        if command.get("action") not in ACTIONS:
            raise ValueError(f"unknown control action {command.get('action')!r}")
        return cls(
            action=command["action"],
            by=str(command.get("by", "")),
            text=str(command.get("text", ""))[:MAX_WHISPER_CHARACTERS],
            at=str(command.get("at", "")),
            id=str(command.get("id", "")),
            reply_to=str(command.get("reply_to", "")),
        )


def command_group(call_id: UUID | str) -> str:
    """The group the agent job of a call listens to for supervisor commands."""
    return f"control.{UUID(str(call_id))}"


async def send_command(call_id: UUID | str, command: SupervisorCommand) -> None:
    """Hand a command to the job serving the call, wherever it runs."""
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(command_group(call_id), command.to_message())


async def acknowledge(call_id: UUID | str, command: SupervisorCommand) -> None:
    """The job carried ``command`` out: tell the socket that sent it."""
    layer = get_channel_layer()
    if layer is not None and command.reply_to:
        ack = {"type": ACK_TYPE, "id": command.id, "action": command.action}
        await layer.send(command.reply_to, {**ack, "call_id": str(call_id)})


def live_call(call_id: UUID | str) -> Call:
    """The call, if it is live; ControlRefused otherwise."""
    call = Call.objects.for_messages().filter(pk=call_id).first()
    if call is None:
        raise ControlRefused("There is no such call.")
    if not call.is_live:
        raise ControlRefused("This call has ended.")
    return call


def whisper_text(text: Any) -> str:
    """The whisper as it is sent; ControlRefused says what is wrong with it."""
    if not isinstance(text, str) or not text.strip():
        raise ControlRefused("A whisper needs some text.")
    if len(text) > MAX_WHISPER_CHARACTERS:
        raise ControlRefused(f"Whispers may be at most {MAX_WHISPER_CHARACTERS} characters.")
    return text.strip()


def _take(call_id, user) -> None:
    call = live_call(call_id)
    if not call.take_over(user):
        raise ControlRefused(f"{call.controller.get_username()} already controls this call.")


def _release(call_id, user) -> None:
    call = live_call(call_id)
    if not call.release_control(None if user.is_superuser else user.pk):
        raise ControlRefused("You do not control this call.")


# Each action returns the command it sent; ``reply_to`` asks the job for an acknowledgement.


async def whisper(call_id: UUID | str, user, text: Any, reply_to: str = "") -> SupervisorCommand:
    """Guidance for the agent only; the caller never hears it."""
    text = whisper_text(text)
    await database_sync_to_async(live_call)(call_id)
    command = SupervisorCommand("whisper", user.get_username(), text, reply_to=reply_to)
    await send_command(call_id, command)
    return command


async def take_over(call_id: UUID | str, user, reply_to: str = "") -> SupervisorCommand:
    """The supervisor speaks for the call; the agent listens and stays silent."""
    return await _change_control("take_over", _take, call_id, user, reply_to)


async def hand_back(call_id: UUID | str, user, reply_to: str = "") -> SupervisorCommand:
    """Back to the agent; only its controller (or a superuser) may."""
    return await _change_control("hand_back", _release, call_id, user, reply_to)


async def _change_control(action: str, change, call_id, user, reply_to: str) -> SupervisorCommand:
    """Change who controls the call in the database, tell the job, and show the monitors."""
    await database_sync_to_async(change)(call_id, user)
    command = SupervisorCommand(action, user.get_username(), reply_to=reply_to)
    await send_command(call_id, command)
    await publish_call_change(call_id)
    return command


def transferable_call(call_id: UUID | str, user) -> Call:
    """The phone call ``user`` may transfer: not one another supervisor holds a live lease on
    (the owner rules a transfer as they rule the hand-back; a superuser may always)."""
    call = live_call(call_id)
    if call.channel != Call.Channel.PHONE:
        raise ControlRefused("Only phone calls can be transferred to a person's phone.")
    held_by_another = call.controller_id not in (None, user.pk) and not call.control_lapsed()
    if held_by_another and not user.is_superuser:
        raise ControlRefused(
            f"{call.controller.get_username()} controls this call; only they can transfer it."
        )
    return call


async def transfer(call_id: UUID | str, user, reply_to: str = "") -> SupervisorCommand:
    """Hand a phone caller to their line's transfer destination (a cold SIP transfer; the
    job says a sentence first and records the result as a ``transfer`` event)."""
    await database_sync_to_async(transferable_call)(call_id, user)
    command = SupervisorCommand("transfer", user.get_username(), reply_to=reply_to)
    await send_command(call_id, command)
    return command


def answer_waiting_call(call_id: UUID | str, user) -> bool:
    """A supervisor who joins a call no agent has answered (the worker is down or busy)
    answers it: the call is active, and theirs (an agent that comes late stays quiet until
    they hand back). False when the call was not waiting."""
    call = live_call(call_id)
    if call.status != Call.Status.WAITING:
        return False
    call.take_over(user)
    return call.mark_active()


async def barge_in(call_id: UUID | str, user) -> None:
    """The supervisor joins the live call with their microphone (their token comes from the
    API, which checked the call): the agent announces them."""
    await send_command(call_id, SupervisorCommand("barge_in", user.get_username()))


def renew_leases(user) -> int:
    """The supervisor's monitor is still there: keep the calls they control."""
    return Call.renew_control(user)
