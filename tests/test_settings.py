"""Settings come from the environment; production settings pass Django's deploy checks."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION_ENV = {
    "SECRET_KEY": "x7Jq2v9Lr4Tz8Wn1Kp6Yb3Hc5Md0Fs2Ga7Ue9Xi4Oj1Ql8Rk3Vt6Pw5Zy0Nb2Ce",
    "ALLOWED_HOSTS": "calls.example.com",
    "HTTPS_ONLY": "true",
    "TRUST_X_FORWARDED_PROTO": "true",
    "DATABASE_URL": "postgres://callcenter@db.internal:5432/callcenter",
    "REDIS_URL": "redis://redis.internal:6379/0",
    "S3_BUCKET": "recordings",
    "S3_ENDPOINT_URL": "https://minio.internal:9000",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_check_deploy():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_use_postgres_redis_and_s3():
    code = (
        "from django.conf import settings as s;"
        "print(s.DATABASES['default']['ENGINE']);"
        "print(s.CHANNEL_LAYERS['default']['BACKEND']);"
        "print(s.STORAGES['default']['BACKEND']);"
        "print(s.DEBUG)"
    )
    result = manage("shell", "--no-imports", "-c", code, env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.postgresql",
        "channels_redis.pubsub.RedisPubSubChannelLayer",
        "storages.backends.s3.S3Storage",
        "False",
    ]


def test_transaction_pooling_turns_server_side_cursors_off():
    """Behind PgBouncer in transaction mode a cursor that outlives its transaction (Django's
    server-side cursor for ``.iterator()``) cannot follow a connection to another server
    connection: the pooled settings use client-side cursors, the direct ones keep them."""
    code = (
        "from django.conf import settings as s;"
        "print(s.DATABASES['default']['DISABLE_SERVER_SIDE_CURSORS'])"
    )
    pooled, direct = (
        manage("shell", "--no-imports", "-c", code,
               env={**PRODUCTION_ENV, "DATABASE_TRANSACTION_POOLING": pooling})
        for pooling in ("on", "off")
    )  # fmt: skip
    assert pooled.returncode == direct.returncode == 0, pooled.stderr + direct.stderr
    assert (pooled.stdout.strip(), direct.stdout.strip()) == ("True", "False")


def test_embedded_defaults_without_any_environment():
    code = (
        "from django.conf import settings as s;"
        "print(s.DATABASES['default']['ENGINE']);"
        "print(s.CHANNEL_LAYERS['default']['BACKEND']);"
        "print(s.STORAGES['default']['BACKEND'])"
    )
    result = manage("shell", "--no-imports", "-c", code, env={"SECRET_KEY": "local"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.sqlite3",
        "channels.layers.InMemoryChannelLayer",
        "django.core.files.storage.FileSystemStorage",
    ]


def manage_in(checkout: Path, *args: str) -> subprocess.CompletedProcess:
    """``manage.py`` as if it lived in ``checkout`` (its var/ there), the project's code
    imported from this one; no SECRET_KEY in the environment."""
    shutil.copy(ROOT / "manage.py", checkout / "manage.py")
    clean = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG"}}
    return subprocess.run(
        [sys.executable, str(checkout / "manage.py"), *args],
        cwd=checkout,
        env={**clean, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_missing_secret_key_is_refused_with_one_readable_line(tmp_path):
    result = manage_in(tmp_path, "check")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "SECRET_KEY is not set. Run `make run` once" in lines[0]


def test_commands_beside_make_run_use_the_checkouts_own_secret_key(tmp_path):
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "secret_key").write_text("the-key-make-run-made\n")
    code = "from django.conf import settings; print(settings.SECRET_KEY)"
    result = manage_in(tmp_path, "shell", "--no-imports", "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "the-key-make-run-made"


@pytest.mark.parametrize(
    ("name", "value", "sentence"),
    [
        ("RECORDING_MODE", "tape", "RECORDING_MODE must be one of: egress, agent, off"),
        ("TURN_DETECTION", "guess", "TURN_DETECTION must be one of: model, vad"),
        ("AGENT_MAX_CALLS", "0", "AGENT_MAX_CALLS must be at least 1"),
        ("AGENT_IDLE_PROCESSES", "-1", "AGENT_IDLE_PROCESSES must be 0 or more"),
        ("AGENT_IDLE_PROCESSES", "many", "AGENT_IDLE_PROCESSES must be an integer, not 'many'"),
    ],
)
def test_a_setting_outside_what_it_allows_is_refused_saying_what_it_allows(name, value, sentence):
    result = manage("check", env={"SECRET_KEY": "local", name: value})
    assert result.returncode != 0
    assert sentence in result.stderr


def test_egress_recording_without_a_bucket_is_refused():
    result = manage("check", env={"SECRET_KEY": "local", "RECORDING_MODE": "egress"})
    assert result.returncode != 0
    assert "RECORDING_MODE=egress needs S3_BUCKET" in result.stderr


def test_the_list_based_redis_layer_can_be_chosen_and_a_bad_kind_is_refused():
    code = "from django.conf import settings as s; print(s.CHANNEL_LAYERS['default']['BACKEND'])"
    core = manage("shell", "--no-imports", "-c", code,
                  env={**PRODUCTION_ENV, "CHANNEL_LAYER_KIND": "core"})  # fmt: skip
    assert core.stdout.split() == ["channels_redis.core.RedisChannelLayer"], core.stderr
    bad = manage("check", env={"SECRET_KEY": "local", "CHANNEL_LAYER_KIND": "kafka"})
    assert bad.returncode != 0
    assert "CHANNEL_LAYER_KIND must be pubsub or core" in bad.stderr
