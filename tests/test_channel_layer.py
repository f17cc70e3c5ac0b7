"""Messages sent to the live-monitor groups reach every member, across processes via Redis."""

import pytest
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings

from callcenter.live_updates import CALLS_GROUP
from callcenter.supervision import command_group


def test_group_names_are_valid_channel_layer_groups():
    name = command_group("0b6a3c6e-9c9e-4a43-9d0a-2d3f0f4f2a11")
    assert name == "control.0b6a3c6e-9c9e-4a43-9d0a-2d3f0f4f2a11"
    layer = InMemoryChannelLayer()  # Channels' naming rules (the pub/sub layer checks none)
    assert layer.require_valid_group_name(name)
    assert layer.require_valid_group_name(CALLS_GROUP)


def test_a_call_command_group_refuses_a_value_that_is_not_a_uuid():
    with pytest.raises(ValueError):
        command_group("../../etc")


@pytest.mark.redis
async def test_group_round_trip_over_redis():
    assert settings.CHANNEL_LAYERS["default"]["BACKEND"].startswith("channels_redis")
    layer = get_channel_layer()
    first, second = await layer.new_channel(), await layer.new_channel()
    await layer.group_add(CALLS_GROUP, first)
    await layer.group_add(CALLS_GROUP, second)
    try:
        await layer.group_send(CALLS_GROUP, {"type": "call.update", "sequence": 7})
        assert (await layer.receive(first))["sequence"] == 7
        assert (await layer.receive(second))["sequence"] == 7
    finally:
        await layer.group_discard(CALLS_GROUP, first)
        await layer.group_discard(CALLS_GROUP, second)
