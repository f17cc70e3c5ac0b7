"""Hosts as Linux network namespaces: a small data centre on one machine for the cluster tests.

Each host is a network namespace (``ip netns``) joined to one bridge by a veth pair, with its
own address in a private /24 that this checkout chooses, its own host name (a UTS namespace)
and the data centre's name table mounted as its ``/etc/hosts`` (a mount namespace of each
process), so that programs find each other by name as on real hosts. The machine itself
keeps the bridge's first address: it plays the outside world the product may reach (the
LLM and speech servers, which are remote in production).

Everything is named after the checkout (``cc<id>-<host>``); ``remove_leftovers`` deletes what
an earlier run left, and ``Reaper`` removes the data centre when the test process dies, even
by SIGKILL: a killed run leaves no namespace, bridge or server behind.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.services import CHECKOUT_ID

PREFIX = f"cc{CHECKOUT_ID[:6]}"
BRIDGE = f"{PREFIX}br"
# A /24 of 10.0.0.0/8 of this checkout's own (two checkouts on one machine differ).
_NUMBER = int(CHECKOUT_ID, 16)
NETWORK = ipaddress.ip_network(f"10.{200 + _NUMBER % 50}.{_NUMBER // 50 % 250}.0/24")
OUTSIDE_ADDRESS = str(NETWORK[1])  # the machine itself, on the bridge

# Runs a program inside a host: its host name, its /etc/hosts, then the program.
_ENTER = 'hostname "$0" && mount --bind "$1" /etc/hosts && shift && exec "$@"'


def ip(*arguments: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *arguments], capture_output=True, text=True, check=check)


def namespaces_available() -> str:
    """ "" when this machine can make network namespaces, else why not (one line)."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    probe = f"{PREFIX}probe"
    made = ip("netns", "add", probe, check=False)
    if made.returncode:
        return f"ip netns add failed: {made.stderr.strip()}"
    ip("netns", "del", probe, check=False)
    return ""


def namespaces_of_this_checkout() -> list[str]:
    listed = ip("netns", "list", check=False).stdout.split("\n")
    return [line.split()[0] for line in listed if line.startswith(f"{PREFIX}-")]


def kill_everything_in(namespace: str) -> None:
    pids = ip("netns", "pids", namespace, check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    deadline = time.monotonic() + 10
    while ip("netns", "pids", namespace, check=False).stdout.strip():
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)


def remove_leftovers() -> None:
    """Every namespace (and its processes) and the bridge of this checkout, if any."""
    for namespace in namespaces_of_this_checkout():
        kill_everything_in(namespace)
        ip("netns", "del", namespace, check=False)
    ip("link", "del", BRIDGE, check=False)
    # A deleted namespace lives on while the kernel still holds one of its sockets (closing
    # TCP connections), and its veth pair with it: deleting our end removes both.
    for line in ip("-br", "link", check=False).stdout.splitlines():
        name = line.split()[0].split("@")[0] if line.strip() else ""
        if name.startswith(f"{PREFIX}v"):
            ip("link", "del", name, check=False)


class Reaper:
    """A process of its own session that removes the data centre when the test process ends,
    however it ends: it waits for the end of a pipe that only the test process holds."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.network_hosts"],
            stdin=subprocess.PIPE,
            cwd=Path(__file__).resolve().parents[2],
            start_new_session=True,
        )

    def close(self) -> None:
        if self._process.stdin:
            self._process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=60)


@dataclass
class Host:
    """One host: a network namespace with one address on the bridge."""

    name: str
    address: str
    hosts_file: Path
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def namespace(self) -> str:
        return f"{PREFIX}-{self.name}"

    def command(self, program: list[str]) -> list[str]:
        """``program`` as run on this host."""
        return [
            "ip", "netns", "exec", self.namespace,
            "unshare", "--uts", "--mount", "--propagation", "private",
            "sh", "-c", _ENTER, self.name, str(self.hosts_file), *program,
        ]  # fmt: skip

    def run(self, program: list[str], **options) -> subprocess.CompletedProcess:
        """Run ``program`` on this host to its end (``check`` and output captured)."""
        options.setdefault("capture_output", True)
        options.setdefault("text", True)
        options.setdefault("check", True)
        return subprocess.run(self.command(program), **options)

    def start(self, program: list[str], *, env: dict[str, str], log: Path,
              cwd: Path | None = None) -> subprocess.Popen:  # fmt: skip
        """Start a server on this host, in a process group of its own, logging to ``log``."""
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as output:
            process = subprocess.Popen(
                self.command(program),
                env=env,
                cwd=cwd,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    def firewall(self, *rule: str) -> None:
        """Add an iptables rule on this host (``-A OUTPUT -p udp -j DROP``...)."""
        subprocess.run(["ip", "netns", "exec", self.namespace, "iptables", *rule], check=True)

    def flush_firewall(self) -> None:
        subprocess.run(["ip", "netns", "exec", self.namespace, "iptables", "-F"], check=True)

    def set_link(self, up: bool) -> None:
        """Plug this host's cable in or pull it: down, nothing reaches it or leaves it, and
        nobody is told (no reset, no FIN), as when a host loses power."""
        ip("netns", "exec", self.namespace, "ip", "link", "set", "eth0", "up" if up else "down")


class DataCentre:
    """The bridge and the hosts on it; ``close`` removes them and every process in them."""

    def __init__(self, hosts: dict[str, int], names: dict[str, str], folder: Path) -> None:
        """``hosts``: name → the last number of its address; ``names``: extra names → host
        (e.g. the site's public name → the edge) in every host's name table."""
        remove_leftovers()
        self.reaper = Reaper()
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        hosts_file = folder / "hosts"
        self.hosts = {
            name: Host(name, str(NETWORK[number]), hosts_file) for name, number in hosts.items()
        }
        lines = ["127.0.0.1 localhost", f"{OUTSIDE_ADDRESS} outside"]
        lines += [f"{host.address} {host.name}" for host in self.hosts.values()]
        lines += [f"{self.hosts[host].address} {name}" for name, host in names.items()]
        hosts_file.write_text("\n".join(lines) + "\n")
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _build(self) -> None:
        prefix = NETWORK.prefixlen
        ip("link", "add", BRIDGE, "type", "bridge")
        ip("addr", "add", f"{OUTSIDE_ADDRESS}/{prefix}", "dev", BRIDGE)
        ip("link", "set", BRIDGE, "up")
        for number, host in enumerate(self.hosts.values()):
            outer = f"{PREFIX}v{number}"
            ip("netns", "add", host.namespace)
            ip("link", "add", outer, "type", "veth", "peer", "name", "eth0",
               "netns", host.namespace)  # fmt: skip
            ip("link", "set", outer, "master", BRIDGE, "up")
            inside = ("netns", "exec", host.namespace, "ip")
            ip(*inside, "addr", "add", f"{host.address}/{prefix}", "dev", "eth0")
            ip(*inside, "link", "set", "eth0", "up")
            ip(*inside, "link", "set", "lo", "up")

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def close(self) -> None:
        for host in self.hosts.values():
            for process in host.processes:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for host in self.hosts.values():
            for process in host.processes:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
        remove_leftovers()
        self.reaper.close()


if __name__ == "__main__":  # the Reaper: wait for the test process to go, then clean up
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.stdin.buffer.read()
    remove_leftovers()
