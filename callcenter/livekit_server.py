"""The LiveKit server this deployment uses: the one rule for whether it is configured, and the
one factory of its API client (rooms, dispatch, SIP, egress)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from livekit import api

REQUIRED = ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET")


class LiveKitNotConfigured(ImproperlyConfigured):
    """A setting LiveKit needs is missing; the message names which."""


def missing_livekit_settings() -> list[str]:
    """The settings LiveKit needs that are not set, by name."""
    return [name for name in REQUIRED if not getattr(settings, name)]


def livekit_configured() -> bool:
    """Whether voice works here: LiveKit's URL, API key and secret are all set."""
    return not missing_livekit_settings()


def livekit_credentials() -> tuple[str, str]:
    """The API key and secret, or ``LiveKitNotConfigured`` naming what is missing."""
    missing = missing_livekit_settings()
    if missing:
        raise LiveKitNotConfigured(f"LiveKit is not configured: set {', '.join(missing)}.")
    return settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET


def livekit_api() -> api.LiveKitAPI:
    """A client of LiveKit's server API (close it: ``async with`` or ``aclose``)."""
    key, secret = livekit_credentials()
    url = settings.LIVEKIT_URL.replace("ws://", "http://", 1).replace("wss://", "https://", 1)
    return api.LiveKitAPI(url, key, secret)
