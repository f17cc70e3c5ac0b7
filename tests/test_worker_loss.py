"""A worker killed mid-call: the web app asks LiveKit for a new job, which resumes the call
from what is stored; a call no job takes up in time, or one for which no new job can be asked,
has failed, its transcript so far kept. (End to end: tests/test_call_end_to_end.py.)"""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.utils import timezone
from google.protobuf.json_format import MessageToJson
from livekit import api

from callcenter.models import Call, TranscriptSegment
from tests.test_livekit_webhooks import KEY, SECRET, signed
from tests.test_phone_lines import closed_port


@pytest.fixture(autouse=True)
def livekit(settings):
    settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = KEY, SECRET
    # Nothing listens there: asking LiveKit for a new job fails, unless a test says otherwise.
    settings.LIVEKIT_URL = f"ws://127.0.0.1:{closed_port()}"
    cache.clear()


def participant_left(client, call, event_id, participant: api.ParticipantInfo):
    event = api.WebhookEvent(
        event="participant_left",
        id=event_id,
        room=api.Room(name=call.room_name),
        participant=participant,
    )
    body = MessageToJson(event)
    return client.post(
        "/livekit/webhook/", body, content_type="application/json", HTTP_AUTHORIZATION=signed(body)
    )


def agent_left(client, call, event_id):
    agent = api.ParticipantInfo(identity="agent-x", kind=api.ParticipantInfo.AGENT)
    return participant_left(client, call, event_id, agent)


@pytest.mark.django_db
def test_an_agent_lost_when_no_new_job_can_be_asked_for_fails_the_call_keeping_its_words(
    client, settings
):
    # Nowhere to ask for a new job (the fixture's LIVEKIT_URL).
    call = Call.objects.create(status=Call.Status.ACTIVE)
    TranscriptSegment.objects.create(call=call, sequence=1, speaker="customer", text="Hello?")
    assert agent_left(client, call, "EV_left").status_code == 200
    call.refresh_from_db()
    assert call.status == Call.Status.FAILED
    assert "worker stopped" in call.failure_reason
    assert call.segments.count() == 1


@pytest.mark.django_db
def test_only_the_agent_of_the_job_serving_the_call_leaving_counts_as_lost(client, settings):
    # Nowhere to ask for a new job: a lost agent then fails the call at once, easy to see.
    call = Call.objects.create(status=Call.Status.ACTIVE, worker_job_id="AJ_new")
    # The job another one took the call over from (its media node died) leaves at last.
    replaced = api.ParticipantInfo(identity="agent-AJ_old", kind=api.ParticipantInfo.AGENT)
    participant_left(client, call, "EV_replaced_left", replaced)
    call.refresh_from_db()
    assert (call.status, call.agent_lost_at) == (Call.Status.ACTIVE, None)
    serving = api.ParticipantInfo(identity="agent-AJ_new", kind=api.ParticipantInfo.AGENT)
    participant_left(client, call, "EV_serving_left", serving)
    call.refresh_from_db()
    assert call.status == Call.Status.FAILED and call.agent_lost_at is not None


@pytest.mark.django_db
def test_the_agent_leaving_after_ending_the_call_changes_nothing(client):
    call = Call.objects.create(status=Call.Status.ACTIVE)
    call.mark_ended()
    agent_left(client, call, "EV_left2")
    call.refresh_from_db()
    assert (call.status, call.failure_reason) == (Call.Status.ENDED, "")


@pytest.mark.django_db
def test_the_caller_hanging_up_ends_the_call_and_the_agent_leaving_after_is_no_failure(client):
    call = Call.objects.create(status=Call.Status.ACTIVE, caller="caller-abc123")
    caller = api.ParticipantInfo(identity="caller-abc123", kind=api.ParticipantInfo.STANDARD)
    participant_left(client, call, "EV_caller_left", caller)
    call.refresh_from_db()
    assert (call.status, call.failure_reason) == (Call.Status.ENDED, "")
    agent_left(client, call, "EV_agent_left_after")
    call.refresh_from_db()
    assert (call.status, call.failure_reason) == (Call.Status.ENDED, "")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("caller", "leaving", "kind", "status"),
    [
        ("+15551234567", "sip_+15551234567", api.ParticipantInfo.SIP, Call.Status.ENDED),
        ("caller-abc123", "supervisor-1-ab12", api.ParticipantInfo.STANDARD, Call.Status.ACTIVE),
    ],
    ids=["a phone caller hanging up ends the call", "a listener leaving does not"],
)
def test_only_the_caller_leaving_ends_the_call(client, caller, leaving, kind, status):
    call = Call.objects.create(status=Call.Status.ACTIVE, caller=caller)
    participant = api.ParticipantInfo(identity=leaving, kind=kind)
    participant_left(client, call, f"EV_{leaving}", participant)
    call.refresh_from_db()
    assert call.status == status


