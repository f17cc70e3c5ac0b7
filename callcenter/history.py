"""Queries of the call history, shared by the API, the pages and the CSV export."""

from __future__ import annotations

from contextlib import contextmanager

from django.db import OperationalError, connection, transaction
from django.db.models import Count, OuterRef, Prefetch, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Replace
from django.utils.html import escape

from appointments.models import Appointment
from callcenter.models import Call, CallEvent, TranscriptSegment
from recordings.models import Recording

SEARCH_CONFIG = "english"


def call_list() -> QuerySet[Call]:
    """Calls with what a list row shows, in one query whatever the page size.

    The segment count is a correlated subquery on the (call, sequence) index, evaluated only
    for the rows of the page, not a GROUP BY over every call.
    """
    segment_count = (
        TranscriptSegment.objects.filter(call=OuterRef("pk"))
        .order_by()
        .values("call")
        .annotate(count=Count("*"))
        .values("count")
    )
    return Call.objects.select_related("vehicle").annotate(
        segment_count=Coalesce(Subquery(segment_count), 0)
    )


def call_detail() -> QuerySet[Call]:
    """Calls with their transcript, events and recordings prefetched, and who looked at
    their flag."""
    return (
        call_list()
        .select_related("flag_reviewed_by")
        .prefetch_related(
            Prefetch("segments", queryset=TranscriptSegment.objects.order_by("sequence")),
            Prefetch("events", queryset=CallEvent.objects.order_by("sequence")),
            Prefetch("recordings", queryset=Recording.objects.order_by("created_at")),
            Prefetch(
                "appointments",
                queryset=Appointment.objects.select_related("service").order_by("start"),
            ),
        )
    )


# Every search, from the API or the history page, is bounded: its words, and its time on
# PostgreSQL (an OR of a few dozen rare words costs seconds at millions of segments).
MAX_QUERY_CHARACTERS = 200
MAX_QUERY_TERMS = 8
SEARCH_TIME_LIMIT_MS = 3000
SEARCH_TOO_SLOW = "That search takes too long: use fewer or more specific words."


class SearchTooSlow(Exception):
    """A search ran past SEARCH_TIME_LIMIT_MS and was cancelled by the database."""


def search_query_problem(query: str) -> str | None:
    """Why ``query`` cannot be searched for, as a sentence, or None when it can."""
    if not query:
        return "Give the words to search for."
    if len(query) > MAX_QUERY_CHARACTERS:
        return f"Search for at most {MAX_QUERY_CHARACTERS} characters."
    if any(ord(char) < 32 for char in query):
        return "Search for words, without control characters."
    if len(query.split()) > MAX_QUERY_TERMS:
        return f"Search for at most {MAX_QUERY_TERMS} words."
    return None


@contextmanager
def search_time_limit():
    """Run the searches inside under a per-statement time limit on PostgreSQL; raises
    SearchTooSlow when the database cancels one."""
    if connection.vendor != "postgresql":
        yield
        return
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL statement_timeout = {int(SEARCH_TIME_LIMIT_MS)}")
            yield
    except OperationalError as error:
        if "statement timeout" in str(error):
            raise SearchTooSlow(SEARCH_TOO_SLOW) from error
        raise


def search_segments(query: str) -> QuerySet[TranscriptSegment]:
    """Transcript segments matching ``query``, newest first.

    PostgreSQL: full-text search (websearch syntax: quotes, OR, -word) with stemming. The
    planner takes the cheaper of two paths: for common words it walks the ``segment_created``
    index backwards and stops at a page of matches; for rare ones it reads the matches from the
    expression GIN index (migration 0003) and sorts those few. Relevance ranking is not used:
    it would score every match, and at millions of segments a common word matches millions;
    in a call center's history the newest mention is the one wanted. Headlines are added per
    page by ``with_headlines``. SQLite: a plain case-insensitive substring match.
    """
    segments = TranscriptSegment.objects.select_related("call").order_by("-created_at", "-pk")
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchVector

        vector = SearchVector("text", config=SEARCH_CONFIG)
        search = SearchQuery(query, config=SEARCH_CONFIG, search_type="websearch")
        return segments.annotate(document=vector).filter(document=search)
    return segments.filter(text__icontains=query)


# PostgreSQL marks the matches with these private-use characters; the headline is escaped
# as HTML and only then are they turned into <b>…</b>, so a caller's words stay text.
MATCH_START, MATCH_STOP = "\ue000", "\ue001"


def safe_headline(marked: str) -> str:
    """HTML of a headline: the text escaped, the matches (between the markers) in <b>."""
    return str(escape(marked)).replace(MATCH_START, "<b>").replace(MATCH_STOP, "</b>")


def with_headlines(segments: list[TranscriptSegment], query: str) -> list[TranscriptSegment]:
    """Set ``headline`` on a page of results, computed for that page only: HTML with the
    text escaped and the matches in <b>…</b>."""
    clean = {s.pk: s.text.replace(MATCH_START, "").replace(MATCH_STOP, "") for s in segments}
    if connection.vendor != "postgresql" or not segments:
        for segment in segments:
            segment.headline = safe_headline(clean[segment.pk])
        return segments
    from django.contrib.postgres.search import SearchHeadline, SearchQuery

    search = SearchQuery(query, config=SEARCH_CONFIG, search_type="websearch")
    headlines = dict(
        TranscriptSegment.objects.filter(pk__in=list(clean))
        .annotate(
            headline=SearchHeadline(
                Replace(Replace("text", Value(MATCH_START)), Value(MATCH_STOP)),
                search,
                config=SEARCH_CONFIG,
                start_sel=MATCH_START,
                stop_sel=MATCH_STOP,
            )
        )
        .values_list("pk", "headline")
    )
    for segment in segments:
        segment.headline = safe_headline(headlines.get(segment.pk, clean[segment.pk]))
    return segments


def rows_and_more(queryset: QuerySet, start: int, size: int) -> tuple[list, bool]:
    """``size`` rows from ``start``, and whether more follow: one extra row is read instead of
    a COUNT, which over a million calls (or every mention of a common word) costs far more
    than the page itself."""
    rows = list(queryset[start : start + size + 1])
    return rows[:size], len(rows) > size


# How deep a list or a search may be paged (rows skipped): past it, a query costs more than
# any reader gains; the API and the pages ask for a narrower search instead.
MAX_OFFSET = 10_000
TOO_DEEP = f"Only the first {MAX_OFFSET:,} results can be paged through: narrow the search."


class PageTooDeep(ValueError):
    """A page beyond MAX_OFFSET was asked for."""


class UncountedPage:
    """One page of a queryset for the history pages, without counting every row."""

    def __init__(self, queryset: QuerySet, number: str | int | None, per_page: int) -> None:
        try:
            self.number = max(1, int(number or 1))
        except (TypeError, ValueError):
            self.number = 1
        start = (self.number - 1) * per_page
        if start > MAX_OFFSET:
            raise PageTooDeep(TOO_DEEP)
        self.object_list, self._has_next = rows_and_more(queryset, start, per_page)

    def __iter__(self):
        return iter(self.object_list)

    def __len__(self) -> int:
        return len(self.object_list)

    def has_next(self) -> bool:
        return self._has_next

    def has_previous(self) -> bool:
        return self.number > 1

    def next_page_number(self) -> int:
        return self.number + 1

    def previous_page_number(self) -> int:
        return self.number - 1
