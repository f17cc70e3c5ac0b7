"""Websocket routes of the monitoring app."""

from django.urls import path  # noqa: F401  (routes are added here as consumers land)

websocket_urlpatterns: list = []
