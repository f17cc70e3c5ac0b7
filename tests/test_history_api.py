"""The supervisors' history API: calls, a call's record, vehicles, transcript search."""

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from callcenter.models import Call, CallEvent, TranscriptSegment
from recordings.models import Recording
from vehicles.models import Vehicle
from vehicles.vin import with_check_digit

ACCORD = "1HGCM82633A004352"


@pytest.fixture
def api(staff_user):
    client = APIClient()
    client.force_authenticate(staff_user)
    return client


def make_calls(count, **fields):
    now = timezone.now()
    vehicle = Vehicle.objects.get_or_create(
        vin=ACCORD, defaults={"make": "Honda", "model": "Accord", "year": 2003}
    )[0]
    calls = []
    for number in range(count):
        call = Call.objects.create(
            started_at=now - timedelta(minutes=number),
            status=Call.Status.ENDED,
            vehicle=vehicle,
            **fields,
        )
        TranscriptSegment.objects.create(call=call, sequence=1, speaker="customer", text="Hi")
        calls.append(call)
    return calls


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "status"),
    [("anonymous", 403), ("customer", 403), ("staff_without_permission", 403), ("supervisor", 200)],
)
def test_history_is_for_supervisors_only(django_user_model, who, status):
    from django.contrib.auth.models import Permission

    client = APIClient()
    if who != "anonymous":
        user = django_user_model.objects.create_user(who, is_staff=who != "customer")
        if who == "supervisor":
            user.user_permissions.add(Permission.objects.get(codename="monitor_calls"))
        client.force_authenticate(user)
    for url in ("/api/calls/", "/api/vehicles/", "/api/transcripts/search/?q=hi"):
        assert client.get(url).status_code == status, url


@pytest.mark.django_db
def test_token_authentication_works_for_scripts(staff_user):
    token = Token.objects.create(user=staff_user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get("/api/calls/").status_code == 200


@pytest.mark.django_db
def test_calls_are_filtered_by_status_outcome_needs_human_vin_and_dates(api):
    make_calls(3, outcome="resolved")
    handed = make_calls(2, outcome="handed_off", needs_human=True)
    Call.objects.create(status=Call.Status.ACTIVE)

    def ids(**params):
        return {row["id"] for row in api.get("/api/calls/", params).json()["results"]}

    assert len(ids(status="ended")) == 5
    assert ids(outcome="handed_off") == {str(c.pk) for c in handed}
    assert ids(needs_human="true") == {str(c.pk) for c in handed}
    assert len(ids(vin="1hg cm8 2633a004352")) == 5
    recent = (timezone.now() - timedelta(seconds=30)).isoformat()
    assert len(ids(started_after=recent)) == 3  # the two newest of each batch + the live one


@pytest.mark.django_db
def test_a_bad_vin_filter_is_a_400_with_the_vin_modules_sentence(api):
    response = api.get("/api/calls/", {"vin": "1HGCM82633AOO4352"})
    assert response.status_code == 400
    assert "never contains the letter O" in response.json()["vin"][0]


@pytest.mark.django_db
def test_cursor_pagination_walks_every_call_once_newest_first(api):
    calls = make_calls(7)
    seen, url = [], "/api/calls/?page_size=3"
    while url:
        page = api.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]
    assert seen == [str(c.pk) for c in calls]


@pytest.mark.django_db
def test_list_queries_do_not_grow_with_the_page_size(api):
    make_calls(60)
    api.get("/api/calls/")  # the user's permissions are loaded once, then cached
    counts = []
    for size in (1, 50):
        with CaptureQueriesContext(connection) as queries:
            response = api.get("/api/calls/", {"page_size": size})
        assert len(response.json()["results"]) == size
        counts.append(len(queries))
    assert counts[0] == counts[1]


