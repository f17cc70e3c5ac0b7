"""The live monitor as it was until 2026-12-04, for ``bench.fanout`` to compare in one run:
every word of every call went to the ``calls`` group, so to every supervisor's socket, and
each socket passed it on to its page.

It is today's consumer (the same snapshot, checks and sending) with the one difference: a
segment or event of any call is passed on, open or not. ``publish_to_everyone`` is the old
publisher. Served by daphne as ``bench.one_group_monitor:application``.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.layers import get_channel_layer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from callcenter.live_updates import CALLS_GROUP, UPDATE_TYPE  # noqa: E402
from config.middleware import SameOriginWebsocketValidator  # noqa: E402
from monitoring.consumers import MonitorConsumer  # noqa: E402


class EveryWordMonitor(MonitorConsumer):
    async def live_update(self, envelope) -> None:
        message = envelope["message"]
        if message["kind"] != "call":  # every call counts as open
            self.sent.setdefault(message["call_id"], message["sequence"] - 1)
        await super().live_update(envelope)


async def publish_to_everyone(message) -> None:
    await get_channel_layer().group_send(CALLS_GROUP, {"type": UPDATE_TYPE, "message": message})


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SameOriginWebsocketValidator(
            AuthMiddlewareStack(URLRouter([path("ws/monitor/", EveryWordMonitor.as_asgi())]))
        ),
    }
)
