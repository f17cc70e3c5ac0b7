"""``manage.py runlivekit``: the pinned livekit-server on this machine, wired to this web app.

It reads ``services/livekit-server.yaml``, fills in the ports and the webhook URL (the web
app's ``/livekit/webhook/``, signed with ``LIVEKIT_API_KEY``), and replaces itself with the
server, so a process manager's signals reach the server directly. The key pair travels in the
server's own LIVEKIT_KEYS variable, never on the command line or on disk.
"""

import os
from pathlib import Path

import yaml
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

SERVICES = Path(settings.BASE_DIR) / "services"
CONFIG_TEMPLATE = SERVICES / "livekit-server.yaml"
VERSION = (SERVICES / "livekit-server.version").read_text().strip()
BUILT_BINARY = Path(settings.BASE_DIR) / ".tools" / f"livekit-server-{VERSION}" / "server"


def livekit_server_binary() -> Path:
    """``LIVEKIT_SERVER_BIN`` when set, else the one ``make livekit-server`` builds."""
    chosen = os.environ.get("LIVEKIT_SERVER_BIN")
    binary = Path(chosen) if chosen else BUILT_BINARY
    if not binary.is_file():
        if chosen:
            raise CommandError(f"LIVEKIT_SERVER_BIN names {binary}, which does not exist")
        raise CommandError(f"livekit-server {VERSION} is not built: run `make livekit-server`")
    return binary


def server_config(*, port: int, udp_port: int, webhook_url: str) -> dict:
    """The project's server configuration with this run's ports, webhook URL and key name."""
    config = yaml.safe_load(CONFIG_TEMPLATE.read_text())
    config["port"] = port
    config["rtc"]["udp_port"] = udp_port
    config["webhook"] = {"api_key": settings.LIVEKIT_API_KEY, "urls": [webhook_url]}
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

    def handle(self, *args, port: int, udp_port: int, webhook_url: str, **options):
        key, secret = settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET
        if not (key and secret):
            raise CommandError(
                "cannot start livekit-server: set LIVEKIT_API_KEY and LIVEKIT_API_SECRET"
            )
        binary = livekit_server_binary()
        config = server_config(port=port, udp_port=udp_port, webhook_url=webhook_url)
        environment = {**os.environ, "LIVEKIT_KEYS": f"{key}: {secret}"}
        environment.pop("LIVEKIT_CONFIG", None)
        self.stdout.write(
            f"livekit-server {VERSION} on ws://127.0.0.1:{port} (media UDP {udp_port}), "
            f"webhooks to {webhook_url}"
        )
        self.stdout.flush()
        arguments = [str(binary), "--config-body", yaml.safe_dump(config)]
        os.execve(binary, arguments, environment)  # noqa: S606 - a fixed binary, no shell
