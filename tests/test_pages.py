"""The public pages answer."""

import pytest


@pytest.mark.django_db
def test_healthz_answers_when_the_database_does(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_call_page_renders_for_anyone(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b"Call" in response.content
