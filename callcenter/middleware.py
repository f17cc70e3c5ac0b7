"""Content-Security-Policy additions that depend on settings read at request time."""

from urllib.parse import urlsplit

from django.conf import settings

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
        livekit = origins_of(settings.LIVEKIT_URL) if settings.LIVEKIT_URL else []
        if livekit:
            update["connect-src"] = livekit
        if settings.S3_BUCKET:
            update["media-src"] = origins_of(settings.S3_ENDPOINT_URL)[:1] or [
                "https://*.amazonaws.com"
            ]
        if update:
            response._csp_update = {**getattr(response, "_csp_update", {}), **update}
        return response
