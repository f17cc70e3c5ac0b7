"""/livekit/webhook/: signed by LiveKit or refused; keeps calls and recordings true; idempotent."""

import base64
import hashlib

import pytest
from django.core.cache import cache
from google.protobuf.json_format import MessageToJson
from livekit import api

from callcenter.models import Call
from recordings.models import Recording

KEY, SECRET = "APIhook", "webhook-secret-0123456789-0123456789-01"


@pytest.fixture(autouse=True)
def livekit(settings):
    settings.LIVEKIT_URL = "ws://127.0.0.1:7880"
    settings.LIVEKIT_API_KEY = KEY
    settings.LIVEKIT_API_SECRET = SECRET
    cache.clear()


def signed(body: str, secret: str = SECRET) -> str:
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    return api.AccessToken(KEY, secret).with_sha256(digest).to_jwt()


def post(client, event: api.WebhookEvent | str, *, auth: str | None = None):
    body = event if isinstance(event, str) else MessageToJson(event)
    return client.post(
        "/livekit/webhook/",
        body,
        content_type="application/webhook+json",
        HTTP_AUTHORIZATION=signed(body) if auth is None else auth,
    )


def room_event(kind: str, call: Call, event_id: str, **fields) -> api.WebhookEvent:
    return api.WebhookEvent(event=kind, id=event_id, room=api.Room(name=call.room_name), **fields)


@pytest.mark.django_db
def test_room_finished_ends_the_call_once_even_when_retried(client):
    call = Call.objects.create(status=Call.Status.ACTIVE)
    event = room_event("room_finished", call, "EV_finish")
    assert post(client, event).status_code == 200
    call.refresh_from_db()
    ended_at = call.ended_at
    assert call.status == Call.Status.ENDED and ended_at
    again = post(client, event)
    assert again.json()["status"] == "already handled"
    call.refresh_from_db()
    assert call.ended_at == ended_at


@pytest.mark.django_db
def test_the_agent_joining_marks_the_call_answered(client):
    call = Call.objects.create()
    agent = api.ParticipantInfo(identity="agent-1", kind=api.ParticipantInfo.AGENT)
    caller = api.ParticipantInfo(identity="caller-1", kind=api.ParticipantInfo.STANDARD)
    post(client, room_event("participant_joined", call, "EV_c", participant=caller))
    call.refresh_from_db()
    assert call.status == Call.Status.WAITING
    post(client, room_event("participant_joined", call, "EV_a", participant=agent))
    call.refresh_from_db()
    assert call.status == Call.Status.ACTIVE and call.answered_at


@pytest.mark.django_db
@pytest.mark.parametrize("origin", [Call.Origin.CALLBACK, Call.Origin.CAMPAIGN])
def test_a_call_the_desk_placed_is_answered_by_the_customer_not_by_the_agent(client, origin):
    """The job records the pick-up (or busy, no answer): neither its agent joining nor the
    customer's phone leaving unanswered ends or answers the call."""
    call = Call.objects.create(channel=Call.Channel.PHONE, caller="+12125550111", origin=origin)
    agent = api.ParticipantInfo(identity="agent-1", kind=api.ParticipantInfo.AGENT)
    phone = api.ParticipantInfo(identity="customer", kind=api.ParticipantInfo.SIP)
    post(client, room_event("participant_joined", call, "EV_a", participant=agent))
    post(client, room_event("participant_left", call, "EV_p", participant=phone))
    call.refresh_from_db()
    assert (call.status, call.answered_at) == (Call.Status.WAITING, None)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "auth",
    ["", "not-a-jwt", "wrong-secret"],
)
def test_unsigned_or_wrongly_signed_bodies_are_refused(client, auth):
    call = Call.objects.create(status=Call.Status.ACTIVE)
    body = MessageToJson(room_event("room_finished", call, "EV_bad"))
    if auth == "wrong-secret":
        auth = signed(body, secret="another-secret-0123456789-0123456789-0")
    response = post(client, body, auth=auth)
    assert response.status_code == 401
    call.refresh_from_db()
    assert call.status == Call.Status.ACTIVE


@pytest.mark.django_db
def test_a_body_changed_after_signing_is_refused(client):
    call = Call.objects.create(status=Call.Status.ACTIVE)
    body = MessageToJson(room_event("room_finished", call, "EV_x"))
    response = post(client, body.replace("EV_x", "EV_y"), auth=signed(body))
    assert response.status_code == 401


@pytest.mark.django_db
def test_a_signed_body_that_is_not_an_event_is_a_400(client):
    assert post(client, "{not json").status_code == 400
    assert post(client, "x" * (300 * 1024)).status_code == 413


@pytest.mark.django_db
def test_egress_ended_marks_the_recording_ready_with_size_and_duration(client):
    call = Call.objects.create(status=Call.Status.ENDED)
    recording = Recording.objects.create(call=call, source="egress", egress_id="EG_1", format="ogg")
    info = api.EgressInfo(
        egress_id="EG_1",
        status=api.EgressStatus.EGRESS_COMPLETE,
        file_results=[
            api.FileInfo(filename="recordings/call.ogg", size=48_000, duration=12_500_000_000)
        ],
    )
    post(client, api.WebhookEvent(event="egress_ended", id="EV_eg", egress_info=info))
    recording.refresh_from_db()
    assert recording.status == Recording.Status.READY
    assert (recording.size_bytes, recording.duration_seconds) == (48_000, 12.5)
    assert recording.file.name == "recordings/call.ogg"


@pytest.mark.django_db
def test_a_failed_egress_keeps_its_reason_and_a_late_report_does_not_undo_it(client):
    call = Call.objects.create(status=Call.Status.ENDED)
    recording = Recording.objects.create(call=call, source="egress", egress_id="EG_2")
    failed = api.EgressInfo(
        egress_id="EG_2", status=api.EgressStatus.EGRESS_FAILED, error="S3 upload denied"
    )
    post(client, api.WebhookEvent(event="egress_ended", id="EV_f", egress_info=failed))
    late = api.EgressInfo(egress_id="EG_2", status=api.EgressStatus.EGRESS_COMPLETE)
    post(client, api.WebhookEvent(event="egress_updated", id="EV_l", egress_info=late))
    recording.refresh_from_db()
    assert (recording.status, recording.error) == (Recording.Status.FAILED, "S3 upload denied")


@pytest.mark.django_db
def test_webhooks_accept_only_post(client):
    assert client.get("/livekit/webhook/").status_code == 405
