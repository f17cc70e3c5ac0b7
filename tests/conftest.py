"""Shared fixtures: the users every behaviour is checked against, browsers and servers."""

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model


@pytest.fixture
def staff_user(db):
    """A supervisor: staff, allowed to monitor calls."""
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user(
        "supervisor", "supervisor@example.com", "correct horse battery", is_staff=True
    )
    user.user_permissions.add(Permission.objects.get(codename="monitor_calls"))
    return user


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("root", "root@example.com", "root pass 123")


@pytest.fixture
def customer_user(db):
    """Someone with an account who is not staff."""
    return get_user_model().objects.create_user("customer", "c@example.com", "customer pass 1")


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def admin_client_logged_in(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def agent_worker_registered(db, settings):
    """A worker for the configured agent name has just said it is registered with LiveKit
    (as agentworker.heartbeat makes a real one say), so the web app takes call starts."""
    from callcenter.models import WorkerHeartbeat

    WorkerHeartbeat.beat("AW_test_worker", settings.LIVEKIT_AGENT_NAME, "test-host")


@pytest.fixture
def private_var(monkeypatch, tmp_path):
    """Passwords the seeder makes up go to this test's own var/ folder."""
    from callcenter.management.commands import seed_demo

    monkeypatch.setattr(seed_demo, "ADMIN_PASSWORD_FILE", tmp_path / "var" / "admin_password")
    monkeypatch.setattr(
        seed_demo, "SUPERVISOR_PASSWORD_FILE", tmp_path / "var" / "supervisor_password"
    )
    monkeypatch.setattr(seed_demo.settings, "BASE_DIR", tmp_path)
    return tmp_path / "var"


@pytest.fixture(autouse=True)
def plain_static_files(settings):
    """Tests render pages without running collectstatic first."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


CHROMIUM = "/usr/bin/chromium"
# A fake microphone that grants itself, so call pages can be driven headless.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (``make test`` installs it)."""
    import os

    from playwright.sync_api import sync_playwright

    from tests.services import IN_CI

    if not os.path.exists(CHROMIUM):
        message = f"browser tests need {CHROMIUM} (apt-get install chromium; make test does it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    # Playwright's sync API keeps an event loop running in this thread; Django would then
    # refuse the test's own ORM calls, which are safe here because the loop is Playwright's.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request):
    """A fresh page; its console errors are in ``page.console_errors``, and a screenshot of
    where it ended is saved under artifacts/screenshots/ (git-ignored)."""
    context = browser.new_context()
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
    page.on("pageerror", lambda error: page.console_errors.append(str(error)))
    yield page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        page.screenshot(path=SCREENSHOTS / f"{request.node.name}.png", full_page=True)
    finally:
        context.close()


@pytest.fixture(scope="session")
def frontend_bundles():
    """The esbuild bundles the pages load, built from the current sources."""
    import subprocess
    from pathlib import Path

    frontend = Path(__file__).resolve().parent.parent / "frontend"
    subprocess.run(["node", "build.mjs"], cwd=frontend, check=True, capture_output=True)
    return frontend.parent / "static" / "build"


def pytest_collection_modifyitems(config, items):
    """Browser tests run last: Playwright's sync API keeps an event loop running in the main
    thread from the first browser test on, which async tests cannot share."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture(autouse=True)
def close_connections_of_the_async_orm_thread():
    """Async tests reach the database from asgiref's one sync thread; close what they opened
    there, or the test database cannot be dropped at the end of the run."""
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    SyncToAsync.single_thread_executor.submit(connections.close_all).result()


def test_database_url() -> str:
    """The test database as a DATABASE_URL, for the servers the tests start as subprocesses."""
    from urllib.parse import quote

    from django.db import connection

    config = connection.settings_dict
    if connection.vendor != "postgresql":
        return f"sqlite:///{config['NAME']}"
    login = quote(config["USER"]) + (f":{quote(config['PASSWORD'])}" if config["PASSWORD"] else "")
    return f"postgres://{login}@{config['HOST']}:{config['PORT']}/{config['NAME']}"


@pytest.fixture(scope="session")
def pooled_database(django_db_setup, django_db_blocker):
    """The environment that puts a subprocess on the test database through PgBouncer in
    transaction mode (``make services`` runs it), as a deployment with many calls does.

    At the end, PgBouncer's server connections to the test database are ended: they outlive
    their clients, and the test database cannot be dropped while they are open.
    """
    from django.db import connection

    from tests.services import IN_CI, answers
    from tests.support.local_services import (
        PGBOUNCER_ADDRESS,
        POSTGRES_ADDRESS,
        end_other_connections,
        postgres_url,
    )

    config = connection.settings_dict
    on_local_server = (
        connection.vendor == "postgresql"
        and (
            config["HOST"],
            int(config["PORT"] or 5432),
        )
        == POSTGRES_ADDRESS
    )
    if not (on_local_server and answers(PGBOUNCER_ADDRESS)):
        reason = (
            f"needs PgBouncer at {PGBOUNCER_ADDRESS[0]}:{PGBOUNCER_ADDRESS[1]} in front of "
            f"the local PostgreSQL (`make services` starts both)"
        )
        pytest.fail(reason) if IN_CI else pytest.skip(reason)
    yield {
        "DATABASE_URL": postgres_url(config["NAME"], pooled=True),
        "DATABASE_TRANSACTION_POOLING": "on",
    }
    with django_db_blocker.unblock():
        end_other_connections()


@pytest.fixture
def asgi_server(transactional_db, frontend_bundles):
    """The real ASGI app under daphne in a subprocess, on this test's database and Redis.

    Pages with websockets need it (pytest-django's live_server speaks HTTP only). The
    subprocess shares the channel layer only through Redis, so tests using it need Redis.
    """
    import os
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "DEBUG": "true",  # static files straight from the sources, as under runserver
        "DATABASE_URL": test_database_url(),
    }
    root = Path(__file__).resolve().parent.parent
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "config.asgi:application",
        ],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError(f"daphne did not start: {process.stderr.read().decode()[-2000:]}")
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)
