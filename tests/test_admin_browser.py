"""The vehicle form in the admin, in Chromium: the VIN is decoded as it is typed."""

import pytest
from django.test import Client
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_typing_a_vin_shows_what_it_says_and_flags_a_contradicting_make(
    page, live_server, superuser
):
    client = Client()
    client.force_login(superuser)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    page.goto(live_server.url + "/admin/vehicles/vehicle/add/")
    decoded = page.locator("#vin-decoded")
    page.get_by_label("VIN").press_sequentially("1HGCM8263")
    expect(decoded).to_have_text("9 of 17 characters typed.")
    page.get_by_label("VIN").press_sequentially("3A004352")
    expect(decoded).to_contain_text("The VIN says: 2003 Honda (United States).")
    page.get_by_label("Make").fill("Toyota")
    expect(decoded.locator(".vin-warning")).to_have_text(
        "The VIN says the maker is Honda, not Toyota."
    )
    page.get_by_label("Make").fill("Honda")
    expect(decoded.locator(".vin-warning")).to_have_count(0)
    assert page.console_errors == []


def test_a_refused_vin_is_said_once_and_the_page_names_the_stored_vehicle(
    page, live_server, superuser
):
    from vehicles.models import Vehicle

    stored = Vehicle.objects.create(
        vin="1HGCM82633A004352", make="Honda", model="Accord", year=2003
    )
    client = Client()
    client.force_login(superuser)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    page.goto(f"{live_server.url}/admin/vehicles/vehicle/{stored.pk}/change/")
    page.get_by_label("VIN").fill("1HGCM82633AOO4352")
    page.get_by_role("button", name="Save", exact=True).click()
    errors = page.locator(".errorlist")
    expect(errors).to_contain_text("never contains the letter O")
    page.wait_for_timeout(800)  # the hint's debounce and request, had it asked
    assert page.get_by_text("never contains the letter O").count() == 1
    assert "AOO4352" not in page.locator(".breadcrumbs").inner_text()
    headings = " ".join(page.locator("#content h1, #content h2").all_inner_texts())
    assert "AOO4352" not in headings and "004352" in headings
    assert page.console_errors == []
