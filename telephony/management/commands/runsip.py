"""``manage.py runsip``: the pinned livekit-sip bridge on this machine, joined to the
livekit-server at ``LIVEKIT_URL`` through Redis (``REDIS_URL``), as LiveKit's SIP set-up
requires. It reads ``services/livekit-sip.yaml``, fills in the ports, the server and Redis,
and replaces itself with the bridge. The configuration (with the Redis password) and the key
pair travel in its environment only, which holds nothing else of the web app's
(``callcenter.pinned_tools.program_environment``)."""

import os
from pathlib import Path

import yaml
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from callcenter.livekit_server import missing_livekit_settings
from callcenter.pinned_tools import (
    LIVEKIT_SIP,
    livekit_redis_url,
    program_environment,
    redis_address,
)

VERSION = LIVEKIT_SIP.version
CONFIG_TEMPLATE = LIVEKIT_SIP.config_template


def livekit_sip_binary() -> Path:
    return LIVEKIT_SIP.binary()


def bridge_config(*, sip_port: int, rtp_ports: str, redis_url: str) -> dict:
    config = yaml.safe_load(CONFIG_TEMPLATE.read_text())
    config["sip_port"] = sip_port
    config["rtp_port"] = rtp_ports
    config["ws_url"] = settings.LIVEKIT_URL
    config["redis"] = redis_address(redis_url)
    return config


class Command(BaseCommand):
    help = "Run the pinned livekit-sip bridge on loopback, for phone calls (needs Redis)."

    def add_arguments(self, parser):
        parser.add_argument("--sip-port", type=int, default=5060, help="SIP signalling (UDP/TCP)")
        parser.add_argument("--rtp-ports", default="10000-10100", help="media, a range")
        parser.add_argument(
            "--redis-url",
            default=None,
            help="the Redis livekit-server shares, without a password (default: "
            "LIVEKIT_REDIS_URL, else REDIS_URL, from the environment)",
        )

    def handle(self, *args, sip_port: int, rtp_ports: str, redis_url: str | None, **options):
        redis_url = livekit_redis_url(redis_url, fallback=settings.REDIS_URL)
        missing = missing_livekit_settings()
        if not redis_url:
            missing.append("REDIS_URL (or --redis-url)")
        if missing:
            raise CommandError(f"cannot start livekit-sip: set {', '.join(missing)}")
        binary = livekit_sip_binary()
        config = bridge_config(sip_port=sip_port, rtp_ports=rtp_ports, redis_url=redis_url)
        environment = program_environment(
            LIVEKIT_API_KEY=settings.LIVEKIT_API_KEY,
            LIVEKIT_API_SECRET=settings.LIVEKIT_API_SECRET,
            SIP_CONFIG_BODY=yaml.safe_dump(config),
        )
        self.stdout.write(f"livekit-sip {VERSION} on 127.0.0.1:{sip_port} (RTP {rtp_ports})")
        self.stdout.flush()
        os.execve(binary, [str(binary)], environment)  # noqa: S606 - a fixed binary, no shell