@pytest.mark.django_db
def test_a_call_comes_with_transcript_events_metrics_and_recordings(api):
    (call,) = make_calls(1)
    TranscriptSegment.objects.create(call=call, sequence=3, speaker="agent", text="Bye")
    CallEvent.objects.create(call=call, sequence=2, type="tool_call", payload={"name": "x"})
    Call.objects.filter(pk=call.pk).update(metrics={"turns": 2, "llm_ttft_ms_p50": 310.0})
    recording = Recording.objects.create(call=call, source="egress", status="ready", file="a.ogg")
    with CaptureQueriesContext(connection) as queries:
        body = api.get(f"/api/calls/{call.pk}/").json()
    assert [s["sequence"] for s in body["segments"]] == [1, 3]
    assert [e["sequence"] for e in body["events"]] == [2]
    assert body["metrics"]["llm_ttft_ms_p50"] == 310.0
    assert body["recordings"][0]["playback_url"] == f"/recordings/{recording.pk}/audio"
    assert body["vehicle"]["vin"] == ACCORD
    assert len(queries) <= 8


@pytest.mark.django_db
def test_vehicles_can_be_created_read_updated_and_deleted_with_vin_messages(api):
    created = api.post(
        "/api/vehicles/",
        {"vin": "1hgcm8-2633a-004352", "make": "Honda", "model": "Accord", "year": 2003},
    )
    assert created.status_code == 201, created.content
    vehicle = created.json()
    assert vehicle["vin"] == ACCORD
    assert vehicle["decoded"] == "2003 Honda (United States)"
    refused = api.post(
        "/api/vehicles/", {"vin": "1HGCM82634A004352", "make": "Honda", "model": "X", "year": 2003}
    )
    assert refused.status_code == 400
    assert "check digit" in refused.json()["vin"][0]
    duplicate = api.post(
        "/api/vehicles/", {"vin": ACCORD, "make": "Honda", "model": "Accord", "year": 2003}
    )
    assert duplicate.status_code == 400
    assert "already exists" in duplicate.json()["vin"][0]
    updated = api.patch(f"/api/vehicles/{vehicle['id']}/", {"model": "Accord EX"})
    assert updated.json()["model"] == "Accord EX"
    future = api.patch(f"/api/vehicles/{vehicle['id']}/", {"year": 2300})
    assert future.status_code == 400
    assert Vehicle.objects.get().year == 2003
    assert api.delete(f"/api/vehicles/{vehicle['id']}/").status_code == 204
    assert not Vehicle.objects.exists()


@pytest.mark.django_db
def test_vehicles_are_searchable(api):
    Vehicle.objects.create(vin=ACCORD, make="Honda", model="Accord", year=2003)
    Vehicle.objects.create(
        vin=with_check_digit("5YJ3E1EA0KF317000"), make="Tesla", model="Model 3", year=2019
    )
    results = api.get("/api/vehicles/", {"search": "tesla"}).json()["results"]
    assert [v["make"] for v in results] == ["Tesla"]


def _seed_transcripts():
    calls = make_calls(2)
    TranscriptSegment.objects.create(
        call=calls[0], sequence=2, speaker="customer", text="When is the timing belt due?"
    )
    TranscriptSegment.objects.create(
        call=calls[1], sequence=2, speaker="customer", text="My brakes are squeaking."
    )
    return calls


@pytest.mark.django_db
def test_transcript_search_finds_the_words(api):
    calls = _seed_transcripts()
    hits = api.get("/api/transcripts/search/", {"q": "timing belt"}).json()["results"]
    assert [(h["call_id"], h["sequence"]) for h in hits] == [(str(calls[0].pk), 2)]
    assert api.get("/api/transcripts/search/").status_code == 400


@pytest.mark.django_db
def test_transcript_search_lists_the_newest_mentions_first_and_pages_on(api):
    calls = make_calls(3)
    for number, call in enumerate(calls):
        segment = TranscriptSegment.objects.create(
            call=call, sequence=99, speaker="customer", text=f"Is the recall done? ({number})"
        )
        TranscriptSegment.objects.filter(pk=segment.pk).update(
            created_at=timezone.now() - timedelta(days=10 - number)
        )
    first = api.get("/api/transcripts/search/", {"q": "recall", "limit": 2}).json()
    assert [h["text"][-3:] for h in first["results"]] == ["(2)", "(1)"]
    rest = api.get(first["next"]).json()
    assert [h["text"][-3:] for h in rest["results"]] == ["(0)"]
    assert rest["next"] is None


