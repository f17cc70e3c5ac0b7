"""Which real servers the test run uses: a pytest plugin loaded with ``-p tests.services``.

It runs before pytest-django reads the settings. When PostgreSQL and Redis answer on
127.0.0.1 (``make services`` starts them; no DATABASE_URL / REDIS_URL given), the run uses
them; otherwise SQLite and the in-memory channel layer, and the tests marked ``postgres`` or
``redis`` are skipped with a visible reason. With ``CI=true`` a missing server fails those
tests instead.

Database and channel prefix are named after the checkout, so two checkouts on one machine can
run their suites at once without trampling each other.
"""

import hashlib
import os
import socket
from pathlib import Path

import pytest

from tests.support.local_services import POSTGRES_ADDRESS, REDIS_ADDRESS, postgres_url, redis_url

START_HINT = "`make services` starts it"

CHECKOUT_ID = hashlib.sha1(
    str(Path(__file__).resolve().parent.parent).encode(), usedforsecurity=False
).hexdigest()[:8]
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def answers(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=0.5):
            return True
    except OSError:
        return False


def _choose_servers() -> tuple[bool, bool]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("SECRET_KEY", "test-only-secret-key-" + CHECKOUT_ID * 4)
    os.environ.setdefault("CHANNEL_LAYER_PREFIX", f"cc-test-{CHECKOUT_ID}")
    if "DATABASE_URL" not in os.environ and answers(POSTGRES_ADDRESS):
        os.environ["DATABASE_URL"] = postgres_url(f"cc_{CHECKOUT_ID}")
    if "REDIS_URL" not in os.environ and answers(REDIS_ADDRESS):
        os.environ["REDIS_URL"] = redis_url()
    on_postgres = os.environ.get("DATABASE_URL", "").startswith(("postgres", "postgresql"))
    on_redis = bool(os.environ.get("REDIS_URL"))
    return on_postgres, on_redis


# At import, before pytest-django configures Django from the environment.
ON_POSTGRES, ON_REDIS = _choose_servers()


def pytest_report_header(config) -> list[str]:
    database = "PostgreSQL" if ON_POSTGRES else "SQLite"
    layer = "Redis" if ON_REDIS else "in-memory"
    return [f"callcenter: database {database}, channel layer {layer}, CI={IN_CI}"]


def pytest_runtest_setup(item: pytest.Item) -> None:
    missing = []
    if item.get_closest_marker("postgres") and not ON_POSTGRES:
        missing.append(f"PostgreSQL at {POSTGRES_ADDRESS[0]}:{POSTGRES_ADDRESS[1]}")
    if item.get_closest_marker("redis") and not ON_REDIS:
        missing.append(f"Redis at {REDIS_ADDRESS[0]}:{REDIS_ADDRESS[1]}")
    if not missing:
        return
    reason = f"needs {' and '.join(missing)}, which does not answer"
    if IN_CI:
        pytest.fail(f"{reason}; CI must run against the real server ({START_HINT})")
    pytest.skip(reason)
