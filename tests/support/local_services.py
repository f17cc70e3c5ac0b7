"""The local PostgreSQL, PgBouncer and Redis that ``make services`` starts: where they listen
and how the tests and benchmarks log in (a loopback-only role of the test machine, not a
secret; Redis's password is the one ``make services`` made, in ``var/redis_password``)."""

import threading
import time
from pathlib import Path
from urllib.parse import quote

POSTGRES_ADDRESS = ("127.0.0.1", 5432)
PGBOUNCER_ADDRESS = ("127.0.0.1", 6432)  # transaction pooling in front of POSTGRES_ADDRESS
REDIS_ADDRESS = ("127.0.0.1", 6379)
POSTGRES_USER = "callcenter"
POSTGRES_PASSWORD = "callcenter"
REDIS_PASSWORD_FILE = Path(__file__).resolve().parents[2] / "var" / "redis_password"


def postgres_url(database: str, *, pooled: bool = False) -> str:
    """The database on the server, or through PgBouncer when ``pooled``."""
    host, port = PGBOUNCER_ADDRESS if pooled else POSTGRES_ADDRESS
    return f"postgres://{POSTGRES_USER}:{POSTGRES_PASSWORD}@{host}:{port}/{database}"


def postgres_dsn(database: str) -> str:
    """The same server for psycopg.connect()."""
    host, port = POSTGRES_ADDRESS
    return (
        f"host={host} port={port} user={POSTGRES_USER} password={POSTGRES_PASSWORD} "
        f"dbname={database}"
    )


def redis_password() -> str:
    return REDIS_PASSWORD_FILE.read_text().strip() if REDIS_PASSWORD_FILE.exists() else ""


def redis_url(db: int = 0) -> str:
    host, port = REDIS_ADDRESS
    password = redis_password()
    login = f":{quote(password, safe='')}@" if password else ""
    return f"redis://{login}{host}:{port}/{db}"


def server_connections() -> int:
    """PostgreSQL's backends on Django's current database, the caller's own left out: how
    many server connections the product's processes (or PgBouncer for them) hold."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def end_other_connections() -> None:
    """End every other backend on Django's current database (PgBouncer's idle server
    connections among them: they outlive their clients and keep a database from being
    dropped)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


class MostServerConnections(threading.Thread):
    """Reads ``server_connections()`` every ``every`` seconds until ``done`` is set, keeping
    the most it saw in ``most`` (with a database connection of its own, closed at the end)."""

    def __init__(self, every: float) -> None:
        super().__init__(daemon=True)
        self.every = every
        self.most = 0
        self.done = threading.Event()

    def run(self) -> None:
        from django.db import connections

        try:
            while not self.done.is_set():
                self.most = max(self.most, server_connections())
                time.sleep(self.every)
        finally:
            connections.close_all()
