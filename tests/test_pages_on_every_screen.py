"""Every page as its users open it, on a desktop (1280x800) and a phone (390x844) in Chromium:
no page is wider than the screen, axe-core finds no accessibility violation, and the keyboard's
first stop is the skip link. The screenshots land in artifacts/screenshots/pages/ (the README's
come from there)."""

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from callcenter.models import Call

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = (
    Path(__file__).resolve().parent.parent / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
)
SHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots" / "pages"
SCREENS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def history(db, monkeypatch, settings, tmp_path):
    """The demo (two weeks of calls, a recording) and a live call asking for a person; the
    latest finished call is returned."""
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "demo admin password")
    monkeypatch.setenv("DEMO_SUPERVISOR_PASSWORD", "demo supervisor password")
    settings.MEDIA_ROOT = str(tmp_path / "media")
    call_command("seed_demo", "--no-input", verbosity=0, stdout=StringIO())
    Call.objects.create(
        status=Call.Status.ACTIVE, caller="web:b210", needs_human=True, answered_at=timezone.now()
    )
    return Call.objects.filter(status=Call.Status.ENDED).latest("started_at")


def open_as(browser, server_url: str, user, screen: str):
    """A page at the screen's size, logged in as ``user`` (None: a customer). axe-core is
    injected by the test, so the page's own Content-Security-Policy is bypassed for it."""
    context = browser.new_context(viewport=SCREENS[screen], bypass_csp=True)
    if user is not None:
        client = Client()
        client.force_login(user)
        context.add_cookies(
            [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": server_url}]
        )
    return context, context.new_page()


def first_tab_reaches_the_skip_link(page) -> bool:
    page.keyboard.press("Tab")
    return page.evaluate("document.activeElement.className") == "skip-link"


def check_page(page, name: str, screen: str) -> None:
    page.wait_for_load_state("networkidle")
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{name} is {overflow}px wider than a {screen} screen"
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
            .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target).join(", ")})`)"""
    )
    assert violations == [], f"{name} on a {screen}: {violations}"
    page.evaluate("document.activeElement && document.activeElement.blur()")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}-{screen}.png", full_page=screen == "phone")


@pytest.mark.parametrize("screen", SCREENS)
@pytest.mark.parametrize(
    ("name", "who", "path"),
    [
        ("call-page", None, "/"),
        ("history", "supervisor", "/history/"),
        ("history-search", "supervisor", "/history/?q=timing"),
        ("history-bad-date", "supervisor", "/history/?started_after=29.11.2026"),
        ("call-record", "supervisor", "/history/{call}/"),
        ("dashboard", "supervisor", "/dashboard/"),
        ("appointment-book", "supervisor", "/appointments/?view=week"),
        ("not-allowed", "clerk", "/history/"),
        ("not-found", "supervisor", "/history/no-such-call/"),
    ],
)
def test_each_page_fits_the_screen_and_passes_axe(
    browser, live_server, django_user_model, history, frontend_bundles,
    name, who, path, screen,
):  # fmt: skip
    users = {
        None: None,
        "supervisor": django_user_model.objects.get(username="supervisor"),  # the demo's
        "clerk": django_user_model.objects.create_user("clerk", is_staff=True),
    }
    context, page = open_as(browser, live_server.url, users[who], screen)
    try:
        page.goto(live_server.url + path.format(call=history.pk))
        assert first_tab_reaches_the_skip_link(page)
        check_page(page, name, screen)
    finally:
        context.close()


@pytest.mark.redis
@pytest.mark.parametrize("screen", SCREENS)
def test_the_monitor_fits_the_screen_passes_axe_and_shows_a_chosen_call(
    browser, asgi_server, django_user_model, history, screen
):
    supervisor = django_user_model.objects.get(username="supervisor")
    context, page = open_as(browser, asgi_server, supervisor, screen)
    try:
        page.goto(asgi_server + "/monitor/")
        expect(page.locator("#connection")).to_have_text("Live", timeout=15000)
        assert first_tab_reaches_the_skip_link(page)
        page.locator(".call-item", has_text="web:b210").click()
        # On a phone the list and the transcript stack: choosing a call brings its transcript.
        expect(page.locator(".transcript-panel")).to_be_in_viewport()
        check_page(page, "monitor", screen)
    finally:
        context.close()


@pytest.mark.redis
@pytest.mark.parametrize("screen", SCREENS)
def test_the_desk_fits_the_screen_passes_axe_and_rings_with_the_brief(
    browser, asgi_server, django_user_model, history, screen
):
    from django.contrib.auth.models import Group

    from desk import routing

    ann = django_user_model.objects.create_user("ann", first_name="Ann", is_staff=True)
    ann.groups.add(Group.objects.get(name="Desk staff"))  # the demo's group
    call = Call.objects.get(caller="web:b210")
    brief = {
        "who": "A caller on the web page", "vehicle": "2003 Honda Accord",
        "wants": "warranty claim", "done": ["Looked up 1HGCM82633A004352: Found on file."],
        "last_words": ["Can I talk to a person about my warranty please"],
    }  # fmt: skip
    routing.open_handoff(call, "warranty claim", brief)
    context, page = open_as(browser, asgi_server, ann, screen)
    try:
        page.goto(asgi_server + "/desk/")
        expect(page.locator("#connection")).to_have_text("Live", timeout=15000)
        assert first_tab_reaches_the_skip_link(page)
        page.get_by_role("button", name="Available").click()
        expect(page.locator("#offer")).to_contain_text("2003 Honda Accord", timeout=15000)
        expect(page.get_by_role("button", name="Accept")).to_be_visible()
        check_page(page, "desk", screen)
    finally:
        context.close()


def test_the_navigation_shows_only_what_the_user_may_open(client, staff_user, django_user_model):
    assert 'href="/monitor/"' not in client.get("/").content.decode()
    clerk = django_user_model.objects.create_user("clerk", is_staff=True)
    client.force_login(clerk)
    page = client.get("/").content.decode()
    assert 'href="/monitor/"' not in page and 'href="/admin/"' in page and "Log out" in page
    refused = client.get("/history/")
    assert refused.status_code == 403
    text = refused.content.decode()
    assert "callcenter.monitor_calls" in text and "An administrator" in text
    assert "You are logged in as clerk" in text
    client.force_login(staff_user)
    page = client.get("/").content.decode()
    assert 'href="/monitor/"' in page and 'href="/history/"' in page


def test_missing_pages_and_bad_requests_get_the_sites_own_pages(client, staff_user):
    client.force_login(staff_user)
    missing = client.get("/history/00000000-0000-0000-0000-000000000000/")
    assert missing.status_code == 404
    assert "There is no page here" in missing.content.decode()
    assert 'href="/monitor/"' in missing.content.decode()  # with the navigation
    bad = client.get("/", HTTP_HOST="bad host name")
    assert bad.status_code == 400
    assert "could not be understood" in bad.content.decode()


def test_the_demo_recording_plays_on_its_calls_record(
    browser, live_server, django_user_model, history
):
    supervisor = django_user_model.objects.get(username="supervisor")
    context, page = open_as(browser, live_server.url, supervisor, "desktop")
    try:
        page.goto(f"{live_server.url}/history/{history.pk}/")
        played = page.evaluate(
            """async () => {
                const audio = document.querySelector("audio");
                audio.muted = true;
                await audio.play();
                await new Promise((done) => setTimeout(done, 1500));
                return { position: audio.currentTime, length: audio.duration };
            }"""
        )
        assert played["position"] > 0.5 and played["length"] > 10, played
    finally:
        context.close()
