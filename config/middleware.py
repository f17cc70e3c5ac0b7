"""The project's middleware: Content-Security-Policy additions that depend on settings read
at request time, and the exact-origin check of websocket handshakes."""

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

from callcenter.livekit_tokens import public_url

SCHEME_PAIRS = {"wss": "https", "ws": "http", "https": "wss", "http": "ws"}


def origins_of(url: str) -> list[str]:
    """``wss://lk.example.com/x`` -> ``["wss://lk.example.com", "https://lk.example.com"]``."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return []
    return [f"{scheme}://{parts.netloc}" for scheme in (parts.scheme, SCHEME_PAIRS[parts.scheme])]


class LiveKitCSPMiddleware:
    """Lets pages reach the LiveKit server (signalling over WebSocket, validation over HTTP)
    and play recordings from the S3 endpoint. Sits after django-csp's middleware in
    MIDDLEWARE, so django-csp adds these sources when it writes the header."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        update = {}
        livekit = origins_of(public_url()) if public_url() else []
        if livekit:
            update["connect-src"] = livekit
        if settings.S3_BUCKET:
            update["media-src"] = origins_of(settings.S3_ENDPOINT_URL)[:1] or [
                "https://*.amazonaws.com"
            ]
        if update:
            response._csp_update = {**getattr(response, "_csp_update", {}), **update}
        return response


def websocket_origin_allowed(scope: dict) -> bool:
    """Whether a websocket handshake comes from this site's own origin or a trusted one.

    The whole origin counts (scheme, host and port), as in Django's CSRF check: the page's
    origin must equal this request's own (``https`` when the socket is secure, the Host header
    allowed by ALLOWED_HOSTS) or stand in CSRF_TRUSTED_ORIGINS (``https://*.example.com``
    allowing subdomains). A page of another port or scheme of the same host is refused.
    """
    headers = {name.lower(): value.decode("latin-1") for name, value in scope.get("headers", [])}
    origin, host = headers.get(b"origin"), headers.get(b"host")
    if not origin or not host:
        return False
    domain, _port = split_domain_port(host)
    allowed_hosts = settings.ALLOWED_HOSTS or (
        [".localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else []
    )
    if not domain or not validate_host(domain, allowed_hosts):
        return False
    if origin == f"{'https' if websocket_is_secure(scope, headers) else 'http'}://{host}":
        return True
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    try:
        parsed = urlsplit(origin)
    except ValueError:
        return False
    return any(
        is_same_domain(parsed.netloc, trusted_netloc.removeprefix("*"))
        for trusted in settings.CSRF_TRUSTED_ORIGINS
        if "*" in trusted
        for trusted_scheme, _, trusted_netloc in [trusted.partition("://")]
        if trusted_scheme == parsed.scheme
    )


def websocket_is_secure(scope: dict, headers: dict[bytes, str]) -> bool:
    """``wss``, or ``https`` said by the TLS-terminating proxy that SECURE_PROXY_SSL_HEADER
    trusts (TRUST_X_FORWARDED_PROTO)."""
    if scope.get("scheme") in ("wss", "https"):
        return True
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if not proxy_header:
        return False
    name, secure_value = proxy_header
    header = name.removeprefix("HTTP_").replace("_", "-").lower().encode()
    return headers.get(header, "").split(",")[0].strip() == secure_value


class SameOriginWebsocketValidator:
    """ASGI middleware: websocket handshakes from any other origin are denied (403)."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not websocket_origin_allowed(scope):
            denier = WebsocketDenier()
            return await denier(scope, receive, send)
        return await self.application(scope, receive, send)
