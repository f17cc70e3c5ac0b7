"""Websocket handshakes: only this site's own origin (scheme, host and port) or a trusted one.

A page on another port or scheme of an allowed host (another app on the same machine, a
sibling subdomain) must not open the monitor socket with a supervisor's cookie."""

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from config.asgi import application
from config.middleware import websocket_origin_allowed


def handshake(origin: str, host: str, scheme: str = "ws", **headers: str) -> dict:
    pairs = [(b"origin", origin.encode()), (b"host", host.encode())]
    pairs += [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
    return {"type": "websocket", "scheme": scheme, "headers": pairs}


@pytest.mark.parametrize(
    ("origin", "host", "scheme", "allowed"),
    [
        ("http://127.0.0.1:8000", "127.0.0.1:8000", "ws", True),
        ("http://127.0.0.1:9999", "127.0.0.1:8000", "ws", False),  # another app on the host
        ("https://127.0.0.1:8000", "127.0.0.1:8000", "ws", False),  # another scheme
        ("http://127.0.0.1", "127.0.0.1:8000", "ws", False),  # another port
        ("https://calls.example.com", "calls.example.com", "wss", True),
        ("http://calls.example.com", "calls.example.com", "wss", False),
        ("https://evil.example.com", "calls.example.com", "wss", False),  # a sibling subdomain
        ("https://evil.example", "calls.example.com", "wss", False),
        ("https://calls.example.com", "evil.example", "wss", False),  # a host not allowed
        ("null", "calls.example.com", "wss", False),
    ],
)
def test_only_the_sites_own_origin_is_allowed(settings, origin, host, scheme, allowed):
    settings.ALLOWED_HOSTS = ["127.0.0.1", ".example.com"]
    settings.CSRF_TRUSTED_ORIGINS = []
    assert websocket_origin_allowed(handshake(origin, host, scheme)) is allowed


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://app.example.com", True),
        ("https://a.partner.example", True),
        ("http://a.partner.example", False),
        ("https://partner.example.evil", False),
    ],
)
def test_csrf_trusted_origins_are_allowed_exactly_or_by_their_wildcard(settings, origin, allowed):
    settings.ALLOWED_HOSTS = ["calls.example.com"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.example.com", "https://*.partner.example"]
    assert websocket_origin_allowed(handshake(origin, "calls.example.com", "wss")) is allowed


def test_behind_a_trusted_tls_proxy_the_https_origin_is_the_sites_own(settings):
    settings.ALLOWED_HOSTS = ["calls.example.com"]
    origin, host = "https://calls.example.com", "calls.example.com"
    forwarded = handshake(origin, host, "ws", x_forwarded_proto="https")
    settings.SECURE_PROXY_SSL_HEADER = None
    assert not websocket_origin_allowed(forwarded)
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert websocket_origin_allowed(forwarded)


@pytest.mark.django_db(transaction=True)
async def test_a_page_on_another_port_cannot_open_the_monitor_with_a_supervisors_cookie(
    client, staff_user
):
    await sync_to_async(client.force_login)(staff_user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()

    async def opens(origin: bytes) -> bool:
        headers = [(b"origin", origin), (b"host", b"127.0.0.1:8000"), (b"cookie", cookie)]
        communicator = WebsocketCommunicator(application, "/ws/monitor/", headers=headers)
        connected, _ = await communicator.connect()
        await communicator.disconnect()
        return connected

    assert not await opens(b"http://127.0.0.1:9999")
    assert await opens(b"http://127.0.0.1:8000")
