"""The supervisors' history pages: call list, call page, dashboard, CSV export."""

from __future__ import annotations

import csv
import heapq
import statistics
from collections.abc import Callable
from contextlib import nullcontext
from datetime import date, datetime, time, timedelta
from functools import wraps

from django import forms
from django.conf import settings
from django.contrib import messages
from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Q, QuerySet
from django.db.models.functions import TruncDate
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.views.decorators.http import require_GET, require_POST

from callcenter.call_metrics import SHOWN_LATENCY, percentile
from callcenter.filters import CallFilter
from callcenter.history import (
    PageTooDeep,
    SearchTooSlow,
    UncountedPage,
    call_detail,
    call_list,
    search_query_problem,
    search_segments,
    search_time_limit,
    with_headlines,
)
from callcenter.models import Call, CallEvent, TranscriptSegment, in_sequence
from callcenter.permissions import supervisor_required
from callcenter.review import (
    MAX_NOTE_CHARACTERS,
    FlagNotMarked,
    label_of,
    mark_reviewed,
    shown_judges,
    verdict_rows,
)
from callcenter.templatetags.call_format import clock

PAGE_SIZE = 50
DASHBOARD_DAYS = 30
LATENCY_SAMPLE_CALLS = 2000


class BadSelection(ValueError):
    """The history's filters or search cannot be used; the message says why."""


def selected_calls(request: HttpRequest, calls: QuerySet) -> tuple[CallFilter, QuerySet, str]:
    """The calls the history page's filters and transcript search select (the page lists them,
    the exports write them): the filter form, the calls, and the search words."""
    query = request.GET.get("q", "").strip()
    problem = search_query_problem(query) if query else None
    if problem:
        raise BadSelection(problem)
    filters = CallFilter(request.GET, queryset=calls)
    if not filters.is_valid():
        return filters, Call.objects.none(), query
    selected = filters.qs
    if query:
        selected = selected.filter(pk__in=search_segments(query).values("call_id"))
    return filters, selected, query


@require_GET
@supervisor_required
def call_history(request: HttpRequest) -> HttpResponse:
    """All calls, newest first, with filters and transcript search."""
    return history_page(request)


# How many matches the list reads to find the first matching line of each call on a page.
MATCHES_READ = PAGE_SIZE * 4


def matching_lines(calls: list[Call], query: str) -> dict:
    """For each listed call, its newest transcript line matching the search, with the match
    marked (``headline``), by call id."""
    ids = [call.pk for call in calls]
    first: dict = {}
    for segment in search_segments(query).filter(call_id__in=ids)[:MATCHES_READ]:
        first.setdefault(segment.call_id, segment)
    return {segment.call_id: segment for segment in with_headlines(list(first.values()), query)}


def history_page(request: HttpRequest, *, export_error: str = "") -> HttpResponse:
    """The history list for the request's filters and search. Whatever cannot be used (a bad
    filter, search or export range) is said on the page itself, answered with status 400."""
    problem = export_error
    page, matches, filters, query = [], {}, None, request.GET.get("q", "").strip()
    try:
        filters, calls, query = selected_calls(request, call_list().order_by("-started_at"))
        with search_time_limit() if query else nullcontext():
            page = UncountedPage(calls, request.GET.get("page"), PAGE_SIZE)
            if query:
                matches = matching_lines(list(page), query)
    except (BadSelection, PageTooDeep, SearchTooSlow) as error:
        problem = problem or str(error)
    if filters is None:
        filters = CallFilter(request.GET, queryset=Call.objects.none())
    rows = [{"call": call, "match": matches.get(call.pk)} for call in page]
    params = request.GET.copy()
    for own in ("page", "from", "to"):
        params.pop(own, None)
    invalid = filters.is_bound and not filters.is_valid()
    context = {
        "filters": filters,
        "page": page,
        "rows": rows,
        "query": query,
        "problem": problem,
        "params": params.urlencode(),
        "selection": [(key, value) for key, values in params.lists() for value in values],
        "export_span": export_span_defaults(request),
        # How many of the folded filters are set (the fold opens when any is, or is wrong).
        "filters_set": sum(1 for name in filters.form.fields if request.GET.get(name)),
        "export_error": export_error,
    }
    failed = bool(problem) or invalid
    return render(request, "history/list.html", context, status=400 if failed else 200)


def export_span_defaults(request: HttpRequest) -> dict:
    """The export's from/to pickers: what was asked, else the last 30 days."""
    today = timezone.localdate()
    return {
        "from": request.GET.get("from") or (today - timedelta(days=30)).isoformat(),
        "to": request.GET.get("to") or today.isoformat(),
    }


