"""What every benchmark needs: Django on a dedicated PostgreSQL database and Redis, a
supervisor, daphne processes, percentiles, and a place for the figures."""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from callcenter.call_metrics import percentile
from tests.support.local_services import postgres_dsn, postgres_url, redis_url

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DATABASE = os.environ.get("BENCH_DATABASE", "cc_bench")
ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "SECRET_KEY": "bench-secret-key-0123456789-0123456789-0123456789",
    "DATABASE_URL": postgres_url(DATABASE),
    "REDIS_URL": redis_url(),
    # A fresh prefix per run: channels left in groups by killed earlier runs would make every
    # group_send push to them too (channels-redis keeps group members for a day).
    "CHANNEL_LAYER_PREFIX": f"cc-bench-{os.getpid()}",
    "DEBUG": "false",  # measured as in production: no debug toolbar-ish overhead
    "LIVEKIT_URL": "wss://voice.example.com",
    "LIVEKIT_API_KEY": "APIbench",
    "LIVEKIT_API_SECRET": "bench-secret-0123456789-0123456789-012345",
    "CALL_START_RATE": "100000000/second",
    "LOG_LEVEL": "WARNING",
}


def setup_django(*, prepare: bool = True) -> None:
    """Configure Django for the benchmark database (created and migrated when missing).

    ``prepare=False`` is for a benchmark's child processes: they inherit the parent's
    environment (its channel prefix included) and the database it prepared.
    """
    import psycopg

    sys.path.insert(0, str(ROOT))
    if not prepare:
        import django

        django.setup()
        return
    os.environ.update(ENV)
    # Killed (timeout, kill) it unwinds as after Ctrl-C: its finally blocks stop what it started.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    with psycopg.connect(postgres_dsn("postgres"), autocommit=True) as db:
        exists = db.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone()
        if not exists:
            db.execute(f'CREATE DATABASE "{DATABASE}"')
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    # Pages render {% static %} through the manifest, as under `make run`.
    call_command("collectstatic", interactive=False, verbosity=0)


def supervisor_session() -> str:
    """A session cookie value of a supervisor."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.test import Client

    user, _ = get_user_model().objects.get_or_create(username="bench-supervisor", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="monitor_calls"))
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_daphne(
    count: int, application: str = "config.asgi:application"
) -> tuple[list[subprocess.Popen], list[int]]:
    processes, ports = [], []
    for _ in range(count):
        port = free_port()
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                 application],
                cwd=ROOT, env={**os.environ, **ENV},
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
        ports.append(port)
    for port in ports:
        wait_for_port(port)
    return processes, ports


def wait_for_port(port: int, seconds: float = 30) -> None:
    """Until something listens on 127.0.0.1:``port``."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on port {port}") from None
            time.sleep(0.1)


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50/p95/p99 (nearest rank) and max, rounded to 0.01."""
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None, "n": 0}
    ordered = sorted(values)

    def rank(p: float) -> float:
        return round(percentile(ordered, p), 2)

    return {
        "p50": rank(50),
        "p95": rank(95),
        "p99": rank(99),
        "max": round(ordered[-1], 2),
        "mean": round(statistics.mean(ordered), 2),
        "n": len(ordered),
    }


def report(name: str, figures: dict) -> None:
    """Print the figures and write them to bench/results/<name>.json."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(figures, indent=2, default=str))
    print(json.dumps(figures, indent=2, default=str))


def end_live_calls() -> int:
    """End calls an earlier benchmark run left live, so snapshots hold only this run's."""
    from callcenter.models import Call

    return Call.objects.filter(status__in=Call.LIVE_STATUSES).update(status=Call.Status.ENDED)
