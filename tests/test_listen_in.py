"""POST /api/calls/<id>/listen/: a hidden, subscribe-only, short token for supervisors only."""

import pytest
from django.contrib.auth.models import Permission
from livekit.api import TokenVerifier
from rest_framework.test import APIClient

from callcenter.models import Call

KEY, SECRET = "APIlisten", "listen-secret-0123456789-0123456789-0123"


@pytest.fixture
def livekit(settings):
    settings.LIVEKIT_URL = "wss://voice.example.com"
    settings.LIVEKIT_API_KEY = KEY
    settings.LIVEKIT_API_SECRET = SECRET
    return settings


def listen(user, call_id):
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client.post(f"/api/calls/{call_id}/listen/")


@pytest.mark.django_db
def test_listen_in_token_is_hidden_and_cannot_publish(livekit, staff_user):
    call = Call.objects.create(status=Call.Status.ACTIVE)
    response = listen(staff_user, call.pk)
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["room"] == call.room_name
    assert answer["server_url"] == "wss://voice.example.com"
    claims = TokenVerifier(KEY, SECRET).verify(answer["token"])
    video = claims.video
    assert (video.room, video.room_join, video.hidden) == (call.room_name, True, True)
    assert video.can_subscribe is True
    assert video.can_publish is False
    assert video.can_publish_data is False
    assert not claims.room_config
    import jwt

    raw = jwt.decode(answer["token"], options={"verify_signature": False})
    assert raw["exp"] - raw["nbf"] <= 5 * 60


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "status"),
    [("anonymous", 403), ("customer", 403), ("staff_without_permission", 403), ("supervisor", 200)],
)
def test_only_supervisors_may_listen_in(livekit, django_user_model, who, status):
    call = Call.objects.create(status=Call.Status.ACTIVE)
    user = None
    if who != "anonymous":
        user = django_user_model.objects.create_user(who, is_staff=who != "customer")
        if who == "supervisor":
            user.user_permissions.add(Permission.objects.get(codename="monitor_calls"))
    assert listen(user, call.pk).status_code == status


@pytest.mark.django_db
def test_listening_to_an_ended_or_unknown_call_is_refused_readably(livekit, staff_user):
    ended = Call.objects.create(status=Call.Status.ENDED)
    response = listen(staff_user, ended.pk)
    assert response.status_code == 409
    assert "ended" in response.json()["detail"]
    assert listen(staff_user, "0b6a3c6e-9c9e-4a43-9d0a-2d3f0f4f2a11").status_code == 404


@pytest.mark.django_db
def test_listen_in_without_livekit_settings_is_a_readable_503(settings, staff_user):
    settings.LIVEKIT_URL = ""
    call = Call.objects.create(status=Call.Status.ACTIVE)
    response = listen(staff_user, call.pk)
    assert response.status_code == 503
    assert "not available" in response.json()["detail"]
