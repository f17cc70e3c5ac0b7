"""The product deployed over several hosts, for the cluster tests (a pytest plugin).

The hosts are network namespaces (``tests.support.network_hosts``); each role is started on
its host as docs/deploy.md says, from the configuration files under ``deploy/`` (rendered as
``envsubst`` would render them):

- ``data``: PostgreSQL (no network address), PgBouncer, Redis with a password and MinIO, behind
  a firewall that admits the web, worker and media hosts only;
- ``media1``, ``media2``: livekit-server in distributed mode on that Redis;
- ``web1``, ``web2``: daphne, behind ``edge``: nginx terminating TLS with a certificate of a CA
  this run makes, for the site and for LiveKit's signalling;
- ``worker1``, ``worker2`` (and ``worker3``, started by a test): ``manage.py runagent start``;
- ``caller``: Chromium, which trusts the CA and reaches the edge and the media nodes only.

The LLM and speech stand-in (the scripted server) listens on the machine's own address on the
bridge, the outside world of this data centre, as OpenAI is of a real one.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.network_hosts import (
    NETWORK,
    OUTSIDE_ADDRESS,
    DataCentre,
    Host,
    namespaces_available,
)
from tests.support.scripted_llm import ScriptedLLMServer, running_in_thread

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
ARTIFACTS = ROOT / "artifacts" / "cluster"
LOGS = ARTIFACTS / "logs"
SITE = "callcenter.test"
LIVEKIT_SITE = f"livekit.{SITE}"
AGENT_NAME = "callcenter-cluster-agent"
HOSTS = {
    "edge": 2,
    "web1": 11,
    "web2": 12,
    "media1": 21,
    "media2": 22,
    "worker1": 31,
    "worker2": 32,
    "worker3": 33,
    "data": 40,
    "caller": 50,
}
WORKERS_AT_START = ("worker1", "worker2")
PHONE_LINE = "+4930123456"  # the desk's number on the cluster's SIP bridge
MEDIA = ("media1", "media2")
WEB = ("web1", "web2")
POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")
CHROMIUM = "/usr/bin/chromium"
# Calls one worker takes: small, so that each call moves a worker's load reported to LiveKit
# (an eighth), yet more than the six calls of a test spread over two workers can fill: LiveKit
# offers no job to a worker at 70 % load or more, and says "no servers available" instead.
AGENT_MAX_CALLS = 8
_PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


def render(template: Path, values: dict[str, str]) -> str:
    """``template`` with each ``${NAME}`` replaced, as ``envsubst '${NAME}…'`` does; a name
    without a value is an error, ``$name`` of nginx's own is left alone."""
    text = template.read_text()
    missing = set(_PLACEHOLDER.findall(text)) - values.keys()
    if missing:
        raise KeyError(f"{template.name} needs {sorted(missing)}")
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], text)


def write_private(path: Path, text: str, owner: str | None = None) -> Path:
    """A file only its owner reads (0600), e.g. one holding a password."""
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    if owner:
        shutil.chown(path, owner, owner)
    return path


def tail(log: Path, characters: int = 3000) -> str:
    return log.read_text(errors="replace")[-characters:] if log.exists() else "(no log)"


def wait_for_port(host: Host, port: int, process: subprocess.Popen, log: Path,
                  seconds: float = 60) -> None:  # fmt: skip
    """Until ``host`` answers on ``port`` (asked from the machine, over the bridge)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{log.stem} exited ({process.returncode}): {tail(log)}")
        try:
            with socket.create_connection((host.address, port), timeout=0.3):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{log.stem} did not listen on {host.address}:{port}: {tail(log)}")


def wait_for_line(log: Path, text: str, process: subprocess.Popen, seconds: float = 120,
                  offset: int = 0) -> None:  # fmt: skip
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace")[offset:]:
            return
        if process.poll() is not None:
            raise RuntimeError(f"{log.stem} exited ({process.returncode}): {tail(log)}")
        time.sleep(0.2)
    raise RuntimeError(f"{log.stem} never said {text!r}: {tail(log)}")


@dataclass
class Secrets:
    """This run's passwords and keys, made fresh (none is a constant of the code)."""

    postgres: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    redis: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    django: str = field(default_factory=lambda: secrets.token_urlsafe(50))
    livekit_key: str = "cluster-key"
    livekit_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    s3_user: str = "callcenter"
    s3_password: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    admin: str = field(default_factory=lambda: secrets.token_urlsafe(16))


