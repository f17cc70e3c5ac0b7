"""The dashboard draws its charts in Chromium with the bundled chart.js."""

import re

import pytest
from playwright.sync_api import expect

from callcenter.models import Call

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_dashboard_draws_its_charts_without_console_errors(
    page, live_server, staff_user, frontend_bundles
):
    Call.objects.create(status=Call.Status.ENDED, metrics={"llm_ttft_ms": [250.0]})
    from django.test import Client

    client = Client()
    client.force_login(staff_user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    page.goto(live_server.url + "/dashboard/")
    for chart in ("calls-per-day", "handle-time", "handoff-rate", "latency"):
        expect(page.locator(f"#{chart}")).to_have_attribute("data-drawn", "true")
    width = page.evaluate("document.getElementById('calls-per-day').width")
    assert width > 100
    assert page.console_errors == []
    # The cards of a row line up, and the chart of counts has whole-number ticks only.
    rows = page.eval_on_selector_all(
        ".kpis",
        "rows => rows.map((row) => [...row.children].map((c) => c.getBoundingClientRect().top))",
    )
    # The calls, the desk's and the customers', the desk's handoffs, the reviews.
    assert len(rows) == 4 and all(len(set(tops)) == 1 for tops in rows), rows
    ticks = page.locator("#calls-per-day").get_attribute("data-y-ticks").split()
    assert ticks and all(float(value).is_integer() for value in ticks), ticks
    # Handle time is written as the cards write it (m:ss), not in seconds.
    handle = page.locator("#handle-time").get_attribute("data-y-ticks").split()
    assert handle and all(re.fullmatch(r"\d+:\d\d(:\d\d)?", tick) for tick in handle), handle
    # The latency table's title is inside its card.
    card = page.locator(".metrics-card", has=page.locator("#latency-title")).bounding_box()
    title = page.locator("#latency-title").bounding_box()
    assert card["y"] <= title["y"] and title["y"] + title["height"] <= card["y"] + card["height"]


def test_an_empty_dashboard_says_what_will_appear_instead_of_blank_charts(
    page, live_server, staff_user, frontend_bundles
):
    from django.test import Client

    client = Client()
    client.force_login(staff_user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    page.goto(live_server.url + "/dashboard/")
    expect(page.get_by_text("No calls in the last 30 days yet")).to_be_visible()
    expect(page.get_by_text("No latency measured yet")).to_be_visible()
    assert page.locator("canvas").count() == 0
    assert page.console_errors == []