@require_GET
@supervisor_required
def call_page(request: HttpRequest, call_id) -> HttpResponse:
    """One call: transcript with turns and timings, tool calls, recording, metrics, review."""
    return render_call_page(request, get_object_or_404(call_detail(), pk=call_id))


class FlagReviewForm(forms.Form):
    note = forms.CharField(
        required=False,
        max_length=MAX_NOTE_CHARACTERS,
        strip=True,
        error_messages={"max_length": f"Keep the note under {MAX_NOTE_CHARACTERS} characters."},
    )


@require_POST
@supervisor_required
def mark_flag_reviewed(request: HttpRequest, call_id) -> HttpResponse:
    """A supervisor looked at a flagged call: the mark keeps who, when and their note. A call
    not flagged, one already marked, or a note too long is answered 400 on the call's page."""
    call = get_object_or_404(call_detail(), pk=call_id)
    form = FlagReviewForm(request.POST)
    if not form.is_valid():
        problem = " ".join(" ".join(errors) for errors in form.errors.values())
        return render_call_page(request, call, problem=problem, note=request.POST.get("note"))
    try:
        mark_reviewed(call, request.user, form.cleaned_data["note"])
    except FlagNotMarked as refused:
        return render_call_page(request, call, problem=str(refused))
    messages.success(request, "Marked reviewed.")
    return redirect("history-call", call_id=call.pk)


def render_call_page(
    request: HttpRequest, call: Call, *, problem: str = "", note: str | None = None
) -> HttpResponse:
    """The call's page; with a ``problem`` (a mark that could not be made), said on it, 400."""
    origin = call.answered_at or call.started_at
    rows = []
    for item in in_sequence(call.segments.all(), call.events.all()):
        kind = "segment" if isinstance(item, TranscriptSegment) else "event"
        at = item.started_at if kind == "segment" else item.created_at
        offset = (at - origin).total_seconds() if at and origin else None
        rows.append({"kind": kind, "item": item, "offset": offset})
    latency = {
        label: {"p50": call.metrics.get(f"{key}_p50"), "p95": call.metrics.get(f"{key}_p95")}
        for key, label in SHOWN_LATENCY.items()
    }
    return render(
        request,
        "history/call.html",
        {
            "call": call,
            "rows": rows,
            "latency": latency,
            "recordings": call.recordings.all(),
            "shop_time_zone": settings.SHOP_TIME_ZONE,
            "verdicts": verdict_rows(call),
            "problem": problem,
            "note": note or "",
        },
        status=400 if problem else 200,
    )


# Sections other apps add to the dashboard (the desk's handoffs): name -> a function of the
# period's start that returns the section's data. Apps above this one register theirs in
# their AppConfig.ready, so this module never imports them.
DASHBOARD_SECTIONS: dict[str, Callable[[datetime], dict]] = {}


def register_dashboard_section(name: str, section: Callable[[datetime], dict]) -> None:
    DASHBOARD_SECTIONS[name] = section


