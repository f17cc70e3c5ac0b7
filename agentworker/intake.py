"""Which call a job takes up: the call its request names, the room's, or (a phone call) a new
one with the caller's number read from the room and hidden again; unless another job serves
it already, or it has ended."""

from __future__ import annotations

import asyncio
import logging
import re

from asgiref.sync import sync_to_async
from livekit import api, rtc
from livekit.agents import JobContext

from agentworker.resume import served_by_another_job, takes_over_from_a_lost_job
from callcenter.job_request import JobKind, JobRequest
from callcenter.livekit_server import livekit_api
from callcenter.models import UNKNOWN_CALLER, Call
from telephony.provisioning import CALLER_ATTRIBUTE

logger = logging.getLogger(__name__)

# The longest caller number kept: E.164 has 15 digits; a From header's user part may be any
# text a SIP peer chose.
CALLER_MAX = 32
FROM_USER = re.compile(r"(?:sips?|tel):([^@;>\s]+)", re.IGNORECASE)
ENDED_CALL_MESSAGE = "This call has already ended. Please start a new call."


def number_in_from_header(header: str) -> str:
    """The caller in a SIP From header (``"Ana" <sip:+4915112345678@10.0.0.1>;tag=x``):
    its user part, cut to CALLER_MAX; "" when there is none."""
    found = FROM_USER.search(header or "")
    return found.group(1)[:CALLER_MAX] if found else ""


async def phone_numbers(ctx: JobContext, dialled: str) -> tuple[str, str]:
    """A phone call's (caller's number, dialled number). The dispatch rule hides the caller's
    number from the room (its name, the participant's identity, name and attributes); the
    trunk copies the From header into one attribute, which the job reads and clears before
    the call exists for supervisors, so a listen-in shows no number. The dialled number is
    the line the rule names."""
    sip = rtc.ParticipantKind.PARTICIPANT_KIND_SIP
    caller = next((p for p in ctx.room.remote_participants.values() if p.kind == sip), None)
    if caller is None:
        try:
            caller = await asyncio.wait_for(ctx.wait_for_participant(kind=sip), timeout=10)
        except TimeoutError:
            return UNKNOWN_CALLER, dialled
    number = number_in_from_header(caller.attributes.get(CALLER_ATTRIBUTE, ""))
    try:
        await ctx.api.room.update_participant(
            api.UpdateParticipantRequest(
                room=ctx.room.name, identity=caller.identity, name="Phone caller",
                attributes={CALLER_ATTRIBUTE: ""},  # an empty value removes it
            )
        )  # fmt: skip
    except Exception:
        logger.warning("call in %s: the caller's attribute was not cleared", ctx.room.name)
    return number or UNKNOWN_CALLER, dialled


class AlreadyServed(Exception):
    """Another job serves the call, in the room with this one."""


class NoCallToServe(Exception):
    """The request names no call of ours, and the room is none."""


async def open_call(
    request: JobRequest | None,
    room_name: str,
    job_id: str,
    phone: tuple[str, str] | None = None,
    agents_in_room: set[str] = frozenset(),
) -> tuple[Call, bool]:
    """The Call this job serves: the requested one, else the room's, else (a phone call) a new
    one: ``phone`` holds the caller's and the dialled number; and whether it takes the call
    over from a job that was lost (``agentworker.resume``). Raises ``AlreadyServed`` when the
    job serving the call is in the room (``agents_in_room``: the identities of agents there),
    ``NoCallToServe`` when there is no call to serve."""
    call_id = request.call_id if request else None
    call = await Call.objects.filter(pk=call_id).afirst() if call_id else None
    if call is None:
        call = await Call.objects.filter(room_name=room_name).afirst()
    if call is None:
        if request is None or request.kind != JobKind.PHONE_CALL:
            raise NoCallToServe(room_name)
        caller, dialled = phone or (UNKNOWN_CALLER, request.phone_line)
        call = await Call.objects.acreate(
            room_name=room_name, channel=Call.Channel.PHONE, caller=caller, dialled_number=dialled
        )
    if served_by_another_job(call, job_id, agents_in_room):
        raise AlreadyServed(call.worker_job_id)
    resuming = takes_over_from_a_lost_job(call, job_id)
    # An ended call's record is never rewritten (see refuse_ended_call).
    await sync_to_async(call.assign_job)(job_id)
    return call, resuming


async def take_up_call(ctx: JobContext, request: JobRequest | None) -> tuple[Call, bool] | None:
    """The call this job serves and whether it resumes it; None when the job leaves instead
    (another job serves the call, it has ended, or the room is no call of ours)."""
    phone = None
    if request and request.kind == JobKind.PHONE_CALL and request.call_id is None:
        phone = await phone_numbers(ctx, request.phone_line)
    agents = {
        p.identity
        for p in ctx.room.remote_participants.values()
        if p.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT
    }
    try:
        call, resuming = await open_call(request, ctx.room.name, ctx.job.id, phone, agents)
    except AlreadyServed as served:
        logger.info("room %s: job %s serves the call already; leaving", ctx.room.name, served)
        ctx.shutdown(reason="another job serves the call")
        return None
    except NoCallToServe:
        logger.warning("room %s: dispatched with no call of ours; leaving", ctx.room.name)
        ctx.shutdown(reason="no call to serve")
        return None
    if not call.is_live:
        await refuse_ended_call(ctx, call)
        return None
    return call, resuming


async def refuse_ended_call(ctx: JobContext, call: Call) -> None:
    """A job for a call that has ended: the caller rejoined with their old token (it lives
    10 minutes and dispatches the agent), which recreated the room. Nothing of the stored
    call is touched; the caller is told, and the room is closed."""
    logger.warning("call %s has already ended: job %s refuses it", call.pk, ctx.job.id)
    try:
        await ctx.room.local_participant.send_text(ENDED_CALL_MESSAGE, topic="lk.transcription")
        async with livekit_api() as lkapi:
            await lkapi.room.delete_room(api.DeleteRoomRequest(room=ctx.room.name))
    except Exception:
        logger.warning("call %s: could not close the rejoined room", call.pk, exc_info=True)
    ctx.shutdown(reason="the call has already ended")
