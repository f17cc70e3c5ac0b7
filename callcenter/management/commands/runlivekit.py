"""``manage.py runlivekit``: the pinned livekit-server on this machine, wired to this web app.

It reads ``services/livekit-server.yaml``, fills in the ports and the webhook URL (the web
app's ``/livekit/webhook/``, signed with ``LIVEKIT_API_KEY``), and replaces itself with the
server, so a process manager's signals reach the server directly. The configuration (with the
Redis password) and the key pair travel in the server's own LIVEKIT_CONFIG and LIVEKIT_KEYS
variables, never on the command line or on disk, and the server inherits nothing else of the
web app's environment (``callcenter.pinned_tools.program_environment``).
"""

import os
from pathlib import Path

import yaml
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from callcenter.pinned_tools import (
    LIVEKIT_SERVER,
    livekit_redis_url,
    program_environment,
    redis_address,
)

VERSION = LIVEKIT_SERVER.version
CONFIG_TEMPLATE = LIVEKIT_SERVER.config_template


def livekit_server_binary() -> Path:
    return LIVEKIT_SERVER.binary()


def server_config(*, port: int, udp_port: int, webhook_url: str, redis_url: str = "") -> dict:
    """The project's server configuration with this run's ports, webhook URL and key name;
    with ``redis_url`` the server shares state through Redis, which the SIP bridge needs."""
    config = yaml.safe_load(CONFIG_TEMPLATE.read_text())
    config["port"] = port
    config["rtc"]["udp_port"] = udp_port
    config["webhook"] = {"api_key": settings.LIVEKIT_API_KEY, "urls": [webhook_url]}
    if redis_url:
        config["redis"] = redis_address(redis_url)
    return config


class Command(BaseCommand):
    help = "Run the pinned livekit-server on loopback, sending its webhooks to this web app."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=7880, help="signalling (HTTP/WebSocket)")
        parser.add_argument("--udp-port", type=int, default=7882, help="all media (ICE/UDP)")
        parser.add_argument(
            "--webhook-url",
            default="http://127.0.0.1:8000/livekit/webhook/",
            help="where the server posts room, participant and egress events",
        )
        parser.add_argument(
            "--log-level",
            default="",
            choices=["", "debug", "info", "warn", "error"],
            help="the server's log level (default: the config file's); `make run` uses warn, "
            "which leaves out each call's SDP",
        )
        parser.add_argument(
            "--redis-url",
            default=None,
            help="share state through this Redis (redis://host:port/db; phone calls need it); "
            "one with a password goes in LIVEKIT_REDIS_URL in the environment instead",
        )

    def handle(
        self, *args, port: int, udp_port: int, webhook_url: str, redis_url: str, log_level: str,
        **options,
    ):  # fmt: skip
        key, secret = settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET
        if not (key and secret):
            raise CommandError(
                "cannot start livekit-server: set LIVEKIT_API_KEY and LIVEKIT_API_SECRET"
            )
        binary = livekit_server_binary()
        config = server_config(
            port=port,
            udp_port=udp_port,
            webhook_url=webhook_url,
            redis_url=livekit_redis_url(redis_url),
        )
        if log_level:
            config["logging"] = {**config.get("logging", {}), "level": log_level}
        environment = program_environment(
            LIVEKIT_KEYS=f"{key}: {secret}", LIVEKIT_CONFIG=yaml.safe_dump(config)
        )
        self.stdout.write(
            f"livekit-server {VERSION} on ws://127.0.0.1:{port} (media UDP {udp_port}), "
            f"webhooks to {webhook_url}"
        )
        self.stdout.flush()
        os.execve(binary, [str(binary)], environment)  # noqa: S606 - a fixed binary, no shell
