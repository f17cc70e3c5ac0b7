"""Every query parameter of every supervisor page and API list, swept with hostile values:
each answer is the page or a 400 with a sentence, never a server error."""

import json

import pytest
from django.contrib.auth.models import Permission

from callcenter.models import Call, TranscriptSegment

HOSTILE = [
    "1" + "0" * 20,  # 10**20
    "-1",
    "0",
    "%%%",
    "\x00",
    "9999-12-31",
    "0001-01-01",
    "1e309",
    "NaN",
    "[]",
    "💥",
    "a" * 5000,
    "cD0yMDI2LTEx",  # a cursor holding "p=2026-11", not a time
    "bz05OTk5OTk5OTk5OTk5OTk5OTk5OTk5",  # a cursor holding a huge offset
]
CALL_FILTERS = ["status", "outcome", "needs_human", "channel", "vin", "started_after",
                "started_before"]  # fmt: skip
ENDPOINTS = [
    ("/api/calls/", {}, [*CALL_FILTERS, "ordering", "cursor", "page_size"]),
    ("/api/transcripts/search/", {"q": "brakes"}, ["q", "limit", "offset"]),
    ("/api/vehicles/", {}, ["search", "ordering", "page", "page_size"]),
    ("/history/", {}, [*CALL_FILTERS, "q", "page"]),
    ("/history/", {"q": "brakes"}, ["page"]),
    ("/history/export/calls.csv", {}, ["from", "to"]),
    ("/history/export/transcripts.csv", {}, ["from", "to"]),
    ("/dashboard/", {}, ["days"]),
    ("/appointments/", {}, ["day", "view", "service"]),
    ("/appointments/", {"view": "week"}, ["day", "service"]),
    ("/api/appointments/", {}, ["starts_after", "starts_before", "status", "page"]),
]


@pytest.fixture
def history(db, staff_user):
    staff_user.user_permissions.add(Permission.objects.get(codename="view_appointment"))
    call = Call.objects.create(status=Call.Status.ENDED, caller="web:x")
    TranscriptSegment.objects.create(call=call, sequence=1, speaker="customer", text="My brakes")


@pytest.mark.parametrize(("path", "base", "names"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
def test_no_parameter_value_makes_a_server_error(staff_client, history, path, base, names):
    failures = []
    for name in names:
        for value in HOSTILE:
            response = staff_client.get(path, {**base, name: value})
            if response.status_code >= 500:
                failures.append(f"{name}={value[:20]!r}: {response.status_code}")
            elif response.status_code == 400:
                assert response.content.strip(), f"{name}={value[:20]!r}: a 400 without a word"
    assert failures == []


@pytest.mark.django_db
def test_a_json_body_nested_too_deep_is_a_400(client):
    body = "[" * 100_000 + "]" * 100_000
    response = client.post("/api/calls/", body, content_type="application/json")
    assert response.status_code == 400
    assert "nested too deeply" in json.loads(response.content)["detail"]
