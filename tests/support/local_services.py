"""The local PostgreSQL, PgBouncer and Redis that ``make services`` starts: where they listen
and how the tests and benchmarks log in (a loopback-only role of the test machine, not a
secret)."""

POSTGRES_ADDRESS = ("127.0.0.1", 5432)
PGBOUNCER_ADDRESS = ("127.0.0.1", 6432)  # transaction pooling in front of POSTGRES_ADDRESS
REDIS_ADDRESS = ("127.0.0.1", 6379)
POSTGRES_USER = "callcenter"
POSTGRES_PASSWORD = "callcenter"


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


def redis_url(db: int = 0) -> str:
    host, port = REDIS_ADDRESS
    return f"redis://{host}:{port}/{db}"
