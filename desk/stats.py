"""The desk on the dashboard: handoffs per day, how fast the desk answered, and how many
callers hung up waiting or were left for a callback."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Q
from django.db.models.functions import TruncDate

from desk.models import Handoff


def _seconds(value) -> float | None:
    return round(value.total_seconds(), 1) if value is not None else None


def handoff_stats(since: datetime) -> dict:
    """Handoffs asked for since ``since``: per day and in all."""
    handoffs = Handoff.objects.filter(requested_at__gte=since)
    to_answer = ExpressionWrapper(
        F("accepted_at") - F("requested_at"), output_field=DurationField()
    )
    answered = Q(accepted_at__isnull=False)
    counts = {
        "asked": Count("id"),
        "answered": Count("id", filter=answered),
        "abandoned": Count("id", filter=Q(status=Handoff.Status.ABANDONED)),
        "callbacks": Count(
            "id", filter=Q(status__in=[Handoff.Status.CALLBACK, Handoff.Status.CALLED_BACK])
        ),
        "answer_time": Avg(to_answer, filter=answered),
    }
    per_day = (
        handoffs.annotate(day=TruncDate("requested_at"))
        .values("day")
        .annotate(**counts)
        .order_by("day")
    )
    totals = handoffs.aggregate(**counts)
    return {
        "asked": totals["asked"],
        "answered": totals["answered"],
        "abandoned": totals["abandoned"],
        "callbacks": totals["callbacks"],
        "average_answer_seconds": _seconds(totals["answer_time"]),
        "per_day": [
            {
                "day": row["day"].isoformat(),
                "answered": row["answered"],
                "abandoned": row["abandoned"],
                "callbacks": row["callbacks"],
                "waiting": row["asked"] - row["answered"] - row["abandoned"] - row["callbacks"],
                "answer_seconds": _seconds(row["answer_time"]),
            }
            for row in per_day
        ],
    }
