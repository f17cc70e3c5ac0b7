"""The scripted service desk of the end-to-end tests: what the caller says, what the stand-in
LLM answers to each request (greeting, VIN lookup, answers, summary)."""

from __future__ import annotations

import json

from tests.support.scripted_llm import Reply, ToolCall

VIN = "1HGCM82633A004352"
SPOKEN_VIN = "one H G C M eight two six three three A zero zero four three five two"
# A greeting and the VIN in one breath: a pause (as after "Hello.") may let the VAD cut the
# caller in two, and the stand-in transcription expects one utterance.
CALLER_SAYS = f"Hi there my VIN is {SPOKEN_VIN}."
GREETING = "Welcome to the service desk. Please tell me your vehicle's VIN."
ANSWER = "I found your 2003 Honda Accord. How can I help with it today?"
TYPED = "When is my next service due?"
TYPED_ANSWER = "Your next service is due at ninety thousand miles."
SUMMARY = {"summary": "A caller gave their VIN; the agent found the car.", "outcome": "resolved"}
CALL_SECONDS = 120


def service_desk(request: dict) -> Reply:
    """The scripted LLM: greets, looks the spoken VIN up, answers, summarises."""
    messages = request["messages"]
    first, last = str(messages[0].get("content", "")), messages[-1]
    content = str(last.get("content", ""))
    if first.startswith("You summarise calls"):
        return Reply(text=json.dumps(SUMMARY))
    if last["role"] == "tool":
        return Reply(text=ANSWER)
    if last["role"] == "user" and SPOKEN_VIN in content:
        return Reply(tool_calls=[ToolCall("lookup_vehicle", {"vin": SPOKEN_VIN})])
    if last["role"] == "user" and TYPED in content:
        return Reply(text=TYPED_ANSWER)
    return Reply(text=GREETING)
