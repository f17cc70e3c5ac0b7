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


@pytest.mark.django_db
def test_one_product_name_on_the_pages_the_admin_and_the_api_docs(staff_client, settings):
    name = settings.SERVICE_DESK_NAME
    page = staff_client.get("/").content.decode()
    assert f'<a class="brand" href="/">{name}</a>' in page and f"· {name}</title>" in page
    assert (
        f'<div id="site-name"><a href="/admin/">{name}</a></div>'
        in staff_client.get("/admin/").content.decode()
    )
    schema = staff_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert schema["info"]["title"] == f"{name} API"


@pytest.mark.django_db
def test_the_sites_nav_marks_the_current_page(staff_client):
    for path, current in (("/monitor/", "Monitor"), ("/history/", "History"),
                          ("/dashboard/", "Dashboard")):  # fmt: skip
        page = staff_client.get(path).content.decode()
        marked = [part for part in page.split("<a ") if 'aria-current="page"' in part]
        assert len(marked) == 1 and f">{current}</a>" in marked[0], path


def test_the_call_page_says_the_assistant_books_appointments(client):
    assert "book, move or cancel a service appointment" in client.get("/").content.decode()