def dashboard_data(days: int = DASHBOARD_DAYS) -> dict:
    """Calls per day, handle time, handoff rate and latency percentiles of recent calls, and
    the registered sections."""
    since = timezone.now() - timedelta(days=days)
    recent = Call.objects.filter(started_at__gte=since)
    handle = ExpressionWrapper(F("ended_at") - F("answered_at"), output_field=DurationField())
    per_day = (
        recent.annotate(day=TruncDate("started_at"))
        .values("day")
        .annotate(
            calls=Count("id"),
            **{origin: Count("id", filter=Q(origin=origin)) for origin in Call.Origin.values},
            handoffs=Count("id", filter=Q(needs_human=True)),
            handle_time=Avg(handle, filter=Q(ended_at__isnull=False, answered_at__isnull=False)),
            reviewed=Count("id", filter=REVIEWED),
            flagged=Count("id", filter=Q(flagged=True)),
        )
        .order_by("day")
    )
    rows = [
        {
            "day": row["day"].isoformat(),
            "calls": row["calls"],
            **{origin: row[origin] for origin in Call.Origin.values},
            "handoff_rate": round(100 * row["handoffs"] / row["calls"], 1) if row["calls"] else 0,
            "handle_seconds": round(row["handle_time"].total_seconds(), 1)
            if row["handle_time"]
            else None,
            "reviewed": row["reviewed"],
            "flagged": row["flagged"],
            "flagged_share": share(row["flagged"], row["reviewed"]),
        }
        for row in per_day
    ]
    samples: dict[str, list[float]] = {key: [] for key in SHOWN_LATENCY}
    metrics = recent.exclude(metrics={}).order_by("-started_at").values_list("metrics", flat=True)
    for call_metrics in metrics[:LATENCY_SAMPLE_CALLS]:
        for key in SHOWN_LATENCY:
            values = call_metrics.get(key) or []
            samples[key].extend(v for v in values if isinstance(v, int | float))
    latency = [
        {
            "name": label,
            "p50": percentile(samples[key], 50),
            "p95": percentile(samples[key], 95),
            "p99": percentile(samples[key], 99),
            "samples": len(samples[key]),
        }
        for key, label in SHOWN_LATENCY.items()
    ]
    total = sum(r["calls"] for r in rows)

    # Calls that ended with an appointment in the book: resolved by a booking. Counting them
    # joins the appointments, so every count is of distinct calls.
    def calls(where=None):
        return Count("id", filter=where, distinct=True)

    booked = calls(Q(appointments__isnull=False))
    counts = recent.aggregate(
        handoffs=calls(Q(needs_human=True)),
        failed=calls(Q(status=Call.Status.FAILED)),
        abandoned=calls(Q(outcome=Call.Outcome.ABANDONED)),
        booked=booked,
    )
    # The desk's campaigns apart from the customers' own calls.
    campaign_calls = recent.filter(origin=Call.Origin.CAMPAIGN).aggregate(
        placed=calls(), answered=calls(Q(answered_at__isnull=False)), booked=booked
    )
    reviewed = recent.filter(REVIEWED)
    flags = reviewed.aggregate(
        flagged_calls=calls(Q(flagged=True)),
        open_flags=calls(Q(flagged=True, flag_reviewed_at__isnull=True)),
    )
    handoffs = counts["handoffs"]
    handle_values = [r["handle_seconds"] for r in rows if r["handle_seconds"] is not None]
    return {
        "days": days,
        "per_day": rows,
        "latency": latency,
        "has_latency": any(row["samples"] for row in latency),
        "total_calls": total,
        "inbound_calls": sum(r["inbound"] for r in rows),
        "campaign_calls": campaign_calls,
        "handoff_rate": round(100 * handoffs / total, 1) if total else 0,
        "failed_calls": counts["failed"],
        "abandoned_calls": counts["abandoned"],
        "booked_calls": counts["booked"],
        "average_handle_seconds": round(statistics.mean(handle_values), 1)
        if handle_values
        else None,
        "reviewed_calls": sum(r["reviewed"] for r in rows),
        **flags,
        "judges": judge_pass_rates(reviewed),
        **{name: section(since) for name, section in DASHBOARD_SECTIONS.items()},
    }


# A call whose review is stored (an empty review: not reviewed).
REVIEWED = ~Q(review={})


def share(part: int, whole: int) -> float | None:
    """``part`` of ``whole`` in percent, one decimal; None of nothing."""
    return round(100 * part / whole, 1) if whole else None


def judge_pass_rates(reviewed: QuerySet) -> list[dict]:
    """Each configured judge's share of passes over the calls it judged, in one query."""
    names = shown_judges()
    counts = reviewed.aggregate(
        **{f"judged_{name}": Count("id", filter=Q(review__judges__has_key=name)) for name in names},
        **{
            f"passed_{name}": Count("id", filter=Q(**{f"review__judges__{name}__verdict": "pass"}))
            for name in names
        },
    )
    return [
        {
            "name": name,
            "label": label_of(name),
            "judged": counts[f"judged_{name}"],
            "pass_rate": share(counts[f"passed_{name}"], counts[f"judged_{name}"]),
        }
        for name in names
    ]


@require_GET
@supervisor_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "history/dashboard.html", {"data": dashboard_data()})


class _Echo:
    """A file-like object whose write returns the line, for streaming csv.writer output."""

    def write(self, value: str) -> str:
        return value


def _date_range(request: HttpRequest) -> tuple[datetime, datetime] | str:
    """The [from, to] day range of the export as aware datetimes, or the error to show."""
    raw_from, raw_to = request.GET.get("from", ""), request.GET.get("to", "")
    try:
        first = parse_date(raw_from) if raw_from else timezone.localdate() - timedelta(days=30)
        last = parse_date(raw_to) if raw_to else timezone.localdate()
    except ValueError:
        first = last = None
    if first is None or last is None:
        return "Give the export's dates as YYYY-MM-DD."
    if first > last:
        return "The export's first day must not be after its last."
    if (last - first).days > 366:
        return "Export at most a year at a time."
    if last >= date.max - timedelta(days=1):
        return "Give a 'to' date before the year 9999."
    start = timezone.make_aware(datetime.combine(first, time.min))
    end = timezone.make_aware(datetime.combine(last + timedelta(days=1), time.min))
    return start, end


