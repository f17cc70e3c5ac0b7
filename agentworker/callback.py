"""A callback's job dials the customer before the session starts (the web app asked for it,
telephony.callbacks): through the line's outbound trunk, waiting until they answer. Answered,
busy, no answer or a failure is a ``callback`` event on the call; an unanswered callback ends
the call as failed with that reason."""

from __future__ import annotations

import re

from django.conf import settings
from django.utils import timezone
from google.protobuf.duration_pb2 import Duration
from livekit import api
from livekit.agents import JobContext

from agentworker.call_job import CallJob
from callcenter.models import Call, CallEvent
from telephony.models import PhoneLine

# SIP answers and what they mean for a callback.
BUSY = {486, 600, 603}
NO_ANSWER = {408, 480, 487}


def callback_greeting(reason: str) -> str:
    return (
        "You are calling the customer back because "
        f"{reason}. Greet them, say you are the service desk's assistant calling them back "
        "and why, and ask how you can help."
    )


def outcome_of(error: Exception) -> str:
    """ "busy", "no answer" or "failed: …" for a dial-out LiveKit refused."""
    code = (getattr(error, "metadata", None) or {}).get("sip_status_code")
    if not code:
        found = re.search(r"\b([4-6]\d\d)\b", str(error))
        code = found.group(1) if found else 0
    code = int(code)
    if code in BUSY:
        return "busy"
    if code in NO_ANSWER:
        return "no answer"
    return f"failed: {getattr(error, 'message', None) or error}"


async def dial_customer(ctx: JobContext, job: CallJob) -> bool:
    """Ring the call's customer and wait; True once they answered."""
    call = job.call
    line = await PhoneLine.objects.filter(number=call.dialled_number).afirst()
    try:
        if line is None or not line.outbound_trunk_id:
            raise RuntimeError("the line has no outbound trunk")
        await ctx.api.sip.create_sip_participant(
            api.CreateSIPParticipantRequest(
                sip_trunk_id=line.outbound_trunk_id,
                sip_call_to=call.caller,
                room_name=ctx.room.name,
                participant_identity="customer",
                wait_until_answered=True,
                ringing_timeout=Duration(seconds=settings.CALLBACK_RINGING_SECONDS),
            )
        )
        result = "answered"
    except Exception as error:
        result = outcome_of(error)
    job.writer.event(CallEvent.Type.CALLBACK, {"to": call.caller_shown, "result": result})
    if result != "answered":
        job.writer.change_call(Call.mark_ended, timezone.now(), failed_reason=f"Callback {result}.")
    return result == "answered"
