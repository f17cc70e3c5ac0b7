"""The scripted service desk of the end-to-end tests: what the caller says, what the stand-in
LLM answers to each request (greeting, VIN lookup, answers, summary)."""

from __future__ import annotations

import json
import re

from callcenter.greeting import DEFAULT_GREETING
from tests.support.scripted_llm import Reply, ToolCall

VIN = "1HGCM82633A004352"
SPOKEN_VIN = "one H G C M eight two six three three A zero zero four three five two"
# A greeting and the VIN in one breath: a pause (as after "Hello.") may let the VAD cut the
# caller in two, and the stand-in transcription expects one utterance.
CALLER_SAYS = f"Hi there my VIN is {SPOKEN_VIN}."
# What the agent says first: the web call page's default greeting (not the model's words).
GREETING = DEFAULT_GREETING
ANSWER = "I found your 2003 Honda Accord. How can I help with it today?"
TYPED = "When is my next service due?"
TYPED_ANSWER = "Your next service is due at ninety thousand miles."
SUMMARY = {"summary": "A caller gave their VIN; the agent found the car.", "outcome": "resolved"}
CALL_SECONDS = 120
# How livekit-agents' judges (the post-call review) begin their requests.
JUDGE_PROMPT = "You are an evaluator for conversational AI agents."
AFTER_CALL_PROMPTS = ("You summarise calls", JUDGE_PROMPT)


def judged(request: dict, verdict: str = "pass") -> Reply | None:
    """The stand-in judge's verdict on a review request (None for any other request): the
    judge's criterion quoted in its reasoning, so a test sees which judge said what."""
    messages = request["messages"]
    if not str(messages[0].get("content", "")).startswith(JUDGE_PROMPT):
        return None
    criterion = str(messages[-1].get("content", "")).splitlines()[0][:80]
    reasoning = f"Scripted {verdict} on: {criterion}"
    return Reply(
        tool_calls=[ToolCall("submit_verdict", {"verdict": verdict, "reasoning": reasoning})]
    )


def service_desk(request: dict) -> Reply:
    """The scripted LLM: greets, looks the spoken VIN up, answers, summarises, judges."""
    messages = request["messages"]
    first, last = str(messages[0].get("content", "")), messages[-1]
    content = str(last.get("content", ""))
    if first.startswith("You summarise calls"):
        return Reply(text=json.dumps(SUMMARY))
    if verdict := judged(request):
        return verdict
    if last["role"] == "tool":
        return Reply(text=ANSWER)
    if last["role"] == "user" and SPOKEN_VIN in content:
        return Reply(tool_calls=[ToolCall("lookup_vehicle", {"vin": SPOKEN_VIN})])
    if last["role"] == "user" and TYPED in content:
        return Reply(text=TYPED_ANSWER)
    return Reply(text=GREETING)


# A caller books an oil change, moves it and cancels it, typing; the scripted LLM uses the
# appointment tools as a model would, reading slots and the reference from their answers.
BOOK = "Please book an oil change tomorrow morning for Ana Silva, 555 0100."
MOVE = "Move it half an hour later, please."
CANCEL = "Cancel it after all."
BOOKED_ANSWER = "You're booked. Your reference is {reference}."
MOVED_ANSWER = "Done, it is half an hour later now."
CANCELLED_ANSWER = "Your appointment is cancelled."


def _slots(text: str) -> list[str]:
    return re.findall(r"\(slot ([0-9T:-]+)\)", text)


def booking_desk(request: dict) -> Reply:
    """The scripted LLM for a booking, a move and a cancellation in one call."""
    messages = request["messages"]
    first, last = str(messages[0].get("content", "")), messages[-1]
    if first.startswith("You summarise calls"):
        return Reply(text=json.dumps(SUMMARY))
    if verdict := judged(request):
        return verdict
    tool_texts = [str(m.get("content", "")) for m in messages if m["role"] == "tool"]
    references = re.findall(r"reference ([A-Z0-9]{6})", " ".join(tool_texts))
    offered = next((_slots(text) for text in tool_texts if text.startswith("Free for")), [])
    if last["role"] == "tool":
        answer = str(last["content"])
        if answer.startswith("Free for"):
            return Reply(
                tool_calls=[
                    ToolCall(
                        "book_appointment",
                        {"slot": offered[0], "service": "oil change", "name": "Ana Silva",
                         "contact": "555 0100"},
                    )
                ]
            )  # fmt: skip
        if answer.startswith("Booked:"):
            return Reply(text=BOOKED_ANSWER.format(reference=references[0]))
        if answer.startswith("Moved:"):
            return Reply(text=MOVED_ANSWER)
        if answer.startswith("Cancelled:"):
            return Reply(text=CANCELLED_ANSWER)
        return Reply(text="Sorry, that did not work.")
    content = str(last.get("content", ""))
    if BOOK in content:
        return Reply(
            tool_calls=[
                ToolCall(
                    "find_appointment_slots",
                    {"service": "oil change", "earliest": "tomorrow morning"},
                )
            ]
        )
    if MOVE in content:
        return Reply(
            tool_calls=[
                ToolCall("move_appointment", {"appointment": references[0], "slot": offered[1]})
            ]
        )
    if CANCEL in content:
        return Reply(tool_calls=[ToolCall("cancel_appointment", {"appointment": references[0]})])
    return Reply(text=GREETING)
