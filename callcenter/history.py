"""Queries of the call history, shared by the API, the pages and the CSV export."""

from __future__ import annotations

from django.db import connection
from django.db.models import Count, Prefetch, QuerySet

from callcenter.models import Call, CallEvent, TranscriptSegment
from recordings.models import Recording

SEARCH_CONFIG = "english"


def call_list() -> QuerySet[Call]:
    """Calls with what a list row shows, in a fixed number of queries."""
    return Call.objects.select_related("vehicle").annotate(segment_count=Count("segments"))


def call_detail() -> QuerySet[Call]:
    """Calls with their transcript, events and recordings prefetched."""
    return call_list().prefetch_related(
        Prefetch("segments", queryset=TranscriptSegment.objects.order_by("sequence")),
        Prefetch("events", queryset=CallEvent.objects.order_by("sequence")),
        Prefetch("recordings", queryset=Recording.objects.order_by("created_at")),
    )


def search_segments(query: str) -> QuerySet[TranscriptSegment]:
    """Transcript segments matching ``query``, best first.

    PostgreSQL: full-text search (websearch syntax: quotes, OR, -word) over an expression
    GIN index (migration 0003). SQLite: a plain case-insensitive substring match.
    """
    segments = TranscriptSegment.objects.select_related("call")
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import (
            SearchHeadline,
            SearchQuery,
            SearchRank,
            SearchVector,
        )

        vector = SearchVector("text", config=SEARCH_CONFIG)
        search = SearchQuery(query, config=SEARCH_CONFIG, search_type="websearch")
        return (
            segments.annotate(document=vector)
            .filter(document=search)
            .annotate(
                rank=SearchRank(vector, search),
                headline=SearchHeadline("text", search, config=SEARCH_CONFIG),
            )
            .order_by("-rank", "-call__started_at", "sequence")
        )
    return segments.filter(text__icontains=query).order_by("-call__started_at", "sequence")
