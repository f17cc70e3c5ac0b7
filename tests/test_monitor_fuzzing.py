"""Whatever a client sends the monitor socket, it answers (error frame or result) and stays open."""

import json

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Permission
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitoring.consumers import MonitorConsumer
from tests.support.monitor_socket import logged_in

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)
messages = json_values | st.fixed_dictionaries(
    {"type": st.sampled_from(["resume", "ping", "subscribe", ""]), "last": json_values}
)


@pytest.fixture
def supervisor(django_user_model):
    user = django_user_model.objects.create_user("fuzz", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="monitor_calls"))
    return user


async def exchange(user, frame: str) -> tuple[dict, dict]:
    communicator = WebsocketCommunicator(MonitorConsumer.as_asgi(), "/ws/monitor/")
    await logged_in(communicator, user)
    connected, _ = await communicator.connect()
    assert connected
    await communicator.receive_json_from()  # snapshot
    await communicator.send_to(text_data=frame)
    answer = await communicator.receive_json_from()
    await communicator.send_json_to({"type": "ping"})
    pong = await communicator.receive_json_from()
    await communicator.disconnect()
    return answer, pong


@pytest.mark.django_db(transaction=True)
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(message=messages)
def test_any_json_message_gets_an_answer_and_the_socket_stays_open(supervisor, message):
    answer, pong = async_to_sync(exchange)(supervisor, json.dumps(message))
    assert answer["kind"] in {"error", "pong", "resumed"}
    assert pong == {"kind": "pong"}


@pytest.mark.django_db(transaction=True)
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(frame=st.text(min_size=1, max_size=200))
def test_any_text_frame_gets_an_answer_and_the_socket_stays_open(supervisor, frame):
    answer, pong = async_to_sync(exchange)(supervisor, frame)
    assert answer["kind"] in {"error", "pong", "resumed"}
    assert pong == {"kind": "pong"}