@pytest.mark.django_db
def test_the_sweeper_fails_silent_live_calls_only():
    old = timezone.now() - timedelta(hours=1)
    silent = Call.objects.create(status=Call.Status.ACTIVE, started_at=old)
    TranscriptSegment.objects.create(call=silent, sequence=1, speaker="customer", text="Hi")
    TranscriptSegment.objects.filter(call=silent).update(created_at=old)
    talking = Call.objects.create(status=Call.Status.ACTIVE, started_at=old)
    TranscriptSegment.objects.create(
        call=talking, sequence=1, speaker="customer", text="Still here"
    )
    ended = Call.objects.create(status=Call.Status.ENDED, started_at=old)
    out = StringIO()
    call_command("sweep_stale_calls", "--idle-minutes", "15", stdout=out)
    assert "Marked 1 silent calls" in out.getvalue()
    statuses = {c.pk: c.status for c in Call.objects.all()}
    assert statuses == {
        silent.pk: Call.Status.FAILED,
        talking.pk: Call.Status.ACTIVE,
        ended.pk: Call.Status.ENDED,
    }
    assert Call.objects.get(pk=silent.pk).segments.count() == 1


@pytest.mark.django_db
def test_the_sweeper_fails_calls_whose_lost_agent_no_job_took_up_in_time(settings):
    settings.AGENT_RESUME_SECONDS = 20
    now = timezone.now()
    given_up = Call.objects.create(status=Call.Status.ACTIVE)
    given_up.mark_agent_lost(now - timedelta(seconds=21))
    still_coming = Call.objects.create(status=Call.Status.ACTIVE)
    still_coming.mark_agent_lost(now - timedelta(seconds=5))
    out = StringIO()
    call_command("sweep_stale_calls", stdout=out)
    assert "Marked 1 calls whose agent was lost" in out.getvalue()
    given_up.refresh_from_db()
    still_coming.refresh_from_db()
    assert given_up.status == Call.Status.FAILED
    assert "no other worker took the call up within 20 s" in given_up.failure_reason
    assert still_coming.status == Call.Status.ACTIVE


@pytest.mark.django_db
def test_an_agent_is_lost_once_and_back_once():
    call = Call.objects.create(status=Call.Status.ACTIVE)
    assert call.mark_agent_lost() and not call.mark_agent_lost()  # the first loss counts
    lost_at = call.agent_lost_at
    assert call.to_dict()["agent_lost_at"] == lost_at.isoformat()  # the monitor says so
    assert call.mark_agent_back() and call.agent_lost_at is None
    assert not call.mark_agent_back()
    call.mark_ended()
    assert not call.mark_agent_lost()  # an ended call has no agent to lose


@pytest.mark.django_db
def test_the_sweeper_fails_calls_no_agent_answered_in_time():
    long_ago = timezone.now() - timedelta(minutes=5)
    unanswered = Call.objects.create(status=Call.Status.WAITING, started_at=long_ago)
    just_started = Call.objects.create(status=Call.Status.WAITING)
    answered = Call.objects.create(status=Call.Status.ACTIVE, started_at=long_ago)
    out = StringIO()
    call_command("sweep_stale_calls", "--unanswered-minutes", "2", stdout=out)
    assert "Marked 1 unanswered calls" in out.getvalue()
    unanswered.refresh_from_db()
    assert unanswered.status == Call.Status.FAILED
    assert "Never answered" in unanswered.failure_reason
    statuses = {c.pk: c.status for c in Call.objects.exclude(pk=unanswered.pk)}
    assert statuses == {just_started.pk: Call.Status.WAITING, answered.pk: Call.Status.ACTIVE}


@pytest.mark.django_db
def test_a_caller_leaving_before_any_agent_answered_fails_the_call_as_the_sweeper_would(client):
    """One rule for a call that never connected, whoever ends it: webhook or sweeper."""
    left = Call.objects.create(caller="caller-gave-up")
    caller = api.ParticipantInfo(identity="caller-gave-up", kind=api.ParticipantInfo.STANDARD)
    participant_left(client, left, "EV_gave_up", caller)
    swept = Call.objects.create(started_at=timezone.now() - timedelta(minutes=5))
    call_command("sweep_stale_calls", "--unanswered-minutes", "2", stdout=StringIO())
    for call in (left, swept):
        call.refresh_from_db()
        assert (call.status, call.failure_reason) == (Call.Status.FAILED, Call.NEVER_ANSWERED)


@pytest.mark.django_db
def test_the_sweeper_keeps_sweeping_with_every(monkeypatch):
    import callcenter.management.commands.sweep_stale_calls as sweeper

    naps = []

    def nap(seconds):
        naps.append(seconds)
        if len(naps) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(sweeper.time, "sleep", nap)
    out = StringIO()
    with pytest.raises(KeyboardInterrupt):
        call_command("sweep_stale_calls", "--every", "60", stdout=out)
    assert naps == [60, 60]
    assert out.getvalue() == ""  # a sweep with nothing to do says nothing