class Cluster:
    """The running deployment: its hosts, its processes, and how to reach it."""

    def __init__(self, centre: DataCentre, models: ScriptedLLMServer, folder: Path) -> None:
        self.centre = centre
        self.models = models
        self.folder = folder  # this run's configuration, certificates and data
        self.secrets = Secrets()
        self.processes: dict[str, subprocess.Popen] = {}
        self._started: dict[str, tuple] = {}  # name → how it was started, to start it again
        self.ca_file = folder / "ca.pem"

    def __getitem__(self, host: str) -> Host:
        return self.centre[host]

    @property
    def site_url(self) -> str:
        return f"https://{SITE}"

    def log(self, name: str) -> Path:
        return LOGS / f"{name}.log"

    # --- The environment of each role ----------------------------------------------------------

    def app_environment(self, host: str) -> dict[str, str]:
        """The product's settings on a web or worker host (docs/deploy.md's table)."""
        s = self.secrets
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.folder),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",  # the tests read the access logs as they are written
            "SECRET_KEY": s.django,
            "ALLOWED_HOSTS": SITE,
            "CSRF_TRUSTED_ORIGINS": self.site_url,
            "NUM_PROXIES": "1",
            "HTTPS_ONLY": "true",
            "TRUST_X_FORWARDED_PROTO": "true",
            "DATABASE_URL": f"postgres://callcenter:{s.postgres}@data:6432/callcenter",
            "DATABASE_TRANSACTION_POOLING": "true",
            "REDIS_URL": f"redis://:{s.redis}@data:6379/0",
            # Through the edge, which balances over the media nodes that are up (any node
            # serves any room: LiveKit relays through Redis), so that a worker or web host
            # loses nothing when one of them dies.
            "LIVEKIT_URL": f"wss://{LIVEKIT_SITE}",
            "LIVEKIT_PUBLIC_URL": f"wss://{LIVEKIT_SITE}",
            "LIVEKIT_API_KEY": s.livekit_key,
            "LIVEKIT_API_SECRET": s.livekit_secret,
            "LIVEKIT_AGENT_NAME": AGENT_NAME,
            "AGENT_MAX_CALLS": str(AGENT_MAX_CALLS),
            "AGENT_IDLE_PROCESSES": "1",
            "OPENAI_BASE_URL": self.models.base_url,
            "OPENAI_API_KEY": "scripted",
            "LLM_MODEL": "scripted",
            "RECORDING_MODE": "agent",
            "RECORDING_SPOOL_DIR": str(self.folder / f"spool-{host}"),
            "SPEECH_CACHE_DIR": str(self.folder / f"speech-{host}"),
            "S3_BUCKET": "recordings",
            "S3_ENDPOINT_URL": "http://data:9000",
            "S3_REGION": "us-east-1",
            "S3_ACCESS_KEY_ID": s.s3_user,
            "S3_SECRET_ACCESS_KEY": s.s3_password,
            "S3_ADDRESSING_STYLE": "path",
            "CALL_START_RATE": "1000/minute",
            "WORKER_HEARTBEAT_SECONDS": "2",
            "LOG_LEVEL": "INFO",
            # The site's certificate is of this run's CA (Python's ssl reads this).
            "SSL_CERT_FILE": str(self.ca_file),
        }

    # --- Starting each role -------------------------------------------------------------------

    def start(self, name: str, host: str, program: list[str], env: dict[str, str],
              cwd: Path | None = None) -> subprocess.Popen:  # fmt: skip
        process = self.centre[host].start(program, env=env, log=self.log(name), cwd=cwd)
        self.processes[name] = process
        self._started[name] = (host, program, env, cwd)
        return process

    def restart(self, name: str, port: int | None) -> None:
        """Start ``name`` again as it was started; returns once it listens on ``port``."""
        host, program, env, cwd = self._started[name]
        process = self.start(name, host, program, env, cwd)
        if port is None:
            return
        # Asked on the host itself: the data host's firewall admits no one else.
        deadline = time.monotonic() + 60
        while not self.centre[host].run(["ss", "-H", "-ltn", f"sport = :{port}"]).stdout:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not listen on {port}: {tail(self.log(name))}")
            time.sleep(0.2)

    def kill(self, name: str) -> None:
        """SIGKILL ``name`` and everything it started; returns once it is gone."""
        process = self.processes[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def certificates(self) -> None:
        import trustme

        ca = trustme.CA(organization_name="Call center cluster test CA")
        ca.cert_pem.write_to_path(str(self.ca_file))
        leaf = ca.issue_cert(SITE, LIVEKIT_SITE)
        chain = self.folder / "edge.pem"
        chain.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        write_private(self.folder / "edge.key", leaf.private_key_pem.bytes().decode())
        # Chromium on Linux trusts the CAs of the NSS database in its user's home.
        nss = self.folder / "caller-home" / ".pki" / "nssdb"
        nss.mkdir(parents=True, exist_ok=True)
        subprocess.run(["certutil", "-d", f"sql:{nss}", "-N", "--empty-password"], check=True)
        subprocess.run(
            ["certutil", "-d", f"sql:{nss}", "-A", "-t", "C,,", "-n", "cluster-ca",
             "-i", str(self.ca_file)],
            check=True,
        )  # fmt: skip

    def start_data(self) -> None:
        data = self.centre["data"]
        s = self.secrets
        pg = self.folder / "postgres"
        socket_dir = self.folder / "postgres-socket"
        for folder in (pg, socket_dir):
            folder.mkdir(mode=0o700)
            shutil.chown(folder, "postgres", "postgres")
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(POSTGRES_BIN / "initdb"), "-D", str(pg),
             "--username=postgres", "--auth-local=peer", "--encoding=UTF8", "--no-instructions"],
            check=True, capture_output=True,
        )  # fmt: skip
        with (pg / "postgresql.conf").open("a") as conf:
            conf.write(render(DEPLOY / "postgresql.conf", {"POSTGRES_SOCKET_DIR": str(socket_dir)}))
        shutil.copy(DEPLOY / "pg_hba.conf", pg / "pg_hba.conf")
        postgres = self.start(
            "postgres", "data",
            ["runuser", "-u", "postgres", "--", str(POSTGRES_BIN / "postgres"), "-D", str(pg)],
            env={"PATH": os.environ["PATH"], "LANG": "C.UTF-8"},
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not (socket_dir / ".s.PGSQL.5432").exists():
            if postgres.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not start: {tail(self.log('postgres'))}")
            time.sleep(0.1)
        # The app's role and database, its password given on standard input (never argv).
        data.run(
            ["runuser", "-u", "postgres", "--", "psql", "-h", str(socket_dir), "-v",
             "ON_ERROR_STOP=1", "-q", "-f", "-"],
            input=f"CREATE ROLE callcenter LOGIN PASSWORD '{s.postgres}';\n"
            "CREATE DATABASE callcenter OWNER callcenter;\n",
        )  # fmt: skip
        config = self.folder / "data-config"
        config.mkdir()
        values = {
            "DATA_ADDRESS": data.address,
            "POSTGRES_SOCKET_DIR": str(socket_dir),
            "CONFIG_DIR": str(config),
            "APP_NETWORK": str(NETWORK),
            "REDIS_PASSWORD": s.redis,
            "REDIS_DIR": str(self.folder / "redis"),
        }
        (self.folder / "redis").mkdir()
        (config / "pgbouncer.ini").write_text(render(DEPLOY / "pgbouncer.ini", values))
        (config / "pgbouncer_hba.conf").write_text(render(DEPLOY / "pgbouncer_hba.conf", values))
        write_private(config / "pgbouncer_users.txt", f'"callcenter" "{s.postgres}"\n')
        pgbouncer = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        process = self.start(
            "pgbouncer", "data", [pgbouncer, "-u", "postgres", str(config / "pgbouncer.ini")],
            env={"PATH": os.environ["PATH"]},
        )  # fmt: skip
        wait_for_port(data, 6432, process, self.log("pgbouncer"))
        redis_conf = write_private(config / "redis.conf", render(DEPLOY / "redis.conf", values))
        process = self.start("redis", "data", ["redis-server", str(redis_conf)],
                             env={"PATH": os.environ["PATH"]})  # fmt: skip
        wait_for_port(data, 6379, process, self.log("redis"))
        from callcenter.pinned_tools import MINIO

        storage = self.folder / "minio"
        storage.mkdir()
        process = self.start(
            "minio", "data",
            [str(MINIO.binary()), "server", str(storage), "--address", f"{data.address}:9000",
             "--quiet"],
            env={
                "PATH": os.environ["PATH"],
                "HOME": str(storage),
                "MINIO_ROOT_USER": s.s3_user,
                "MINIO_ROOT_PASSWORD": s.s3_password,
                "MINIO_BROWSER": "off",
                "MINIO_UPDATE": "off",
            },
        )  # fmt: skip
        wait_for_port(data, 9000, process, self.log("minio"))
        allowed = [self.centre[h].address for h in (*WEB, *MEDIA, "worker1", "worker2",
                                                    "worker3")]  # fmt: skip
        data.run(["sh", str(DEPLOY / "data-firewall.sh"), *allowed])

    def start_media(self) -> None:
        for name in MEDIA:
            host = self.centre[name]
            config = self.folder / f"livekit-{name}.yaml"
            config.write_text(
                render(
                    DEPLOY / "livekit-server.yaml",
                    {
                        "NODE_IP": host.address,
                        "CALLCENTER_URL": self.site_url,
                        "LIVEKIT_API_KEY": self.secrets.livekit_key,
                    },
                )
            )
            from callcenter.pinned_tools import LIVEKIT_SERVER

            self.start(
                name, name,
                [str(LIVEKIT_SERVER.binary()), "--config", str(config), "--bind", host.address],
                env={
                    "PATH": os.environ["PATH"],
                    "HOME": str(self.folder),
                    "LIVEKIT_KEYS": f"{self.secrets.livekit_key}: {self.secrets.livekit_secret}",
                    "REDIS_HOST": "data:6379",
                    "REDIS_PASSWORD": self.secrets.redis,
                    "SSL_CERT_FILE": str(self.ca_file),  # its webhooks go to the edge
                },
            )  # fmt: skip
        for name in MEDIA:
            wait_for_port(self.centre[name], 7880, self.processes[name], self.log(name))

    def start_sip(self) -> None:
        """livekit-sip beside livekit-server on media1, and the desk's phone line provisioned
        on it through web1 (its trunk admits the caller host's address only)."""
        from callcenter.pinned_tools import LIVEKIT_SIP

        media = self.centre["media1"]
        config = write_private(
            self.folder / "livekit-sip.yaml",
            render(
                DEPLOY / "livekit-sip.yaml",
                {
                    "NODE_IP": media.address,
                    "LIVEKIT_WS_URL": "ws://media1:7880",
                    "REDIS_PASSWORD": self.secrets.redis,
                    "MAX_CPU_UTILIZATION": "1.0",
                },
            ),
        )
        self.start(
            "livekit-sip", "media1", [str(LIVEKIT_SIP.binary()), "--config", str(config)],
            env={
                "PATH": os.environ["PATH"],
                "HOME": str(self.folder),
                "LIVEKIT_API_KEY": self.secrets.livekit_key,
                "LIVEKIT_API_SECRET": self.secrets.livekit_secret,
            },
        )  # fmt: skip
        wait_for_line(
            self.log("livekit-sip"), "sip signaling listening", self.processes["livekit-sip"], 60
        )
        self.manage(
            "web1", "shell", "-c",
            "from telephony.models import PhoneLine; from telephony import provisioning; "
            f"provisioning.provision(PhoneLine(number='{PHONE_LINE}', name='Service desk', "
            f"allowed_addresses='{self.centre['caller'].address}')).save()",
        )  # fmt: skip

    def manage(self, host: str, *arguments: str, **options) -> subprocess.CompletedProcess:
        """``manage.py`` on a web host, as a deployment step (migrate, createsuperuser)."""
        env = {**self.app_environment(host), **options.pop("env", {})}
        return self.centre[host].run(
            [sys.executable, "manage.py", *arguments], env=env, cwd=ROOT, **options
        )

    def start_web(self) -> None:
        self.manage("web1", "migrate", "--noinput")
        self.manage(
            "web1", "createsuperuser", "--noinput", "--username", "supervisor",
            "--email", "supervisor@example.com",
            env={"DJANGO_SUPERUSER_PASSWORD": self.secrets.admin},
        )  # fmt: skip
        self.manage(
            "web1", "shell", "-c",
            "import boto3, os; boto3.client('s3', endpoint_url=os.environ['S3_ENDPOINT_URL'], "
            "region_name='us-east-1', aws_access_key_id=os.environ['S3_ACCESS_KEY_ID'], "
            "aws_secret_access_key=os.environ['S3_SECRET_ACCESS_KEY'])"
            ".create_bucket(Bucket='recordings')",
        )  # fmt: skip
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
            cwd=ROOT, env={**os.environ, **self.app_environment("web1")}, check=True,
        )  # fmt: skip
        for name in WEB:
            host = self.centre[name]
            self.start(
                name, name,
                [sys.executable, "-m", "daphne", "-b", host.address, "-p", "8000",
                 "config.asgi:application"],
                env=self.app_environment(name), cwd=ROOT,
            )  # fmt: skip
        for name in WEB:
            wait_for_port(self.centre[name], 8000, self.processes[name], self.log(name))

    def start_edge(self) -> None:
        edge = self.centre["edge"]
        run = self.folder / "edge"
        run.mkdir()
        config = run / "nginx.conf"
        config.write_text(
            render(
                DEPLOY / "nginx.conf",
                {
                    "EDGE_ADDRESS": edge.address,
                    "SITE_NAME": SITE,
                    "LIVEKIT_NAME": LIVEKIT_SITE,
                    "WEB_SERVERS": " ".join(f"server {name}:8000;" for name in WEB),
                    "MEDIA_SERVERS": " ".join(f"server {name}:7880;" for name in MEDIA),
                    "TLS_CERTIFICATE": str(self.folder / "edge.pem"),
                    "TLS_KEY": str(self.folder / "edge.key"),
                    "RUN_DIR": str(run),
                },
            )
        )
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        process = self.start("edge", "edge", [nginx, "-c", str(config), "-g", "daemon off;"],
                             env={"PATH": os.environ["PATH"]})  # fmt: skip
        wait_for_port(edge, 443, process, self.log("edge"))

    def start_worker(self, name: str) -> subprocess.Popen:
        """``runagent start`` on ``name``'s host; returns once LiveKit registered it."""
        log = self.log(name)
        offset = log.stat().st_size if log.exists() else 0
        process = self.start(
            name, name, [sys.executable, "manage.py", "runagent", "start"],
            env=self.app_environment(name), cwd=ROOT,
        )  # fmt: skip
        wait_for_line(log, "registered worker", process, offset=offset)
        return process

    def isolate_caller(self) -> None:
        """The caller host reaches the edge and the media nodes only, as a caller on the
        internet does: nothing of the private network behind them."""
        caller = self.centre["caller"]
        caller.firewall("-A", "OUTPUT", "-o", "lo", "-j", "ACCEPT")
        for host in ("edge", *MEDIA):
            caller.firewall("-A", "OUTPUT", "-d", self.centre[host].address, "-j", "ACCEPT")
        caller.firewall("-A", "OUTPUT", "-j", "REJECT")

    def lose_packets(self, percent: float) -> None:
        """Drop ``percent`` % of the caller host's packets each way, at random (iptables'
        statistic match: this machine's kernel has no netem)."""
        for chain in ("INPUT", "OUTPUT"):
            self.centre["caller"].firewall(
                "-I", chain, "1", "-m", "statistic", "--mode", "random",
                "--probability", str(percent / 100), "-j", "DROP",
            )  # fmt: skip

    def stop_worker(self, name: str, *, drain: bool = True) -> None:
        """SIGTERM (a drain: running calls end first) or SIGKILL for the worker on ``name``."""
        process = self.processes[name]
        if drain:
            process.send_signal(signal.SIGTERM)
        else:
            os.killpg(process.pid, signal.SIGKILL)

    def lose_web_host(self, name: str) -> None:
        """A web host dies: its cable is pulled first (its peers are told nothing), then its
        daphne is killed."""
        self.centre[name].set_link(False)
        self.kill(name)

    def restore_web_host(self, name: str) -> None:
        self.centre[name].set_link(True)
        if not self.running(name):
            self.restart(name, 8000)

    def lose_media_host(self, name: str) -> None:
        """A media host dies: its cable is pulled, then its servers are killed (livekit-server,
        and on media1 livekit-sip)."""
        self.centre[name].set_link(False)
        for process in self._on_host(name):
            self.kill(process)

    def restore_media_host(self, name: str) -> None:
        self.centre[name].set_link(True)
        if not self.running(name):
            self.restart(name, 7880)
        if "livekit-sip" in self._on_host(name) and not self.running("livekit-sip"):
            log = self.log("livekit-sip")
            offset = log.stat().st_size
            self.restart("livekit-sip", None)
            wait_for_line(log, "sip signaling listening", self.processes["livekit-sip"], 60,
                          offset=offset)  # fmt: skip

    def _on_host(self, host: str) -> list[str]:
        return [name for name, started in self._started.items() if started[0] == host]

    def restart_redis(self, down_seconds: float = 2) -> None:
        """Redis is killed and started again, with what its append-only file kept."""
        self.kill("redis")
        time.sleep(down_seconds)
        self.restart("redis", 6379)

    @contextmanager
    def database_unreachable(self) -> Iterator[None]:
        """Within the block no packet reaches PgBouncer, the database's door: connections
        made before hang, new ones are never answered."""
        rule = ("INPUT", "-p", "tcp", "--dport", "6432", "-j", "DROP")
        data = self.centre["data"]
        data.firewall("-I", rule[0], "1", *rule[1:])
        try:
            yield
        finally:
            data.firewall("-D", *rule)

    def running(self, name: str) -> bool:
        process = self.processes.get(name)
        return process is not None and process.poll() is None

    def edge_access_log(self) -> str:
        return (self.folder / "edge" / "access.log").read_text(errors="replace")

    def chromium_on_caller(self) -> Path:
        """An executable that runs Chromium on the caller host, trusting this run's CA (what
        Playwright launches as the browser)."""
        program = self.centre["caller"].command([CHROMIUM])
        script = self.folder / "chromium-on-caller"
        home = self.folder / "caller-home"
        script.write_text(
            f'#!/bin/sh\nexport HOME={shlex.quote(str(home))}\nexec {shlex.join(program)} "$@"\n'
        )
        script.chmod(0o755)
        return script

    def stop(self) -> None:
        self.centre.close()


