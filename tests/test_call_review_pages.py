"""What supervisors see of the post-call review: the history's Flagged filter, the verdicts on
the call's page, the mark that a flag was looked at, the dashboard's rates, and the API."""

from datetime import timedelta

import pytest
from django.utils import timezone

from callcenter.models import Call
from callcenter.review import flag_reason_of, stored_review

pytestmark = pytest.mark.django_db

JUDGES = ["task_completion", "safety", "vin_handled"]


@pytest.fixture(autouse=True)
def review_judges(settings):
    settings.REVIEW_JUDGES = JUDGES


def reviewed_call(caller: str, verdicts: dict[str, str], *, days_ago: int = 0) -> Call:
    started = timezone.now() - timedelta(days=days_ago, minutes=10)
    call = Call.objects.create(
        status=Call.Status.ENDED, caller=caller, started_at=started, answered_at=started,
        ended_at=started + timedelta(minutes=3),
    )  # fmt: skip
    review = stored_review(
        {
            name: (verdict, f"{name} said {verdict} <b>bold</b>")
            for name, verdict in verdicts.items()
        },
        model="judge-model",
        tokens={"prompt": 1234, "completion": 56},
        unanswered=[],
    )
    call.store_review(review, flag_reason_of(review, 0.8))
    return call


@pytest.fixture
def calls(db):
    return {
        "fine": reviewed_call("web:fine", {"task_completion": "pass", "safety": "pass"}),
        "unsafe": reviewed_call("web:unsafe", {"task_completion": "pass", "safety": "fail"}),
        "vin": reviewed_call("web:vin", {"vin_handled": "fail", "safety": "pass"}, days_ago=1),
        "unreviewed": Call.objects.create(status=Call.Status.ENDED, caller="web:unreviewed"),
    }


def listed(response) -> set[str]:
    text = response.content.decode()
    return {name for name in ("fine", "unsafe", "vin", "unreviewed") if f"web:{name}" in text}


def test_the_history_filters_flagged_calls_and_those_not_yet_looked_at(staff_client, calls):
    assert listed(staff_client.get("/history/", {"flagged": "yes"})) == {"unsafe", "vin"}
    assert listed(staff_client.get("/history/", {"flagged": "no"})) == {"fine", "unreviewed"}
    calls["vin"].mark_flag_reviewed(None, "checked")
    assert listed(staff_client.get("/history/", {"flagged": "open"})) == {"unsafe"}
    assert listed(staff_client.get("/history/", {"flagged": "reviewed"})) == {"vin"}
    page = staff_client.get("/history/").content.decode()
    assert "flagged, reviewed" in page and 'title="Failed: Safe."' in page
    wrong = staff_client.get("/history/", {"flagged": "maybe"})
    assert wrong.status_code == 400
    assert "Select a valid choice. maybe is not one of the available choices." in (
        wrong.content.decode()
    )


def test_the_call_page_shows_each_verdict_with_its_reasoning_failures_first(staff_client, calls):
    page = staff_client.get(f"/history/{calls['unsafe'].pk}/").content.decode()
    review = page[page.index('id="review"') :]
    assert "<strong>Flagged:</strong> Failed: Safe." in review
    assert review.index("Safe</th>") < review.index("Task completed</th>")
    assert "safety said fail &lt;b&gt;bold&lt;/b&gt;" in review  # the judge's words, as text
    assert "by judge-model · 1234 tokens in, 56 out" in review
    assert "Mark reviewed" in review
    unreviewed = staff_client.get(f"/history/{calls['unreviewed'].pk}/").content.decode()
    assert "Not reviewed." in unreviewed and "Mark reviewed" not in unreviewed


def test_a_supervisor_marks_a_flag_reviewed_with_a_note_and_the_first_mark_is_kept(
    staff_client, staff_user, calls, django_user_model
):
    call = calls["unsafe"]
    url = f"/history/{call.pk}/flag-reviewed"
    response = staff_client.post(url, {"note": "  Listened to it: the caller was rude.  "})
    assert response.status_code == 302 and response["Location"] == f"/history/{call.pk}/"
    call.refresh_from_db()
    assert call.flag_reviewed_by == staff_user and call.flag_reviewed_at is not None
    assert call.flag_review_note == "Listened to it: the caller was rude."
    page = staff_client.get(f"/history/{call.pk}/").content.decode()
    assert f"Reviewed by {staff_user.username} on" in page and "Mark reviewed" not in page
    # A second supervisor's mark does not replace the first.
    other = django_user_model.objects.create_user("other", password="x", is_staff=True)
    other.user_permissions.set(staff_user.user_permissions.all())
    staff_client.force_login(other)
    again = staff_client.post(url, {"note": "mine"})
    assert again.status_code == 400
    assert f"{staff_user.username} has marked this flag already." in again.content.decode()
    call.refresh_from_db()
    assert call.flag_reviewed_by == staff_user and call.flag_review_note.startswith("Listened")


