"""How a job opens the conversation, chosen once from its request and the stored call: it
greets a caller who called, welcomes back a caller whose agent was lost, dials a customer and
greets the person who answers, or tells a number that called too often why it is refused."""

from __future__ import annotations

import contextlib
import logging
from enum import StrEnum

from asgiref.sync import sync_to_async
from django.conf import settings
from livekit.agents import JobContext

from agentworker.agent import GREETING, INSTRUCTIONS, ServiceDeskAgent, instructions_for_line
from agentworker.call_job import CallJob
from agentworker.campaign_call import campaign_script, contact_tools_for
from agentworker.dial_out import DialScript, callback_script, dial_customer
from agentworker.resume import conversation_so_far
from agentworker.writer import CallWriter
from callcenter.call_limits import phone_caller_over_limit
from callcenter.job_request import JobKind, JobRequest
from callcenter.models import Call, WebCallPage
from telephony.models import PhoneLine

logger = logging.getLogger(__name__)

TOO_MANY_CALLS_SAID = (
    "You have called us many times in a short while, so we cannot take this call now. "
    "Please call again later."
)
TOO_MANY_CALLS = "Refused: the caller's number called more often than CALL_START_RATE allows."


class Opening(StrEnum):
    GREET = "greet"  # a caller called: the agent greets them as it enters
    WELCOME_BACK = "welcome back"  # another job lost the call: no greeting, "we were cut off"
    DIAL = "dial"  # the desk calls: dial, detect a machine, greet a person
    REFUSE = "refuse"  # a phone number over CALL_START_RATE: told why, and put down


async def opening_for(request: JobRequest | None, call: Call, resuming: bool) -> Opening:
    if resuming:
        return Opening.WELCOME_BACK
    if request is not None and request.dials_out:
        return Opening.DIAL
    if await sync_to_async(phone_caller_over_limit)(call):
        return Opening.REFUSE
    return Opening.GREET


async def agent_for(
    opening: Opening, request: JobRequest | None, call: Call, writer: CallWriter,
    line: PhoneLine | None,
) -> ServiceDeskAgent:  # fmt: skip
    """The agent the opening needs; the same service-desk agent in every case."""
    instructions = instructions_for_line(line) if line else ""
    if opening == Opening.WELCOME_BACK:  # the conversation so far (agentworker.resume)
        tools = await contact_tools_for(call)
        if tools:  # a campaign's call: its brief and its contact again
            instructions = (
                await campaign_script(call, line, instructions or INSTRUCTIONS)
            ).instructions
        agent = ServiceDeskAgent(
            writer, instructions=instructions, greets=False,
            chat_ctx=await conversation_so_far(call.pk), tools=tools,
        )  # fmt: skip
        agent.vehicle_id = call.vehicle_id
        agent.paused = bool(call.controller_id and not call.control_lapsed())
        return agent
    if opening == Opening.DIAL:  # it greets once a person answered (agentworker.dial_out)
        script = await dial_script(request, call, line)
        agent = ServiceDeskAgent(
            writer, greets=False, greeting=script.greeting, instructions=script.instructions,
            tools=await contact_tools_for(call),
        )  # fmt: skip
        agent.awaiting_answer = True
        return agent
    agent = ServiceDeskAgent(writer, instructions=instructions, greets=opening == Opening.GREET)
    agent.greeting_said = await greeting_for(line)
    if line is not None and not agent.greeting_said:  # the model greets, in the line's voice
        agent.greeting = f"{GREETING} Speak {line.language_list[0]}."
    return agent


async def greeting_for(line: PhoneLine | None) -> str:
    """The greeting said as it is on a call answered on ``line`` (None: the web page): the
    line's own, else the web call page's where the line speaks the page's language
    (CALL_LANGUAGES); empty: the model words one."""
    if line is not None and line.greeting:
        return line.greeting
    if line is not None and line.language_list[0] != settings.CALL_LANGUAGES[0]:
        return ""
    return (await sync_to_async(WebCallPage.current)()).greeting


async def dial_script(request: JobRequest, call: Call, line: PhoneLine | None) -> DialScript:
    """What the agent says on the call it places: a callback's, or a campaign's."""
    instructions = (instructions_for_line(line) if line else "") or INSTRUCTIONS
    if request.kind == JobKind.CAMPAIGN_CALL:
        return await campaign_script(call, line, instructions)
    return callback_script(request.reason, line, instructions)


async def open_conversation(
    ctx: JobContext, job: CallJob, opening: Opening, request: JobRequest | None
) -> bool:
    """What the opening does once the session runs (a greeting is the agent's own, as it
    enters); False when the call ends with it: refused, or the customer not reached."""
    if opening == Opening.REFUSE:
        await refuse_too_many_calls(ctx, job)
        return False
    if opening == Opening.DIAL:
        script = await dial_script(request, job.call, job.line)
        if not await dial_customer(ctx, job, script):
            # Its outcome stored first: the room's end would otherwise end the call as
            # never answered (the first end wins).
            await job.writer.flush()
            await ctx.delete_room()  # puts the phone down, if anyone picked it up
            ctx.shutdown(reason="no person answered")
            return False
        # Not cut short by the end of the customer's own "Hello?", which comes after; not at
        # all if they hung up in between (the session has closed).
        with contextlib.suppress(RuntimeError):
            job.agent.greet(allow_interruptions=False)
    return True


async def refuse_too_many_calls(ctx: JobContext, job: CallJob) -> None:
    """The caller hears why, once, and the call ends as failed with the reason (supervisors
    see it); the agent never answers it."""
    logger.warning("call %s: too many calls from this number, refused", job.call.pk)
    job.writer.change_call(Call.mark_ended, failed_reason=TOO_MANY_CALLS)
    with contextlib.suppress(Exception):  # a caller who hung up meanwhile
        await job.session.say(TOO_MANY_CALLS_SAID, allow_interruptions=False)
    await ctx.delete_room()
    ctx.shutdown(reason="too many calls from this number")
