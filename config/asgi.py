"""ASGI entry point: Django for HTTP, Channels for the supervisors' websockets."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Django must be set up before anything imports models (the consumers do).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from config.middleware import SameOriginWebsocketValidator  # noqa: E402
from desk.sockets import websocket_urlpatterns as desk_sockets  # noqa: E402
from monitoring.routing import websocket_urlpatterns as monitor_sockets  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SameOriginWebsocketValidator(
            AuthMiddlewareStack(URLRouter([*monitor_sockets, *desk_sockets]))
        ),
    }
)