# A cell starting with one of these is read as a formula by spreadsheet programs.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    """A text cell that a spreadsheet shows as text (OWASP's CSV injection advice: a leading
    formula character gets a ' before it); other values as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def csv_export(name: str):
    """A supervisors' CSV export of the calls started in a ``from``/``to`` day range that the
    history page's filters and search select (its export links carry them): the decorated
    function turns those calls into rows (the header first); the view answers 400 with a
    sentence for a bad range or selection, else streams the rows as
    ``<name>-<from>-to-<to>.csv``.
    Every cell is quoted, and text that would start a formula is neutralised: transcripts and
    summaries hold whatever callers said or typed."""

    def decorate(rows_of):
        @require_GET
        @supervisor_required
        @wraps(rows_of)
        def view(request: HttpRequest) -> HttpResponse:
            span = _date_range(request)
            if isinstance(span, str):
                return history_page(request, export_error=span)
            in_range = Call.objects.filter(started_at__gte=span[0], started_at__lt=span[1])
            try:
                filters, calls, _query = selected_calls(request, in_range)
            except BadSelection as error:
                return history_page(request, export_error=str(error))
            if not filters.is_valid():
                problems = " ".join(" ".join(errors) for errors in filters.errors.values())
                return history_page(request, export_error=problems)
            writer = csv.writer(_Echo(), quoting=csv.QUOTE_ALL)
            response = StreamingHttpResponse(
                (
                    writer.writerow([spreadsheet_safe(cell) for cell in row])
                    for row in rows_of(calls)
                ),
                content_type="text/csv; charset=utf-8",
            )
            response["Content-Disposition"] = f'attachment; filename="{name}-{_stamp(span)}.csv"'
            return response

        return view

    return decorate


def _iso_or_blank(value: datetime | None) -> str:
    return value.isoformat() if value else ""


@csv_export("calls")
def export_calls(selected: QuerySet):
    """The selected calls, newest first as the history page lists them, in the pages' words
    ("Ended", "Phone", "Vehicle registered") with their duration (m:ss) and vehicle."""
    calls = selected.select_related("vehicle").order_by("-started_at", "-id")
    yield [
        "call_id", "started_at", "answered_at", "ended_at", "duration", "status", "channel",
        "caller", "vin", "vehicle", "outcome", "needs_a_person", "summary", "flag_reason",
        "review_score",
    ]  # fmt: skip
    for call in calls.iterator(chunk_size=2000):
        vehicle = call.vehicle
        yield [
            call.pk, call.started_at.isoformat(), _iso_or_blank(call.answered_at),
            _iso_or_blank(call.ended_at), clock(call.duration) if call.ended_at else "",
            call.get_status_display(), call.get_channel_display(), call.caller_shown,
            vehicle.vin if vehicle else "", vehicle.title if vehicle else "",
            call.get_outcome_display() if call.outcome else "",
            "Yes" if call.needs_human else "No", call.summary, call.flag_reason,
            (call.review or {}).get("score", ""),
        ]  # fmt: skip


@csv_export("transcripts")
def export_transcripts(selected: QuerySet):
    """What was said and what happened on the selected calls, in order: the segments and the
    events share each call's sequence, so its numbers run without gaps. Calls newest first,
    as the history page lists them; speakers in the pages' words."""
    calls = selected.values("pk")
    newest_first = ("-call__started_at", "call_id", "sequence")
    segments = (
        TranscriptSegment.objects.filter(call__in=calls)
        .select_related("call")
        .only("call__started_at", "call_id", "sequence", "speaker", "started_at", "language",
              "text")
        .order_by(*newest_first)
    )  # fmt: skip
    events = CallEvent.objects.filter(call__in=calls).select_related("call").order_by(*newest_first)

    def key(item):
        return (-item.call.started_at.timestamp(), str(item.call_id), item.sequence)

    yield ["call_id", "sequence", "speaker", "started_at", "language", "text"]
    merged = heapq.merge(
        segments.iterator(chunk_size=5000), events.iterator(chunk_size=5000), key=key
    )
    for item in merged:
        if isinstance(item, TranscriptSegment):
            yield [item.call_id, item.sequence, item.speaker_label,
                   _iso_or_blank(item.started_at), item.language, item.text]  # fmt: skip
        else:
            yield [item.call_id, item.sequence, "Event", _iso_or_blank(item.created_at), "",
                   item.describe()]  # fmt: skip


def _stamp(span: tuple[datetime, datetime]) -> str:
    first: date = span[0].date()
    last: date = (span[1] - timedelta(days=1)).date()
    return f"{first.isoformat()}-to-{last.isoformat()}"
