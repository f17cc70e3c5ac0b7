"""``manage.py runlivekit``: the project's livekit-server configuration, and a clear line when
the server cannot be started."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from callcenter.management.commands.runlivekit import server_config

ROOT = Path(__file__).resolve().parent.parent


def test_the_server_listens_on_loopback_and_signs_webhooks_for_this_app(settings):
    settings.LIVEKIT_API_KEY = "key-1"
    settings.LIVEKIT_API_SECRET = "a-secret-that-never-enters-the-config-0123456789"
    config = server_config(port=17880, udp_port=17882, webhook_url="http://127.0.0.1:9/hook/")
    assert config["port"] == 17880
    assert config["bind_addresses"] == ["127.0.0.1"]
    assert config["rtc"]["udp_port"] == 17882
    assert config["rtc"]["tcp_port"] == 0  # an ICE/TCP listener would bind every interface
    assert config["rtc"]["node_ip"] == "127.0.0.1"
    assert config["webhook"] == {"api_key": "key-1", "urls": ["http://127.0.0.1:9/hook/"]}
    assert "keys" not in config
    assert settings.LIVEKIT_API_SECRET not in yaml.safe_dump(config)


def run(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "runlivekit"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "SECRET_KEY": "x", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "set LIVEKIT_API_KEY and LIVEKIT_API_SECRET"),
        (
            {
                "LIVEKIT_API_KEY": "k",
                "LIVEKIT_API_SECRET": "s",
                "LIVEKIT_SERVER_BIN": "/missing",
            },
            "LIVEKIT_SERVER_BIN names /missing, which does not exist",
        ),
    ],
)
def test_what_is_missing_is_said_in_one_line(env, message):
    result = run(env)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
