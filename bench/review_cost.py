"""The post-call review's cost: tokens and requests per reviewed call, per judge set, against
the call's summary in the same run.

A typical booking call (greeting, a spoken VIN looked up, free times found, a booking read
back: 12 lines, 3 tool uses) is stored, then reviewed ``--repeat`` times per judge set with
the real review code (``agentworker.call_review``) against the scripted stand-in, which counts
tokens as a quarter of the characters of each request's messages (the tool schema a real
model also reads is not counted: about 60 tokens per judge).

    .venv/bin/python -m bench.review_cost --repeat 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from datetime import timedelta

from bench.common import report, setup_django

CONVERSATION = [
    ("agent", "Welcome to the service desk. Please tell me your vehicle's VIN."),
    ("customer", "Hi, it's one H G C M eight two six three three A zero zero four three five two."),
    ("agent", "1 H G, C M 8, 2 6 3 3, A 0 0 4 3 5 2. One moment while I look it up."),
    ("tool", "lookup_vehicle", {"vin": "1HGCM82633A004352"},
     "Found on file: 2003 “Honda Accord”, VIN 1HGCM82633A004352 (make and model as a caller "
     "gave them). Confirm it with the caller."),
    ("agent", "I have a 2003 Honda Accord on file. Is that your car?"),
    ("customer", "Yes. I'd like an oil change next Tuesday morning if possible."),
    ("tool", "find_appointment_slots", {"service": "oil change", "earliest": "next Tuesday"},
     "Free for Oil change (60 minutes): Tuesday the 8th at 8 am (slot 2026-12-08T08:00); "
     "Tuesday the 8th at 9 am (slot 2026-12-08T09:00). Offer them in words."),
    ("agent", "On Tuesday I can do 8 or 9 in the morning. Which suits you?"),
    ("customer", "Nine please. The name is Ana Silva, phone 555 0100."),
    ("tool", "book_appointment", {"slot": "2026-12-08T09:00", "service": "oil change",
                                  "name": "Ana Silva", "contact": "5•• ••00"},
     "Booked: Oil change on Tuesday the 8th at 9 am, until 10:00, reference K7P2QX. Read "
     "back the day, the time and the service, and give the reference spelled out."),
    ("agent", "You're booked for an oil change on Tuesday the 8th at 9 am. Your reference is "
              "K, 7, P, 2, Q, X."),
    ("customer", "Great, thanks. Bye."),
    ("agent", "Thank you for calling. Goodbye!"),
]  # fmt: skip

JUDGE_SETS = {
    "default (6)": "task_completion,accuracy,tool_use,safety,vin_handled,booking_confirmed",
    "all nine": "task_completion,accuracy,tool_use,safety,relevancy,coherence,conciseness,"
    "vin_handled,booking_confirmed",
    "safety only": "safety",
}


def stored_call():
    from django.utils import timezone

    from callcenter.models import Call, CallEvent, TranscriptSegment

    now = timezone.now()
    call = Call.objects.create(
        status=Call.Status.ENDED, caller="web:bench-review",
        answered_at=now - timedelta(minutes=3), ended_at=now,
    )  # fmt: skip
    for sequence, line in enumerate(CONVERSATION, start=1):
        if line[0] == "tool":
            _, name, arguments, output = line
            payload = {"name": name, "arguments": arguments, "output": output, "is_error": False}
            CallEvent.objects.create(
                call=call, sequence=sequence, type="tool_call", payload=payload
            )
        else:
            TranscriptSegment.objects.create(
                call=call, sequence=sequence, speaker=line[0], text=line[1]
            )
    return call


async def measure(repeat: int) -> dict:
    from asgiref.sync import sync_to_async
    from django.conf import settings
    from livekit.plugins import openai

    from agentworker.agent import INSTRUCTIONS
    from agentworker.call_review import TokenCount, review_call
    from agentworker.summary import summarize_call
    from callcenter.models import Call
    from tests.support.scripted_llm import Reply, ScriptedLLMServer
    from tests.support.service_desk_script import SUMMARY, judged

    def stand_in(request: dict) -> Reply:
        return judged(request) or Reply(text=json.dumps(SUMMARY))

    settings.REVIEW_MIN_SECONDS, settings.REVIEW_SAMPLE = 0, 1.0
    call = await sync_to_async(stored_call)()
    figures: dict = {"call_lines": len(CONVERSATION)}
    async with ScriptedLLMServer(stand_in) as server:

        def model():
            return openai.LLM(model="stand-in", base_url=server.base_url, api_key="bench")

        summary_model = model()
        summary_tokens = TokenCount(summary_model)
        await summarize_call(call.pk, summary_model)
        figures["summary_tokens"] = summary_tokens.as_dict()
        for label, judges in JUDGE_SETS.items():
            settings.REVIEW_JUDGES = judges.split(",")
            tokens, seconds, requests = [], [], []
            for _ in range(repeat):
                before = len(server.requests)
                started = time.perf_counter()
                if not await review_call(call.pk, model(), INSTRUCTIONS):
                    raise SystemExit(f"the review with {label} stored nothing")
                seconds.append(time.perf_counter() - started)
                requests.append(len(server.requests) - before)
                stored = (await Call.objects.aget(pk=call.pk)).review
                tokens.append(stored["tokens"])
            prompt = statistics.median(t["prompt"] for t in tokens)
            figures[label] = {
                "judges": len(settings.REVIEW_JUDGES),
                "llm_requests": statistics.median(requests),
                "prompt_tokens": prompt,
                "completion_tokens": statistics.median(t["completion"] for t in tokens),
                "seconds_p50": round(statistics.median(seconds), 3),
                "prompt_tokens_vs_summary": round(prompt / figures["summary_tokens"]["prompt"], 1),
            }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="reviews per judge set")
    options = parser.parse_args()
    setup_django()
    report("review_cost", asyncio.run(measure(options.repeat)))


if __name__ == "__main__":
    main()