def cluster_unavailable() -> str:
    """ "" when this machine can run the cluster, else what is missing (one line)."""
    problem = namespaces_available()
    if problem:
        return problem
    missing = [
        tool for tool in ("nginx", "iptables", "certutil", "unshare", "redis-server")
        if not (shutil.which(tool) or Path("/usr/sbin", tool).exists())
    ]  # fmt: skip
    if not (POSTGRES_BIN / "initdb").exists():
        missing.append("PostgreSQL 15's initdb")
    if missing:
        return f"the cluster needs {', '.join(missing)} (make test installs them)"
    try:
        from callcenter.pinned_tools import LIVEKIT_SERVER, MINIO

        LIVEKIT_SERVER.binary()
        MINIO.binary()
    except Exception as error:
        return str(error)
    return ""


@contextmanager
def running_cluster() -> Iterator[Cluster]:
    """The product over ten hosts, with its first two workers; removed at the end (and by the
    reaper when the process dies)."""
    LOGS.mkdir(parents=True, exist_ok=True)
    for old in LOGS.glob("*.log"):
        old.unlink()
    folder = Path(tempfile.mkdtemp(prefix="callcenter-cluster-"))
    folder.chmod(0o755)  # PostgreSQL's user reaches its folders inside
    centre = DataCentre(HOSTS, {SITE: "edge", LIVEKIT_SITE: "edge"}, folder / "net")
    models = ScriptedLLMServer([], host=OUTSIDE_ADDRESS)
    try:
        with running_in_thread(models):
            cluster = Cluster(centre, models, folder)
            cluster.certificates()
            cluster.start_data()
            cluster.start_media()
            cluster.start_web()
            cluster.start_edge()  # the app hosts reach LiveKit through it
            cluster.start_sip()
            for name in WORKERS_AT_START:
                cluster.start_worker(name)
            cluster.isolate_caller()
            yield cluster
    finally:
        centre.close()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """The product over ten hosts, started once for the cluster tests."""
    from tests.services import IN_CI

    problem = cluster_unavailable()
    if problem:
        reason = f"cluster tests need network namespaces and their servers: {problem}"
        pytest.fail(reason) if IN_CI else pytest.skip(reason)
    with running_cluster() as running:
        yield running
