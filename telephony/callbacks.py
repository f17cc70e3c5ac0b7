"""Callbacks: a supervisor asks the desk to phone back a caller whose call failed or was
abandoned. The web app records the new call and dispatches the agent to a room of its own;
the agent's job dials out through the line's outbound trunk (agentworker.callback) and opens
with the reason; answered, busy, no answer and failures are recorded on the new call."""

from __future__ import annotations

import json

from asgiref.sync import async_to_sync
from django.conf import settings
from livekit import api

from callcenter.models import Call
from telephony.models import PhoneLine
from telephony.provisioning import livekit_client


class CallbackRefused(ValueError):
    """The call cannot be called back; the message says why."""


def callback_metadata(call: Call, reason: str) -> str:
    return json.dumps({"call_id": str(call.pk), "callback": {"reason": reason}})


def callback_of(metadata: str) -> dict | None:
    """The callback a job's dispatch metadata asks for, or None."""
    try:
        found = json.loads(metadata or "{}").get("callback")
    except (ValueError, TypeError, AttributeError):
        return None
    return found if isinstance(found, dict) else None


def reason_for(call: Call) -> str:
    if call.status == Call.Status.FAILED:
        return "your call to the service desk did not go through"
    return "your call to the service desk ended before we could help"


def request_callback(original: Call) -> Call:
    """The new call that phones ``original``'s caller back, its agent dispatched."""
    if original.channel != Call.Channel.PHONE or not original.caller.startswith("+"):
        raise CallbackRefused("Only phone calls with the caller's number can be called back.")
    if original.is_live:
        raise CallbackRefused("This call is still going on.")
    if not (original.status == Call.Status.FAILED or original.outcome == Call.Outcome.ABANDONED):
        raise CallbackRefused("Only failed or abandoned calls are called back.")
    line = PhoneLine.objects.filter(number=original.dialled_number).first()
    if line is None or not line.outbound_trunk_id:
        raise CallbackRefused(
            "The line this call came in on has no outbound trunk: add the provider's "
            "outbound address to the phone line in the admin."
        )
    callback = Call.objects.create(
        channel=Call.Channel.PHONE, caller=original.caller, dialled_number=line.number,
        callback_of=original, vehicle=original.vehicle,
    )  # fmt: skip
    try:
        async_to_sync(_dispatch)(callback, reason_for(original))
    except Exception as error:  # LiveKit away or refusing: the new call says so
        callback.mark_ended(failed_reason=f"Callback not started: {error}")
        raise CallbackRefused(f"LiveKit did not start the callback: {error}") from error
    return callback


async def _dispatch(callback: Call, reason: str) -> None:
    lkapi = livekit_client()
    try:
        await lkapi.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(
                agent_name=settings.LIVEKIT_AGENT_NAME,
                room=callback.room_name,
                metadata=callback_metadata(callback, reason),
            )
        )
    finally:
        await lkapi.aclose()
