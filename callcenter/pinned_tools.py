"""The programs this project pins and builds into ``.tools/`` (livekit-server, livekit-sip,
MinIO): where each one is, its configuration template, Redis as they both read it, and
what each process is given to start with.

Every local user can read a process's command line, so neither program gets a secret there:
the configuration (with the Redis password) and the key pair travel in its environment, which
only its owner can read, and that environment holds nothing else of the web app's
(``SECRET_KEY``, ``DATABASE_URL``, the OpenAI and S3 keys)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from django.conf import settings
from django.core.management.base import CommandError

SERVICES = Path(settings.BASE_DIR) / "services"


@dataclass(frozen=True)
class PinnedTool:
    name: str  # also its make target and the stem of its files under services/
    executable: str  # the file `go build` makes
    override: str  # the environment variable naming a binary of one's own

    @property
    def version(self) -> str:
        return (SERVICES / f"{self.name}.version").read_text().strip()

    @property
    def config_template(self) -> Path:
        return SERVICES / f"{self.name}.yaml"

    def binary(self) -> Path:
        """The ``override`` binary when set, else the one ``make <name>`` builds."""
        chosen = os.environ.get(self.override)
        built = Path(settings.BASE_DIR) / ".tools" / f"{self.name}-{self.version}"
        binary = Path(chosen) if chosen else built / self.executable
        if not binary.is_file():
            if chosen:
                raise CommandError(f"{self.override} names {binary}, which does not exist")
            raise CommandError(f"{self.name} {self.version} is not built: run `make {self.name}`")
        return binary


LIVEKIT_SERVER = PinnedTool("livekit-server", "server", "LIVEKIT_SERVER_BIN")
LIVEKIT_SIP = PinnedTool("livekit-sip", "livekit-sip", "LIVEKIT_SIP_BIN")
# The S3 server a self-hosting deployment runs on its data host (docs/deploy.md); the cluster
# tests store the recordings in it.
MINIO = PinnedTool("minio", "minio", "MINIO_BIN")


# What a LiveKit program inherits from the environment: enough to run, nothing of the app's.
INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")


def program_environment(**own: str) -> dict[str, str]:
    """The environment of a LiveKit program: the basics it inherits, and ``own``."""
    inherited = {name: os.environ[name] for name in INHERITED if name in os.environ}
    return {**inherited, **own}


def livekit_redis_url(given: str | None, *, fallback: str = "") -> str:
    """The Redis a LiveKit program shares: ``given`` on the command line ("" for none; never
    with a password, which a command line shows every local user), else ``LIVEKIT_REDIS_URL``
    in the environment, else ``fallback``."""
    if given is not None:
        if urlparse(given).password:
            raise CommandError(
                "a Redis password on the command line is readable by every local user: "
                "set LIVEKIT_REDIS_URL in the environment instead of --redis-url"
            )
        return given
    return os.environ.get("LIVEKIT_REDIS_URL") or fallback


def redis_address(url: str) -> dict:
    """LiveKit's ``redis`` configuration (server and SIP bridge alike) for a redis:// URL."""
    parsed = urlparse(url)
    address: dict = {"address": f"{parsed.hostname or '127.0.0.1'}:{parsed.port or 6379}"}
    if parsed.password:
        address["password"] = parsed.password
    if parsed.path.strip("/"):
        address["db"] = int(parsed.path.strip("/"))
    return address
