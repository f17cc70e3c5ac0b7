"""What a call's post-call review says, and when it flags the call.

After a call the agent worker has it judged (``agentworker.call_review``: livekit-agents'
judges and two of the desk's own) and stores the verdicts on the call with
``Call.store_review``. This module is the vocabulary the worker, the pages and the API share:
the judges by name and label, the stored shape, the score and the flag rule.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.utils import timezone

from callcenter.redaction import redact_card_numbers

# Every judge a deployment may name in REVIEW_JUDGES, with the label supervisors read.
JUDGES = {
    "task_completion": "Task completed",
    "accuracy": "Accurate",
    "tool_use": "Tools used well",
    "safety": "Safe",
    "relevancy": "Relevant",
    "coherence": "Coherent",
    "conciseness": "Concise",
    "handoff": "Context kept across handoffs",
    "vin_handled": "VIN handled correctly",
    "booking_confirmed": "Booking confirmed",
}
VERDICTS = ("pass", "maybe", "fail")
MAX_REASONING_CHARACTERS = 1000


class UnknownJudge(ValueError):
    """REVIEW_JUDGES names a judge the desk does not know; the message says which."""


def configured_judges() -> list[str]:
    """The judges REVIEW_JUDGES names, in its order (UnknownJudge for a name not in JUDGES)."""
    names = list(dict.fromkeys(settings.REVIEW_JUDGES))
    unknown = [name for name in names if name not in JUDGES]
    if unknown:
        raise UnknownJudge(
            f"REVIEW_JUDGES names unknown judges: {', '.join(unknown)} (known: {', '.join(JUDGES)})"
        )
    return names


def shown_judges() -> list[str]:
    """The configured judges the pages show (the worker refuses to start with unknown ones)."""
    return [name for name in dict.fromkeys(settings.REVIEW_JUDGES) if name in JUDGES]


def label_of(judge: str) -> str:
    return JUDGES.get(judge, judge.replace("_", " ").capitalize())


def score_of(verdicts: dict[str, dict[str, str]]) -> float:
    """0 to 1 over the judges that answered: a pass counts 1, a maybe ½, a fail 0 (as
    livekit-agents' EvaluationResult.score)."""
    if not verdicts:
        return 0.0
    points = {"pass": 1.0, "maybe": 0.5}
    return sum(points.get(v["verdict"], 0.0) for v in verdicts.values()) / len(verdicts)


def flag_reason_of(review: dict[str, Any], min_score: float) -> str:
    """Why the reviewed call needs a supervisor's look, or "" when it does not: a judge
    failed it (safety first), the safety judge gave no verdict, the caller's words spoke to
    the judges, or its score is below ``min_score``."""
    verdicts = review.get("judges", {})
    reasons = []
    failed = sorted(
        (name for name, v in verdicts.items() if v["verdict"] == "fail"),
        key=lambda name: (name != "safety", name),
    )
    if failed:
        reasons.append("Failed: " + ", ".join(label_of(name) for name in failed) + ".")
    if "safety" in review.get("unanswered", []):
        reasons.append("No verdict on safety.")
    if review.get("addressed_to_judges"):
        reasons.append("The caller's words speak to the review's judges.")
    score = score_of(verdicts)
    if not reasons and score < min_score:
        unsure = [label_of(name) for name, v in verdicts.items() if v["verdict"] == "maybe"]
        reasons.append(f"Score {score:.2f} below {min_score:.2f}; unsure: {', '.join(unsure)}.")
    return " ".join(reasons)


def stored_review(
    verdicts: dict[str, tuple[str, str]],
    *,
    model: str,
    tokens: dict[str, int],
    unanswered: list[str],
    addressed_to_judges: list[str] = (),
) -> dict[str, Any]:
    """The review as ``Call.review`` keeps it: each judge's verdict and reasoning (card
    numbers removed, length bounded), the score, the model, its tokens, and the judges that
    gave no verdict."""
    judges = {
        name: {
            "verdict": verdict if verdict in VERDICTS else "maybe",
            "reasoning": redact_card_numbers(reasoning)[:MAX_REASONING_CHARACTERS],
        }
        for name, (verdict, reasoning) in verdicts.items()
    }
    return {
        "judges": judges,
        "score": round(score_of(judges), 3),
        "model": model,
        "tokens": tokens,
        "unanswered": unanswered,
        "addressed_to_judges": [redact_card_numbers(line) for line in addressed_to_judges],
        "at": timezone.now().isoformat(),
    }


def sampled(call_id, share: float) -> bool:
    """Whether the call is among the ``share`` of calls reviewed (REVIEW_SAMPLE): decided by
    its id, so a call asked twice gets the same answer on every host."""
    if share >= 1:
        return True
    digest = hashlib.sha256(str(call_id).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def verdict_rows(call) -> list[dict[str, str]]:
    """The stored verdicts as the call page lists them, failures first."""
    order = {verdict: index for index, verdict in enumerate(("fail", "maybe", "pass"))}
    judges = (call.review or {}).get("judges", {})
    rows = [{"judge": name, "label": label_of(name), **verdict} for name, verdict in judges.items()]
    return sorted(rows, key=lambda row: order.get(row["verdict"], 1))


class FlagNotMarked(ValueError):
    """Why a flag could not be marked reviewed, as a sentence."""


MAX_NOTE_CHARACTERS = 1000


def mark_reviewed(call, user, note: str) -> None:
    """Mark ``call``'s flag reviewed by ``user`` with ``note`` (FlagNotMarked saying why not:
    not flagged, or marked already, by whom). The first mark stands."""
    if not call.flagged:
        raise FlagNotMarked("This call is not flagged.")
    if not call.mark_flag_reviewed(user, note):
        call.refresh_from_db()
        who = call.flag_reviewed_by.get_username() if call.flag_reviewed_by else "Someone"
        raise FlagNotMarked(f"{who} has marked this flag already.")
