"""A callback's job dials the customer once its session is running (the web app asked for
it, telephony.callbacks): through the line's outbound trunk, waiting until they answer, with
livekit-agents' answering-machine detection listening once they have. A person (or a silence
nobody can classify) hears the agent's opening; a voicemail box hears a short message with the
number to call back; a full mailbox or a phone menu is put down. Every outcome (answered,
busy, no answer, voicemail, voicemail full, phone menu, hung up, failed) is a ``callback``
event, and a callback that reached nobody ends the call as failed with that reason."""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone
from google.protobuf.duration_pb2 import Duration
from livekit import api
from livekit.agents import JobContext
from livekit.agents.voice.amd import AMD, AMDCategory

from agentworker.call_job import CallJob
from callcenter.models import Call, CallEvent
from telephony.models import PhoneLine

# SIP answers and what they mean for a callback.
BUSY = {486, 600, 603}
NO_ANSWER = {408, 480, 487}

CUSTOMER_IDENTITY = "customer"

# What the answering-machine detection heard, as the callback's outcome (else "answered").
MACHINE_OUTCOMES = {
    AMDCategory.MACHINE_VM: "voicemail",
    AMDCategory.MACHINE_UNAVAILABLE: "voicemail full",
    AMDCategory.MACHINE_IVR: "phone menu",
}

# Why a callback that reached nobody failed, as the call's record says it.
FAILURE_REASONS = {
    "voicemail": "{} reached voicemail: a message was left.",
    "voicemail full": "{} reached a voicemail that takes no messages.",
    "phone menu": "{} reached a phone menu.",
    "hung up": "{} answered, but the customer hung up at once.",
}


def callback_greeting(reason: str) -> str:
    return (
        "You are calling the customer back because "
        f"{reason}. Greet them, say you are the service desk's assistant calling them back "
        "and why, and ask how you can help."
    )


def callback_instructions(instructions: str, reason: str) -> str:
    """The agent's instructions on a callback: it placed the call, and knows why."""
    return (
        f"{instructions}\nThis is a call you placed: you are calling the customer back because "
        f"{reason}."
    )


def voicemail_message(reason: str, line: PhoneLine | None) -> str:
    """What the agent leaves on a voicemail box after a callback."""
    return left_on_voicemail(
        f"Hello, this is {settings.SERVICE_DESK_NAME} calling you back because {reason}.", line
    )


def left_on_voicemail(hello: str, line: PhoneLine | None) -> str:
    """A voicemail message: ``hello`` (who called and why), then how to call back."""
    number = (line.number if line else "") or settings.SERVICE_DESK_PHONE
    hours = (line.hours_spoken if line else "") or settings.SERVICE_DESK_HOURS
    parts = [hello]
    if number:
        parts.append(f"Please call us on {' '.join(number.lstrip('+'))}.")
    if hours:
        parts.append(f"We are there {hours}.")
    parts.append("Thank you, goodbye.")
    return " ".join(parts)


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


@dataclass(frozen=True)
class DialScript:
    """What the agent says on a call it places: how it opens once a person answered (its
    instructions for the greeting), what it knows of the call, and what it leaves on a
    voicemail box."""

    greeting: str
    instructions: str
    voicemail: str
    called: str = "Callback"  # what the call's record names it, e.g. "Callback busy."


def callback_script(reason: str, line: PhoneLine | None, instructions: str) -> DialScript:
    return DialScript(
        greeting=callback_greeting(reason),
        instructions=callback_instructions(instructions, reason),
        voicemail=voicemail_message(reason, line),
    )


async def dial_customer(ctx: JobContext, job: CallJob, script: DialScript) -> bool:
    """Ring the call's customer through the job's line and wait; True once a person (not a
    machine) answered.

    The session must be running: the detection listens through it, and holds its speech
    until it has decided."""
    call, line = job.call, job.line
    detection = AMD(
        job.session,
        llm=None,  # the session's own LLM and speech-to-text: nothing else is configured
        stt=None,
        participant_identity=CUSTOMER_IDENTITY,
        ivr_detection=False,
        suppress_compatibility_warning=True,
    )
    picked_up = False
    async with detection:
        try:
            if line is None or not line.outbound_trunk_id:
                raise RuntimeError("the line has no outbound trunk")
            await ctx.api.sip.create_sip_participant(
                api.CreateSIPParticipantRequest(
                    sip_trunk_id=line.outbound_trunk_id,
                    sip_call_to=call.caller,
                    room_name=ctx.room.name,
                    participant_identity=CUSTOMER_IDENTITY,
                    participant_name="Customer",
                    hide_phone_number=True,  # supervisors listening in see no number
                    wait_until_answered=True,
                    ringing_timeout=Duration(seconds=settings.CALLBACK_RINGING_SECONDS),
                )
            )
            picked_up = True
            try:
                async with asyncio.timeout(settings.CALLBACK_DETECTION_SECONDS):
                    verdict = await detection.execute()
                detected, gone = verdict.category, verdict.reason == "participant_missing"
            except TimeoutError:  # never silent long enough to decide: the agent speaks
                detected, gone = AMDCategory.UNCERTAIN, False
            result = MACHINE_OUTCOMES.get(detected, "answered")
            event = {"result": result, "detected": detected.value}
        except Exception as error:
            # Once answered, only the call ending under it stops the detection.
            result, gone = outcome_of(error), picked_up
            event = {"result": result}
    # Gone before the detection heard anything (its own verdict), or while it listened (the
    # session closed under it, or the room no longer has them).
    if picked_up and (gone or CUSTOMER_IDENTITY not in ctx.room.remote_participants):
        result, event = "hung up", {**event, "result": "hung up"}
    job.writer.event(CallEvent.Type.CALLBACK, {"to": call.caller_shown, **event})
    if result != "answered":
        failure = FAILURE_REASONS.get(result, "{} " + f"{result}.").format(script.called)
        job.writer.change_call(Call.mark_ended, timezone.now(), failed_reason=failure)
    if result == "voicemail":
        # The mailbox may hang up on the message: the outcome is recorded already.
        with contextlib.suppress(RuntimeError):
            await job.session.say(script.voicemail, allow_interruptions=False)
    return result == "answered"
