"""The dashboard draws its charts in Chromium with the bundled chart.js."""

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