@pytest.mark.postgres
@pytest.mark.django_db
def test_transcript_search_on_postgresql_is_full_text_and_uses_the_gin_index(api):
    _seed_transcripts()
    hits = api.get("/api/transcripts/search/", {"q": "squeak brake"}).json()["results"]
    assert [h["text"] for h in hits] == ["My brakes are squeaking."]  # stemmed: brakes, squeaking
    assert "<b>" in hits[0]["headline"]
    from callcenter.history import search_segments

    with connection.cursor() as cursor:
        # At a handful of rows the planner may as well walk the newest-first index
        # (segment_created) as read the GIN index; what is asked here is whether the GIN
        # index serves the query at all, so only index lookups by condition are left to it.
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("SET enable_indexscan = off")
        sql, params = search_segments("brake").query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SET enable_seqscan = on")
        cursor.execute("SET enable_indexscan = on")
    assert "segment_text_search" in plan


@pytest.mark.django_db
def test_search_headlines_escape_what_callers_said_and_mark_only_the_matches(api):
    call = Call.objects.create(status=Call.Status.ENDED)
    hostile = (
        '<img src=x onerror="alert(1)"> my brakes \ue000squeak\ue001 <b>loudly</b> '
        "when 1 <script and & <a"
    )
    TranscriptSegment.objects.create(call=call, sequence=1, speaker="customer", text=hostile)
    hits = api.get("/api/transcripts/search/", {"q": "brakes"}).json()["results"]
    assert len(hits) == 1
    headline = hits[0]["headline"]
    # Only the server's markup is HTML: <b> around the matches; the caller's text is escaped
    # (PostgreSQL's headline also drops what it parses as tags).
    assert headline.replace("<b>", "").replace("</b>", "").count("<") == 0
    assert "&lt;script" in headline and "&amp;" in headline
    if connection.vendor == "postgresql":
        assert "<b>brakes</b>" in headline
        assert headline.count("<b>") == 1  # the caller's own markers mark nothing
    else:
        assert "&lt;img src=x" in headline


@pytest.mark.django_db
def test_api_tokens_expire_and_can_be_revoked(staff_user, settings):
    token = Token.objects.create(user=staff_user)
    client = APIClient(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get("/api/calls/").status_code == 200
    Token.objects.filter(pk=token.pk).update(
        created=timezone.now() - timedelta(days=settings.API_TOKEN_DAYS + 1)
    )
    expired = client.get("/api/calls/")
    # 403, not 401: the first authenticator (the session) names no WWW-Authenticate scheme.
    assert expired.status_code == 403 and "expired" in expired.json()["detail"]
    token.delete()  # revoked (the admin's delete does this)
    assert "Invalid token" in client.get("/api/calls/").json()["detail"]


def test_the_openapi_schema_validates_without_warnings():
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn"],
        cwd=root,
        env={"PATH": "/usr/bin:/bin", "SECRET_KEY": "x"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "/api/calls/{id}/listen/" in result.stdout
    assert "/api/transcripts/search/" in result.stdout


@pytest.mark.django_db
def test_the_api_docs_page_serves_without_a_cdn(staff_client):
    response = staff_client.get("/api/docs/")
    assert response.status_code == 200
    assert "cdn" not in response.content.decode().lower()


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_search_that_runs_too_long_is_cancelled_by_the_database(monkeypatch):
    from callcenter import history

    monkeypatch.setattr(history, "SEARCH_TIME_LIMIT_MS", 50)
    too_slow = pytest.raises(history.SearchTooSlow, match="takes too long")
    with too_slow, history.search_time_limit(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(2)")
    with connection.cursor() as cursor:  # the limit was for that search only
        cursor.execute("SELECT pg_sleep(0.1)")
