"""Redis away: pages, the API and webhooks keep working, the monitor says it is degraded,
no transcript is lost, and everything recovers by itself when Redis returns."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Permission
from django.test import Client

from agentworker.writer import CallWriter
from callcenter.models import Call, TranscriptSegment
from callcenter.supervision import SupervisorCommand, send_command
from monitoring.consumers import LAYER_DOWN, REFUSED, TRY_AGAIN_LATER, MonitorConsumer
from tests.support.monitor_socket import logged_in
from tests.support.redis_server import RedisServer
from tests.test_supervisor_control import GUIDANCE, running_call

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture(
    params=[
        "channels_redis.pubsub.RedisPubSubChannelLayer",
        "channels_redis.core.RedisChannelLayer",
    ],
    ids=["pubsub", "core"],
)
def private_redis(settings, request, agent_worker_registered):
    server = RedisServer()
    server.start()
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": request.param,
            "CONFIG": {"hosts": [server.url], "prefix": "outage-test"},
        }
    }
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": server.url,
        }
    }
    settings.LIVEKIT_URL = "wss://voice.example.com"
    settings.LIVEKIT_API_KEY = "APIoutage"
    settings.LIVEKIT_API_SECRET = "outage-secret-0123456789-0123456789-0123"
    yield server
    server.stop()


def supervisor(django_user_model):
    user = django_user_model.objects.create_user("sup", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="monitor_calls"))
    return user


async def test_the_product_keeps_working_while_redis_is_down_and_recovers(
    private_redis, django_user_model
):
    user = await sync_to_async(supervisor)(django_user_model)
    private_redis.stop()

    def web_requests():
        client = Client()
        assert client.get("/").status_code == 200
        started = client.post("/api/calls/", {}, content_type="application/json")
        assert started.status_code == 201, started.content
        client.force_login(user)
        assert client.get("/monitor/").status_code == 200
        assert client.get("/api/calls/").status_code == 200
        return started.json()["call_id"]

    call_id = await sync_to_async(web_requests)()

    # The worker's writes are stored even though they cannot be published.
    writer = await CallWriter.open(call_id)
    writer.segment("customer", "Hello, is anyone there?")
    await writer.close()
    assert await TranscriptSegment.objects.filter(call_id=call_id).acount() == 1

    # The monitor says it is degraded and closes with "try again later".
    communicator = WebsocketCommunicator(MonitorConsumer.as_asgi(), "/ws/monitor/")
    await logged_in(communicator, user)
    connected, _ = await communicator.connect()
    assert connected
    assert await communicator.receive_json_from() == {"kind": "error", "error": LAYER_DOWN}
    assert (await communicator.receive_output())["code"] == TRY_AGAIN_LATER
    # ... and still tells nothing to someone who is not a supervisor.
    stranger = WebsocketCommunicator(MonitorConsumer.as_asgi(), "/ws/monitor/")
    await logged_in(stranger, await django_user_model.objects.acreate(username="stranger"))
    assert await stranger.connect() == (False, REFUSED)

    # Redis is back: the next connection (the page reopening its call) gets the snapshot
    # with what was said meanwhile.
    private_redis.start()
    again = WebsocketCommunicator(MonitorConsumer.as_asgi(), f"/ws/monitor/?resume={call_id}:0")
    await logged_in(again, user)
    connected, _ = await again.connect()
    assert connected
    snapshot = await again.receive_json_from(timeout=5)
    assert snapshot["kind"] == "snapshot"
    assert [i["text"] for i in snapshot["items"]] == ["Hello, is anyone there?"]
    await again.disconnect()
    call = await Call.objects.aget(pk=call_id)
    assert call.is_live


async def test_the_agent_hears_supervisor_commands_once_redis_is_back(private_redis):
    """The job's control listener keeps retrying through the outage, then subscribes."""
    private_redis.stop()
    async with running_call([], lease_check_seconds=0.1) as (call, session, _s, _w, _c):
        await asyncio.sleep(0.5)  # a few failed attempts to subscribe
        private_redis.start()
        for _ in range(50):  # the listener's next attempt joins the control group
            await send_command(call.pk, SupervisorCommand("whisper", "sup", GUIDANCE))
            await asyncio.sleep(0.1)
            if any(GUIDANCE in (item.text_content or "") for item in _notes(session)):
                break
        assert any(GUIDANCE in (item.text_content or "") for item in _notes(session))


def _notes(session):
    return [i for i in session.current_agent.chat_ctx.items if getattr(i, "role", "") == "system"]
