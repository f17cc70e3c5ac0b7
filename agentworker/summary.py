"""The post-call summary: the LLM reads the transcript and labels the outcome."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from uuid import UUID

from asgiref.sync import sync_to_async
from livekit.agents import llm

from callcenter.models import Call
from callcenter.redaction import redact_card_numbers

logger = logging.getLogger(__name__)

SUMMARY_TIMEOUT_SECONDS = 30
SUMMARY_PROMPT = """\
You summarise calls of a car dealership's service desk for the supervisors.
Answer with one JSON object and nothing else:
{{"summary": "<two or three sentences: who called, about which vehicle, what was done>",
 "outcome": "<one of: {outcomes}>"}}
"""


def transcript_text(call: Call) -> str:
    lines = [f"{segment.speaker}: {segment.text}" for segment in call.segments.order_by("sequence")]
    return "\n".join(lines)


def parse_summary(text: str) -> tuple[str, str]:
    """The summary and a valid outcome from the model's answer (ValueError when unusable)."""
    match = re.search(r"\{.*\}", text, re.DOTALL)
    if not match:
        raise ValueError("no JSON object in the answer")
    answer = json.loads(match.group(0))
    summary = str(answer.get("summary", "")).strip()
    outcome = str(answer.get("outcome", "")).strip()
    if not summary:
        raise ValueError("empty summary")
    if outcome not in Call.Outcome.values:
        outcome = Call.Outcome.UNRESOLVED
    return redact_card_numbers(summary)[:2000], outcome


async def summarize_call(call_id: UUID | str, model: llm.LLM | None) -> bool:
    """Ask ``model`` for the call's summary and outcome and store them. Never raises."""
    if model is None:
        return False
    try:
        call = await Call.objects.aget(pk=call_id)
        transcript = await sync_to_async(transcript_text)(call)
        if not transcript:
            return False
        context = llm.ChatContext.empty()
        outcomes = ", ".join(Call.Outcome.values)
        context.add_message(role="system", content=SUMMARY_PROMPT.format(outcomes=outcomes))
        context.add_message(role="user", content=transcript)
        async with asyncio.timeout(SUMMARY_TIMEOUT_SECONDS):
            parts = []
            async with model.chat(chat_ctx=context) as stream:
                async for chunk in stream:
                    if chunk.delta and chunk.delta.content:
                        parts.append(chunk.delta.content)
        summary, outcome = parse_summary("".join(parts))
        await sync_to_async(call.store_summary)(summary, outcome)
        return True
    except Exception:
        # The call is already stored; a missing summary is all a failure costs.
        logger.warning("call %s: no summary", call_id, exc_info=True)
        return False
