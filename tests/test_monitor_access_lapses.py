"""An open monitor socket lasts only as long as the supervisor's right to it: after a logout,
a deactivation, a lost permission or a password change it is closed (4403), and nothing it
sends is acted on."""

from importlib import import_module

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import Permission

from callcenter.models import Call
from monitoring.consumers import REFUSED, MonitorConsumer
from tests.support.monitor_socket import logged_in

pytestmark = pytest.mark.django_db(transaction=True)


def log_out(user, session):
    import_module(settings.SESSION_ENGINE).SessionStore(session.session_key).delete()


def deactivate(user, session):
    user.is_active = False
    user.save()


def remove_permission(user, session):
    user.user_permissions.remove(Permission.objects.get(codename="monitor_calls"))


def change_password(user, session):
    user.set_password("a brand new password 42")
    user.save()


LAPSES = [log_out, deactivate, remove_permission, change_password]


async def open_socket(user) -> WebsocketCommunicator:
    communicator = await logged_in(WebsocketCommunicator(MonitorConsumer.as_asgi(), "/"), user)
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_json_from())["kind"] == "snapshot"
    return communicator


@pytest.mark.parametrize("lapse", LAPSES, ids=lambda f: f.__name__)
async def test_a_control_action_after_the_right_lapsed_closes_the_socket_and_does_nothing(
    staff_user, lapse
):
    call = await Call.objects.acreate(status=Call.Status.ACTIVE)
    socket = await open_socket(staff_user)
    await sync_to_async(lapse)(staff_user, socket.scope["session"])

    await socket.send_json_to({"type": "take_over", "call_id": str(call.pk)})
    closed = await socket.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": REFUSED}
    await call.arefresh_from_db()
    assert call.controller_id is None


@pytest.mark.parametrize("lapse", LAPSES, ids=lambda f: f.__name__)
async def test_a_silent_socket_is_closed_when_the_right_lapses(staff_user, lapse, monkeypatch):
    monkeypatch.setattr(MonitorConsumer, "ACCESS_RECHECK_SECONDS", 0.2)
    socket = await open_socket(staff_user)
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from() == {"kind": "pong"}  # still a supervisor

    await sync_to_async(lapse)(staff_user, socket.scope["session"])
    closed = await socket.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": REFUSED}
