"""POST /api/calls/ starts a call with a token that may do only what a caller needs."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.cache import cache
from django.utils import timezone
from livekit.api import TokenVerifier
from rest_framework.test import APIClient

from callcenter.models import Call

LIVEKIT = {
    "LIVEKIT_URL": "wss://voice.example.com",
    "LIVEKIT_API_KEY": "APItestkey",
    "LIVEKIT_API_SECRET": "test-secret-that-is-long-enough-for-hs256-0123456789",
}


@pytest.fixture
def livekit(settings, agent_worker_registered):
    for name, value in LIVEKIT.items():
        setattr(settings, name, value)
    cache.clear()
    yield settings
    cache.clear()


def start_call(client=None, **body):
    client = client or APIClient()
    return client.post("/api/calls/", body, format="json")


@pytest.mark.django_db
def test_call_start_returns_a_token_for_the_new_calls_room_only(livekit):
    response = start_call()
    assert response.status_code == 201, response.content
    answer = response.json()
    call = Call.objects.get(pk=answer["call_id"])
    assert answer["room"] == call.room_name
    assert answer["server_url"] == LIVEKIT["LIVEKIT_URL"]
    assert call.status == Call.Status.WAITING
    assert call.channel == Call.Channel.WEB

    claims = TokenVerifier(LIVEKIT["LIVEKIT_API_KEY"], LIVEKIT["LIVEKIT_API_SECRET"]).verify(
        answer["token"]
    )
    video = claims.video
    assert video.room == call.room_name
    assert video.room_join is True
    assert video.can_publish is True
    assert video.can_publish_sources == ["microphone"]
    assert video.can_subscribe is True
    assert video.can_publish_data is True
    assert not video.hidden
    assert not video.room_admin
    assert not video.room_create
    assert not video.room_record
    assert claims.identity == call.caller


@pytest.mark.django_db
def test_caller_token_lives_minutes_and_dispatches_the_agent_with_the_call_id(livekit):
    import jwt

    answer = start_call().json()
    raw = jwt.decode(answer["token"], options={"verify_signature": False})
    assert timedelta(seconds=raw["exp"] - raw["nbf"]) <= timedelta(minutes=15)
    claims = TokenVerifier(LIVEKIT["LIVEKIT_API_KEY"], LIVEKIT["LIVEKIT_API_SECRET"]).verify(
        answer["token"]
    )
    (dispatch,) = claims.room_config.agents
    assert dispatch.agent_name == livekit.LIVEKIT_AGENT_NAME
    assert json.loads(dispatch.metadata) == {"call_id": answer["call_id"]}


@pytest.mark.django_db
def test_a_client_chosen_room_or_identity_is_refused_and_no_call_is_made(livekit):
    for field in ("room", "identity", "ttl"):
        response = start_call(**{field: "mine"})
        assert response.status_code == 400
        assert "server chooses" in response.json()[field][0]
    assert not Call.objects.exists()


@pytest.mark.django_db
def test_every_call_gets_its_own_room(livekit):
    rooms = {start_call().json()["room"] for _ in range(3)}
    assert len(rooms) == 3


@pytest.mark.django_db
def test_too_many_calls_from_one_client_get_a_readable_429(livekit):
    livekit.CALL_START_RATE = "2/minute"
    assert [start_call().status_code for _ in range(2)] == [201, 201]
    response = start_call()
    assert response.status_code == 429
    assert "Too many calls" in response.json()["detail"]
    assert "Retry-After" in response
    minutes = -(-int(response["Retry-After"]) // 60)
    assert f"Please try again in {minutes} minute" in response.json()["detail"]
    # Another client is not held back by the first one's burst.
    assert start_call(APIClient(REMOTE_ADDR="10.0.0.2")).status_code == 201
    assert Call.objects.count() == 3


@pytest.mark.django_db
def test_calls_that_never_reached_an_agent_do_not_count_and_the_wait_is_said_once(livekit):
    from django.core.management import call_command

    livekit.CALL_START_RATE = "3/hour"
    assert [start_call().status_code for _ in range(3)] == [201, 201, 201]
    refused = start_call()
    assert refused.status_code == 429
    detail = refused.json()["detail"]
    assert detail.startswith("Too many calls from this connection. Please try again in ")
    assert "Expected available" not in detail and "seconds" not in detail
    # The page could not reach the voice server: nobody answered, and the sweeper fails them.
    Call.objects.update(started_at=timezone.now() - timedelta(minutes=10))
    call_command("sweep_stale_calls", "--unanswered-minutes", "2", stdout=StringIO())
    assert set(Call.objects.values_list("failure_reason", flat=True)) == {Call.NEVER_ANSWERED}
    assert [start_call().status_code for _ in range(3)] == [201, 201, 201]
    assert start_call().status_code == 429


@pytest.mark.django_db
def test_failed_starts_do_not_count_against_the_callers_limit(livekit):
    livekit.CALL_START_RATE = "2/minute"
    livekit.MAX_WAITING_CALLS = 0  # every start fails: the lines are busy
    assert [start_call().status_code for _ in range(4)] == [503] * 4
    livekit.MAX_WAITING_CALLS = 50
    assert [start_call().status_code for _ in range(3)] == [201, 201, 429]


@pytest.mark.django_db
def test_ipv6_callers_are_counted_per_64_network(livekit):
    livekit.CALL_START_RATE = "2/minute"
    same_subscriber = ["2001:db8:5:6::1", "2001:db8:5:6::2", "2001:db8:5:6:ffff::3"]
    answers = [start_call(APIClient(REMOTE_ADDR=a)).status_code for a in same_subscriber]
    assert answers == [201, 201, 429]
    assert start_call(APIClient(REMOTE_ADDR="2001:db8:5:7::1")).status_code == 201


@pytest.mark.django_db
def test_when_too_many_calls_wait_for_the_agent_new_ones_hear_the_lines_are_busy(livekit):
    livekit.MAX_WAITING_CALLS = 2
    addresses = ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
    answers = [start_call(APIClient(REMOTE_ADDR=a)) for a in addresses]
    assert [a.status_code for a in answers] == [201, 201, 503]
    assert "lines are busy" in answers[2].json()["detail"]
    # Calls nobody answered in time stop counting (and the sweeper fails them).
    Call.objects.update(started_at=timezone.now() - timedelta(minutes=10))
    assert start_call(APIClient(REMOTE_ADDR="192.0.2.4")).status_code == 201


@pytest.mark.django_db
def test_without_livekit_settings_the_answer_is_503_in_words(settings):
    settings.LIVEKIT_URL = ""
    cache.clear()
    response = start_call()
    assert response.status_code == 503
    assert "not available" in response.json()["detail"]
    assert not Call.objects.exists()


@pytest.mark.django_db
def test_call_start_needs_the_csrf_token_the_page_sets(livekit):
    client = APIClient(enforce_csrf_checks=True)
    refused = client.post("/api/calls/", {}, format="json")
    assert refused.status_code == 403
    page = client.get("/")
    token = page.cookies["csrftoken"].value
    accepted = client.post("/api/calls/", {}, format="json", HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 201


@pytest.mark.django_db
def test_listing_calls_is_not_for_callers(livekit):
    assert APIClient().get("/api/calls/").status_code in (403, 405)


@pytest.mark.django_db
def test_phone_callers_count_by_number_and_withheld_numbers_never(settings):
    from callcenter.call_limits import phone_caller_over_limit

    settings.CALL_START_RATE = "2/hour"

    def phone_call(caller: str, **fields) -> Call:
        return Call.objects.create(channel=Call.Channel.PHONE, caller=caller, **fields)

    phone_call("+4915112345678")
    phone_call("+4915112345678", callback_of=phone_call("+4915199999999"))  # ours: not theirs
    assert not phone_caller_over_limit(phone_call("+4915112345678"))
    assert phone_caller_over_limit(phone_call("+4915112345678"))
    for _ in range(3):
        withheld = phone_call("unknown")
    assert not phone_caller_over_limit(withheld)


@pytest.mark.django_db
def test_browsers_are_sent_to_the_public_livekit_url_and_the_page_may_reach_it(livekit, client):
    """With several hosts the web app talks to a media node privately (LIVEKIT_URL) while
    callers come through the edge (LIVEKIT_PUBLIC_URL)."""
    livekit.LIVEKIT_URL = "ws://media1:7880"
    livekit.LIVEKIT_PUBLIC_URL = "wss://livekit.example.com"
    assert start_call().json()["server_url"] == "wss://livekit.example.com"
    policy = client.get("/").headers["Content-Security-Policy"]
    assert "wss://livekit.example.com" in policy and "media1" not in policy
