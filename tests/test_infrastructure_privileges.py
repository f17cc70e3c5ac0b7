"""What `make services` and `make run` set up holds no more than it needs: secrets are
private from their first byte, and the tests' PostgreSQL role is no superuser."""

import importlib.util
import os
import stat
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def new_secret_module():
    spec = importlib.util.spec_from_file_location("new_secret", ROOT / "services/new_secret.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_new_secret_is_private_from_its_creation_not_chmoded_afterwards(tmp_path, monkeypatch):
    def no_chmod(*args, **kwargs):
        raise AssertionError("the secret was made readable first and chmod-ed afterwards")

    monkeypatch.setattr(os, "chmod", no_chmod)
    monkeypatch.setattr(Path, "chmod", no_chmod)
    secret = tmp_path / "var" / "secret_key"
    previous = os.umask(0)  # the most permissive umask a user could have
    try:
        new_secret_module().create_secret(secret, 50)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert len(secret.read_text().strip()) >= 60


def test_an_existing_secret_is_never_overwritten(tmp_path):
    secret = tmp_path / "secret_key"
    secret.write_text("kept\n")
    with pytest.raises(FileExistsError):
        new_secret_module().create_secret(secret)
    assert secret.read_text() == "kept\n"


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_tests_database_role_may_create_databases_but_is_no_superuser():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user"
        )
        assert cursor.fetchone() == (False, False, True)


@pytest.mark.redis
def test_the_redis_make_services_starts_refuses_clients_without_its_password():
    import redis

    from tests.support.local_services import REDIS_ADDRESS, redis_password, redis_url

    host, port = REDIS_ADDRESS
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host=host, port=port).ping()
    assert redis_password()
    assert redis.Redis.from_url(redis_url()).ping()


def exec_of(command: str, *arguments: str, monkeypatch) -> tuple[list[str], dict[str, str]]:
    """What ``command`` would hand the LiveKit program it replaces itself with."""
    from django.core.management import call_command

    taken = {}

    def execve(path, argv, environment):
        taken.update(argv=list(argv), environment=dict(environment))

    monkeypatch.setattr(os, "execve", execve)
    call_command(command, *arguments)
    return taken["argv"], taken["environment"]


APP_SECRETS = {
    "SECRET_KEY": "app-secret-key-0123456789",
    "DATABASE_URL": "postgres://callcenter:db-password-42@127.0.0.1:5432/cc",
    "OPENAI_API_KEY": "sk-openai-key-4242",
    "S3_SECRET_ACCESS_KEY": "s3-secret-4242",
}


@pytest.mark.parametrize("command", ["runlivekit", "runsip"])
def test_livekit_programs_get_secrets_in_their_environment_only_and_none_of_the_apps(
    command, monkeypatch, settings
):
    for name, value in APP_SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LIVEKIT_REDIS_URL", "redis://:redis-password-42@127.0.0.1:6390/2")
    monkeypatch.setenv("LIVEKIT_SERVER_BIN", "/bin/true")
    monkeypatch.setenv("LIVEKIT_SIP_BIN", "/bin/true")
    settings.LIVEKIT_URL = "ws://127.0.0.1:7880"
    settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = "key-1", "livekit-secret-4242"
    argv, environment = exec_of(command, monkeypatch=monkeypatch)
    assert argv == ["/bin/true"]  # nothing but the program: no --config-body, no URL
    passed = "\n".join(f"{name}={value}" for name, value in environment.items())
    assert "redis-password-42" in passed and "livekit-secret-4242" in passed
    for name, value in APP_SECRETS.items():
        assert name not in environment and value not in passed


def test_a_redis_password_on_the_command_line_is_refused_in_one_sentence(monkeypatch, settings):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    monkeypatch.setenv("LIVEKIT_SERVER_BIN", "/bin/true")
    settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = "key-1", "livekit-secret-4242"
    monkeypatch.setattr(os, "execve", lambda *args: pytest.fail("the server was started"))
    with pytest.raises(CommandError, match="set LIVEKIT_REDIS_URL in the environment"):
        call_command("runlivekit", "--redis-url", "redis://:pw@127.0.0.1:6379/1")


def test_make_runs_livekit_server_logs_warnings_only(monkeypatch, settings):
    import yaml

    monkeypatch.setenv("LIVEKIT_SERVER_BIN", "/bin/true")
    settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = "key-1", "livekit-secret-4242"
    _argv, environment = exec_of("runlivekit", "--log-level", "warn", monkeypatch=monkeypatch)
    assert yaml.safe_load(environment["LIVEKIT_CONFIG"])["logging"]["level"] == "warn"
    procfile = (ROOT / "Procfile").read_text()
    assert '--log-level "${LIVEKIT_LOG_LEVEL:-warn}"' in procfile
