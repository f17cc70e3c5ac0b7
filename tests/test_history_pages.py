"""The supervisors' history pages and CSV exports."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from callcenter.history_views import PAGE_SIZE
from callcenter.models import Call, CallEvent, TranscriptSegment
from recordings.models import Recording


@pytest.fixture
def finished_call(db):
    now = timezone.now()
    call = Call.objects.create(
        status=Call.Status.ENDED,
        caller="web:history",
        started_at=now - timedelta(minutes=5),
        answered_at=now - timedelta(minutes=5),
        ended_at=now - timedelta(minutes=3),
        outcome="resolved",
        summary="The caller asked about the timing belt.",
        metrics={"turns": 2, "llm_ttft_ms": [300.0, 500.0], "llm_ttft_ms_p50": 400.0},
    )
    TranscriptSegment.objects.create(
        call=call, sequence=1, speaker="customer", text="When is the timing belt due?",
        started_at=now - timedelta(minutes=5),
    )  # fmt: skip
    CallEvent.objects.create(
        call=call, sequence=2, type="tool_call",
        payload={"name": "lookup_vehicle", "arguments": {"vin": "1HGCM82633A004352"},
                 "output": "Found on file: 2003 Honda Accord."},
    )  # fmt: skip
    Recording.objects.create(call=call, source="egress", status="ready", file="x.ogg", format="ogg")
    return call


@pytest.mark.django_db
def test_pages_are_for_supervisors_only(client, customer_user, finished_call):
    urls = ["/history/", f"/history/{finished_call.pk}/", "/dashboard/",
            "/history/export/calls.csv", "/history/export/transcripts.csv"]  # fmt: skip
    for url in urls:
        assert client.get(url).status_code == 302, url
    client.force_login(customer_user)
    for url in urls:
        assert client.get(url).status_code == 403, url


@pytest.mark.django_db
def test_the_history_list_filters_and_searches(staff_client, finished_call):
    other = Call.objects.create(status=Call.Status.ENDED, caller="web:other", outcome="unresolved")
    TranscriptSegment.objects.create(call=other, sequence=1, speaker="customer", text="brakes")
    page = staff_client.get("/history/").content.decode()
    assert "web:history" in page and "web:other" in page
    searched = staff_client.get("/history/", {"q": "timing belt"}).content.decode()
    assert "web:history" in searched and "web:other" not in searched
    filtered = staff_client.get("/history/", {"outcome": "unresolved"}).content.decode()
    assert "web:other" in filtered and "web:history" not in filtered
    refused = staff_client.get("/history/", {"vin": "IHGCM82633A004352"}).content.decode()
    assert "never contains the letter I" in refused


@pytest.mark.django_db
def test_the_history_list_pages_newest_first_without_counting(
    staff_client, django_assert_max_num_queries
):
    now = timezone.now()
    for number in range(PAGE_SIZE + 3):
        Call.objects.create(
            status=Call.Status.ENDED,
            caller=f"web:p{number:03d}",
            started_at=now - timedelta(minutes=number),
        )
    with django_assert_max_num_queries(5) as queries:  # session, user, 2 permissions, the page
        first = staff_client.get("/history/").content.decode()
    assert not any(q["sql"].startswith("SELECT COUNT(") for q in queries.captured_queries)
    assert "web:p000" in first and f"web:p{PAGE_SIZE - 1:03d}" in first
    assert f"web:p{PAGE_SIZE:03d}" not in first
    assert "page=2" in first and "Older" in first
    second = staff_client.get("/history/", {"page": 2}).content.decode()
    assert f"web:p{PAGE_SIZE:03d}" in second and f"web:p{PAGE_SIZE + 2:03d}" in second
    assert "web:p000" not in second and "Older" not in second and "Newer" in second
    for nonsense in ("0", "-3", "x"):
        assert "web:p000" in staff_client.get("/history/", {"page": nonsense}).content.decode()


@pytest.mark.django_db
def test_supervisor_actions_read_as_sentences_with_who_and_what(staff_client, finished_call):
    actions = [
        (CallEvent.Type.WHISPER, {"by": "ana", "text": "offer the winter tyre check"}),
        (CallEvent.Type.TAKE_OVER, {"by": "ana"}),
        (CallEvent.Type.HAND_BACK, {"by": "ana"}),
        (CallEvent.Type.BARGE_IN, {"by": "ben"}),
        (CallEvent.Type.HAND_BACK, {"by": "timeout"}),
    ]
    for number, (kind, payload) in enumerate(actions, start=10):
        CallEvent.objects.create(call=finished_call, sequence=number, type=kind, payload=payload)
    sentences = [
        "ana whispered: offer the winter tyre check",
        "ana took over",
        "ana handed back to the agent",
        "ben joined the call",
        "The agent took the call back: the supervisor&#x27;s page stopped answering",
    ]
    page = staff_client.get(f"/history/{finished_call.pk}/").content.decode()
    for sentence in sentences:
        assert sentence in page
    # The monitor receives the same sentence with each live event.
    whisper = finished_call.events.get(type=CallEvent.Type.WHISPER)
    assert whisper.to_message()["text"] == "ana whispered: offer the winter tyre check"


@pytest.mark.django_db
def test_a_tool_call_names_the_vin_by_its_17_characters_however_it_was_spoken(finished_call):
    spoken = "one H G C, m as in mike, eight two six three three A, oh oh four three five two"
    lookup = CallEvent.objects.create(
        call=finished_call, sequence=50, type=CallEvent.Type.TOOL_CALL,
        payload={"name": "lookup_vehicle", "arguments": {"vin": spoken},
                 "output": "Found on file: 2003 Honda Accord. Confirm it with the caller."},
    )  # fmt: skip
    assert lookup.describe() == "Looked up 1HGCM82633A004352: Found on file: 2003 Honda Accord."
    lookup.payload["arguments"]["vin"] = "not a vin"
    assert lookup.describe().startswith("Looked up not a vin: ")


@pytest.mark.django_db
def test_the_call_page_shows_transcript_tool_calls_recording_and_metrics(
    staff_client, finished_call
):
    page = staff_client.get(f"/history/{finished_call.pk}/").content.decode()
    assert "When is the timing belt due?" in page
    assert "Looked up 1HGCM82633A004352: Found on file: 2003 Honda Accord." in page
    assert "The caller asked about the timing belt." in page
    recording = finished_call.recordings.get()
    assert f'src="/recordings/{recording.pk}/audio"' in page
    assert "400.0" in page


@pytest.mark.django_db
def test_the_dashboard_computes_rates_and_percentiles(staff_client, finished_call):
    Call.objects.create(status=Call.Status.ENDED, needs_human=True)
    from callcenter.history_views import dashboard_data

    data = dashboard_data()
    assert data["total_calls"] == 2
    assert data["handoff_rate"] == 50.0
    assert data["average_handle_seconds"] == 120.0
    ttft = next(row for row in data["latency"] if row["name"] == "LLM first token")
    assert (ttft["samples"], ttft["p50"], ttft["p99"]) == (2, 300.0, 500.0)
    assert staff_client.get("/dashboard/").status_code == 200


@pytest.mark.django_db
def test_the_dashboard_counts_failed_and_abandoned_calls(staff_client, finished_call):
    Call.objects.create(status=Call.Status.FAILED, failure_reason=Call.NEVER_ANSWERED)
    Call.objects.create(status=Call.Status.ENDED, outcome=Call.Outcome.ABANDONED)
    from callcenter.history_views import dashboard_data

    data = dashboard_data()
    assert (data["total_calls"], data["failed_calls"], data["abandoned_calls"]) == (3, 1, 1)
    page = staff_client.get("/dashboard/").content.decode()
    assert "failed (never answered, worker lost)" in page and "abandoned by the caller" in page


@pytest.mark.django_db
def test_csv_exports_stream_calls_and_transcripts_for_a_date_range(staff_client, finished_call):
    today = timezone.localdate().isoformat()
    response = staff_client.get("/history/export/calls.csv", {"from": today, "to": today})
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:2] == ["call_id", "started_at"]
    assert rows[1][0] == str(finished_call.pk)
    transcripts = staff_client.get("/history/export/transcripts.csv", {"from": today, "to": today})
    lines = list(csv.reader(io.StringIO(b"".join(transcripts.streaming_content).decode())))
    assert lines[1][-1] == "When is the timing belt due?"
    old = staff_client.get("/history/export/calls.csv", {"from": "2001-01-01", "to": "2001-01-02"})
    assert len(list(csv.reader(io.StringIO(b"".join(old.streaming_content).decode())))) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("export", ["calls", "transcripts"])
def test_csv_cells_that_would_be_formulas_are_written_as_text(staff_client, finished_call, export):
    hostile = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]
    for number, text in enumerate(hostile, start=100):
        finished_call.segments.create(sequence=number, speaker="customer", text=text)
    finished_call.summary = "=cmd|' /C calc'!A0"
    finished_call.save()
    today = timezone.localdate().isoformat()
    response = staff_client.get(f"/history/export/{export}.csv", {"from": today, "to": today})
    body = b"".join(response.streaming_content).decode()
    cells = [cell for row in csv.reader(io.StringIO(body)) for cell in row]
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)
    written = hostile if export == "transcripts" else [finished_call.summary]
    for text in written:
        assert "'" + text in cells


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "message"),
    [({"from": "yesterday"}, "YYYY-MM-DD"), ({"from": "2026-02-30"}, "YYYY-MM-DD"),
     ({"from": "2026-05-02", "to": "2026-05-01"}, "must not be after"),
     ({"from": "2020-01-01", "to": "2026-01-01"}, "at most a year"),
     ({"from": "9999-12-01", "to": "9999-12-31"}, "before the year 9999")],
)  # fmt: skip
def test_bad_export_dates_get_a_readable_400(staff_client, params, message):
    response = staff_client.get("/history/export/calls.csv", params)
    assert response.status_code == 400
    assert message in response.content.decode()


@pytest.mark.django_db
def test_the_monitor_and_the_history_say_statuses_and_speakers_in_the_same_words(
    staff_client, finished_call
):
    call_words = finished_call.to_dict()["status_label"]
    segment = finished_call.segments.get()
    speaker_words = segment.to_message()["speaker_label"]
    assert (call_words, speaker_words) == ("Ended", "Caller")
    record = staff_client.get(f"/history/{finished_call.pk}/").content.decode()
    listed = staff_client.get("/history/").content.decode()
    assert f'<span class="speaker">{speaker_words}</span>' in record
    assert f"<dd>{call_words}" in record
    assert f'<td data-label="Status">{call_words}' in listed


@pytest.mark.django_db
def test_the_exports_follow_the_history_pages_filters_and_search(staff_client, finished_call):
    other = Call.objects.create(status=Call.Status.ENDED, caller="web:other", outcome="unresolved")
    TranscriptSegment.objects.create(call=other, sequence=1, speaker="customer", text="brakes")
    today = timezone.localdate().isoformat()
    span = {"from": today, "to": today}

    def exported(kind, **selection):
        response = staff_client.get(f"/history/export/{kind}.csv", {**span, **selection})
        assert response.status_code == 200, response.content
        rows = csv.reader(io.StringIO(b"".join(response.streaming_content).decode()))
        return [row[0] for row in list(rows)[1:]]

    both = {str(finished_call.pk), str(other.pk)}
    assert set(exported("calls")) == both
    assert exported("calls", outcome="unresolved") == [str(other.pk)]
    assert exported("calls", q="timing belt") == [str(finished_call.pk)]
    assert exported("transcripts", q="brakes") == [str(other.pk)]
    # The history page's export form carries what it shows, with date pickers for the span.
    page = staff_client.get("/history/", {"outcome": "unresolved", "q": "brakes"})
    html = page.content.decode()
    assert '<input type="hidden" name="outcome" value="unresolved">' in html
    assert '<input type="hidden" name="q" value="brakes">' in html
    assert 'formaction="/history/export/calls.csv"' in html
    assert f'<input type="date" name="to" value="{today}" required>' in html
    # A refused export is explained on the history page, with the filters kept.
    refused = staff_client.get("/history/export/calls.csv", {**span, "status": "nonsense"})
    assert refused.status_code == 400
    assert "Select a valid choice" in refused.content.decode()
    assert refused.templates[0].name == "history/list.html"


@pytest.mark.django_db
def test_a_bad_export_range_is_said_on_the_history_page_not_a_bare_one(staff_client):
    response = staff_client.get(
        "/history/export/transcripts.csv", {"from": "2026-05-02", "to": "2026-05-01"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert '<p class="page-error" role="alert">' in html
    assert "must not be after" in html
    assert "<h1>Call history</h1>" in html


@pytest.mark.django_db
def test_history_filters_read_in_plain_words_and_a_bad_date_gets_the_format(staff_client):
    html = staff_client.get("/history/").content.decode()
    assert '<label for="id_started_after">' not in html  # labels wrap their fields
    assert "Started after" in html and "Started before" in html
    assert '<input type="date" name="started_after"' in html
    assert '<option value="" selected>Any</option>' in html
    assert '<option value="unknown" selected>Any</option>' in html  # asked for a person
    assert "Unknown" not in html
    bad = staff_client.get("/history/", {"started_after": "29/11/2026"})
    assert bad.status_code == 400
    assert "Started after: Enter a date as YYYY-MM-DD" in bad.content.decode()


@pytest.mark.django_db
def test_the_list_shows_durations_as_a_clock_and_says_the_time_zone(
    staff_client, finished_call, settings
):
    settings.TIME_ZONE = "Europe/Berlin"
    html = staff_client.get("/history/").content.decode()
    assert '<td data-label="Duration">2:00</td>' in html
    assert "Times are in Europe/Berlin." in html
    local = timezone.localtime(finished_call.started_at, timezone.get_current_timezone())
    assert local.strftime("%Y-%m-%d %H:%M") in html
    record = staff_client.get(f"/history/{finished_call.pk}/").content.decode()
    assert "<dd>2:00</dd>" in record


@pytest.mark.django_db
def test_a_search_shows_each_calls_matching_line_with_the_match_marked(staff_client, finished_call):
    TranscriptSegment.objects.create(
        call=finished_call, sequence=3, speaker="agent", text="Nothing to see <here>."
    )
    html = staff_client.get("/history/", {"q": "timing"}).content.decode()
    assert '<tr class="match-row">' in html
    assert "<b>timing</b>" in html
    assert "&lt;here&gt;" not in html  # only the matching line is shown
    assert '<tr class="match-row">' not in staff_client.get("/history/").content.decode()


@pytest.mark.django_db
def test_csv_exports_say_what_the_pages_say_newest_first_with_every_sequence(
    staff_client, finished_call
):
    from vehicles.models import Vehicle

    finished_call.vehicle = Vehicle.objects.create(
        vin="1HGCM82633A004352", make="Honda", model="Accord", year=2003
    )
    finished_call.save()
    CallEvent.objects.create(
        call=finished_call, sequence=3, type=CallEvent.Type.HANDOFF_REQUESTED,
        payload={"reason": "warranty"},
    )  # fmt: skip
    TranscriptSegment.objects.create(call=finished_call, sequence=4, speaker="agent", text="Ok.")
    newer = Call.objects.create(status=Call.Status.ENDED, caller="web:newer")
    today = timezone.localdate().isoformat()

    def rows(kind):
        response = staff_client.get(f"/history/export/{kind}.csv", {"from": today, "to": today})
        return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))

    calls = rows("calls")
    assert [row["call_id"] for row in calls] == [str(newer.pk), str(finished_call.pk)]
    belt = calls[1]
    assert (belt["status"], belt["channel"], belt["outcome"], belt["needs_a_person"]) == (
        "Ended", "Web", "Resolved", "No",
    )  # fmt: skip
    assert (belt["duration"], belt["vehicle"]) == ("2:00", "2003 Honda Accord")
    lines = [row for row in rows("transcripts") if row["call_id"] == str(finished_call.pk)]
    assert [row["sequence"] for row in lines] == ["1", "2", "3", "4"]
    assert [row["speaker"] for row in lines] == ["Caller", "Event", "Event", "Agent"]
    assert lines[1]["text"].startswith("Looked up 1HGCM82633A004352: Found on file")
    assert lines[2]["text"] == "Handoff requested: warranty"


@pytest.mark.django_db
def test_the_history_folds_its_filters_until_one_is_set(staff_client, finished_call):
    folded = staff_client.get("/history/").content.decode()
    assert '<details class="more-filters">' in folded and "<summary>Filters</summary>" in folded
    filtered = staff_client.get("/history/", {"outcome": "resolved"}).content.decode()
    assert '<details class="more-filters" open>' in filtered
    assert "<summary>Filters (1 set)</summary>" in filtered


@pytest.mark.django_db
def test_the_dashboard_shows_campaign_calls_apart_from_the_customers_own(
    staff_client, finished_call
):
    from appointments.models import Appointment, ServiceType
    from callcenter.history_views import dashboard_data

    answered = timezone.now()
    for booked in (True, False):
        call = Call.objects.create(origin=Call.Origin.CAMPAIGN, answered_at=answered,
                                   status=Call.Status.ENDED)  # fmt: skip
        if booked:  # two bookings on one call: still one call placed, answered, booked
            service = ServiceType.objects.create(name="Winter check")
            for hours in (0, 2):
                Appointment.objects.create(
                    call=call, service=service, customer_name="Ana", contact="+1",
                    start=answered + timedelta(hours=hours),
                    end=answered + timedelta(hours=hours + 1),
                )  # fmt: skip
    Call.objects.create(origin=Call.Origin.CAMPAIGN, status=Call.Status.FAILED)
    Call.objects.create(origin=Call.Origin.CALLBACK, status=Call.Status.ENDED)
    data = dashboard_data()
    assert (data["total_calls"], data["inbound_calls"]) == (5, 1)
    assert data["campaign_calls"] == {"placed": 3, "answered": 2, "booked": 1}
    (today,) = data["per_day"]
    assert (today["inbound"], today["callback"], today["campaign"]) == (1, 1, 3)
    page = staff_client.get("/dashboard/").content.decode()
    assert "campaign calls placed" in page and "customers' own calls" in page