def test_marking_is_refused_with_a_sentence_for_a_call_not_flagged_or_a_long_note(
    staff_client, calls
):
    fine = staff_client.post(f"/history/{calls['fine'].pk}/flag-reviewed", {"note": ""})
    assert fine.status_code == 400 and "This call is not flagged." in fine.content.decode()
    long = staff_client.post(f"/history/{calls['vin'].pk}/flag-reviewed", {"note": "x" * 1001})
    assert long.status_code == 400
    assert "Keep the note under 1000 characters." in long.content.decode()
    calls["vin"].refresh_from_db()
    assert calls["vin"].flag_reviewed_at is None
    assert staff_client.get(f"/history/{calls['vin'].pk}/flag-reviewed").status_code == 405


def test_only_supervisors_may_mark_a_flag(client, customer_user, calls):
    url = f"/history/{calls['unsafe'].pk}/flag-reviewed"
    assert client.post(url, {"note": "x"}).status_code == 302  # to the login page
    client.force_login(customer_user)
    assert client.post(url, {"note": "x"}).status_code == 403
    calls["unsafe"].refresh_from_db()
    assert calls["unsafe"].flag_reviewed_at is None


def test_the_dashboard_shows_the_daily_flagged_share_and_each_judges_pass_rate(staff_client, calls):
    from callcenter.history_views import dashboard_data

    data = dashboard_data()
    assert (data["reviewed_calls"], data["flagged_calls"], data["open_flags"]) == (3, 2, 2)
    rates = {judge["name"]: (judge["pass_rate"], judge["judged"]) for judge in data["judges"]}
    assert rates == {
        "task_completion": (100.0, 2), "safety": (66.7, 3), "vin_handled": (0.0, 1)
    }  # fmt: skip
    days = {row["day"]: row for row in data["per_day"]}
    today = timezone.localdate(calls["fine"].started_at).isoformat()
    yesterday = timezone.localdate(calls["vin"].started_at).isoformat()
    assert (days[today]["flagged"], days[today]["reviewed"], days[today]["flagged_share"]) == (
        1, 2, 50.0
    )  # fmt: skip
    assert days[yesterday]["flagged_share"] == 100.0
    page = staff_client.get("/dashboard/").content.decode()
    assert '<th scope="row">Safe</th><td>66.7 %</td><td>3</td>' in page
    assert f'<th scope="row">{today}</th><td>1</td><td>2</td><td>50.0 %</td>' in page
    assert 'href="/history/?flagged=open">2</a>' in page


def test_the_api_gives_the_review_and_filters_flagged_calls(staff_client, calls):
    listed_calls = staff_client.get("/api/calls/", {"flagged": "yes"}).json()["results"]
    assert {c["caller"] for c in listed_calls} == {"web:unsafe", "web:vin"}
    assert all(c["flagged"] and c["flag_reason"].startswith("Failed:") for c in listed_calls)
    detail = staff_client.get(f"/api/calls/{calls['unsafe'].pk}/").json()
    assert detail["review"]["judges"]["safety"]["verdict"] == "fail"
    assert detail["flag_reviewed_by"] is None


def test_the_calls_export_says_why_a_call_was_flagged_and_its_score(staff_client, calls):
    import csv
    import io

    response = staff_client.get("/history/export/calls.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    by_caller = {row["caller"]: row for row in rows}
    assert by_caller["web:unsafe"]["flag_reason"] == "Failed: Safe."
    assert by_caller["web:unsafe"]["review_score"] == "0.5"
    assert (by_caller["web:fine"]["flag_reason"], by_caller["web:fine"]["review_score"]) == (
        "",
        "1.0",
    )
    assert by_caller["web:unreviewed"]["review_score"] == ""


def test_the_api_marks_a_flag_reviewed_once_with_a_sentence_otherwise(
    staff_client, staff_user, calls
):
    url = f"/api/calls/{calls['unsafe'].pk}/flag-reviewed/"
    marked = staff_client.post(url, {"note": "Heard it."}, content_type="application/json")
    assert marked.status_code == 200
    assert (marked.json()["flag_reviewed_by"], marked.json()["flag_review_note"]) == (
        staff_user.username, "Heard it."
    )  # fmt: skip
    again = staff_client.post(url, {"note": "again"}, content_type="application/json")
    assert again.status_code == 409
    assert again.json()["detail"] == f"{staff_user.username} has marked this flag already."
    fine = staff_client.post(f"/api/calls/{calls['fine'].pk}/flag-reviewed/", {})
    assert (fine.status_code, fine.json()["detail"]) == (409, "This call is not flagged.")
    long = staff_client.post(
        f"/api/calls/{calls['vin'].pk}/flag-reviewed/", {"note": "x" * 1001},
        content_type="application/json",
    )  # fmt: skip
    assert long.status_code == 400 and "note" in long.json()
