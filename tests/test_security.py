"""Security by default: headers, CSP with the LiveKit origin, no secrets in logs or rows."""

import logging

import pytest
from django.core.cache import cache
from playwright.sync_api import expect
from rest_framework.test import APIClient

from callcenter.models import Call

SECRET = "security-secret-0123456789-0123456789-0123"


@pytest.fixture
def livekit(settings, agent_worker_registered):
    settings.LIVEKIT_URL = "wss://voice.example.com"
    settings.LIVEKIT_API_KEY = "APIsecurity"
    settings.LIVEKIT_API_SECRET = SECRET
    cache.clear()
    return settings


@pytest.mark.django_db
def test_pages_carry_a_strict_csp_that_allows_only_the_livekit_server(client, livekit):
    response = client.get("/")
    policy = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["script-src"] == "'self'"
    assert directives["connect-src"] == "'self' wss://voice.example.com https://voice.example.com"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


@pytest.mark.django_db
def test_recordings_on_s3_may_be_played_from_the_bucket_origin(client, livekit):
    livekit.S3_BUCKET = "recordings"
    livekit.S3_ENDPOINT_URL = "https://minio.example.com:9000"
    policy = client.get("/").headers["Content-Security-Policy"]
    assert "media-src 'self' blob: https://minio.example.com:9000" in policy


@pytest.mark.django_db
def test_livekit_tokens_and_secrets_are_never_logged_or_stored(livekit, caplog):
    caplog.set_level(logging.DEBUG)
    answer = APIClient().post("/api/calls/", {}, format="json").json()
    token = answer["token"]
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert token not in logged
    assert SECRET not in logged
    stored = Call.objects.filter(pk=answer["call_id"]).values().get()
    assert all(token not in str(value) for value in stored.values())


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/admin/", "/admin/vehicles/vehicle/add/", "/api/docs/"])
def test_staff_pages_run_under_the_csp_without_violations(page, live_server, superuser, path):
    from django.test import Client

    client = Client()
    client.force_login(superuser)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    page.goto(live_server.url + path)
    page.wait_for_load_state("networkidle")
    expect(page.locator("body")).to_be_visible()
    assert page.console_errors == []
