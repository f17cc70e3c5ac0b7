"""The call page in Chromium: what a caller sees when things go wrong, and keyboard use."""

import socket

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from callcenter.models import Call

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def voice_settings(settings, frontend_bundles, agent_worker_registered):
    settings.LIVEKIT_URL = f"ws://127.0.0.1:{closed_port()}"
    settings.LIVEKIT_API_KEY = "APIbrowser"
    settings.LIVEKIT_API_SECRET = "browser-test-secret-0123456789-0123456789"
    cache.clear()
    return settings


CONTACT = "Or call us on 555 0100 (Mon-Fri 8:00-17:00)."


@pytest.fixture
def contact_settings(voice_settings):
    voice_settings.SERVICE_DESK_PHONE = "555 0100"
    voice_settings.SERVICE_DESK_HOURS = "Mon-Fri 8:00-17:00"
    return voice_settings


def test_an_unreachable_voice_server_is_our_fault_not_the_callers_internet(
    page, live_server, contact_settings
):
    page.goto(live_server.url + "/")
    call_button = page.get_by_role("button", name="Call", exact=True)
    expect(call_button).to_be_enabled()
    with page.expect_response("**/api/calls/") as started:
        call_button.click()
    assert started.value.status == 201  # the page fetched a token before trying the server
    # While it tries, it says what it waits for and for how long at most.
    expect(page.get_by_role("status")).to_contain_text(
        "Connecting to the voice server (at most 15 seconds)"
    )
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Our voice line is not answering right now", timeout=20000)
    expect(alert).to_contain_text(CONTACT)
    expect(alert).not_to_contain_text("internet")
    retry = page.get_by_role("button", name="Try again")
    expect(retry).to_be_focused()
    # The call was started on the server before the voice server was tried.
    assert Call.objects.count() == 1


def test_a_caller_who_is_offline_is_told_to_check_their_connection(
    page, live_server, contact_settings
):
    page.goto(live_server.url + "/")
    expect(page.get_by_role("button", name="Call", exact=True)).to_be_enabled()
    page.context.set_offline(True)
    try:
        page.get_by_role("button", name="Call", exact=True).click()
        expect(page.get_by_role("alert")).to_contain_text("Your device seems to be offline")
    finally:
        page.context.set_offline(False)
    assert not Call.objects.exists()


def test_busy_lines_say_so_with_the_desks_phone_number_and_cost_no_attempt(
    page, live_server, contact_settings
):
    contact_settings.MAX_WAITING_CALLS = 0
    contact_settings.CALL_START_RATE = "1/hour"
    page.goto(live_server.url + "/")
    for _attempt in range(2):  # the failed start did not use up the one call allowed
        page.get_by_role("button", name="Call", exact=True).or_(
            page.get_by_role("button", name="Try again")
        ).click()
        alert = page.get_by_role("alert")
        expect(alert).to_contain_text("Our lines are busy right now")
        expect(alert).to_contain_text(CONTACT)
        expect(alert).not_to_contain_text("Too many calls")
    assert not Call.objects.exists()


def test_a_throttled_caller_reads_why(page, live_server, voice_settings):
    voice_settings.CALL_START_RATE = "0/minute"
    page.goto(live_server.url + "/")
    page.get_by_role("button", name="Call", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("Too many calls")
    # It says how long, and offers no "Try again" that would be refused until then.
    expect(page.get_by_role("alert")).to_contain_text("Please try again in 1 minute.")
    expect(page.get_by_role("button", name="Try again")).to_be_hidden()
    assert not Call.objects.exists()


def test_call_button_works_from_the_keyboard_and_captions_are_a_live_region(
    page, live_server, voice_settings
):
    voice_settings.CALL_START_RATE = "0/minute"
    page.goto(live_server.url + "/")
    expect(page.get_by_role("button", name="Call", exact=True)).to_be_enabled()
    focused = []
    for _ in range(10):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.id"))
        if focused[-1] == "call-button":
            break
    assert focused[-1] == "call-button", focused
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_be_visible()
    captions = page.locator("#captions")
    assert captions.get_attribute("role") == "log"
    assert captions.get_attribute("aria-live") == "polite"
    assert page.get_by_role("status").get_attribute("aria-live") == "polite"


def test_without_voice_settings_the_page_says_calls_are_unavailable_and_how_to_phone(
    page, live_server, settings
):
    settings.LIVEKIT_URL = ""
    settings.SERVICE_DESK_PHONE = "555 0100"
    settings.SERVICE_DESK_HOURS = "Mon-Fri 8:00-17:00"
    page.goto(live_server.url + "/")
    expect(page.get_by_role("status")).to_contain_text("not available")
    expect(page.get_by_text(CONTACT)).to_be_visible()
    expect(page.get_by_role("button", name="Call", exact=True)).to_be_disabled()


def test_the_call_page_loads_its_bundle_without_console_errors(page, live_server, voice_settings):
    page.goto(live_server.url + "/")
    expect(page.get_by_role("button", name="Call", exact=True)).to_be_enabled()
    expect(page.get_by_role("status")).to_contain_text("Press Call")
    assert page.console_errors == []
