"""Loaded at start by every Python process the end-to-end stack runs with this folder on
PYTHONPATH (the worker, its forkserver and its job processes): appends each host name looked
up and each address connected to to ``$OUTBOUND_HOSTS_LOG``, so that a test can prove a job
talks only to the servers the deployment configured. An audit hook sees every thread and
every library that uses Python's sockets (aiohttp, httpx, websockets, psycopg's resolver)."""

import os
import sys

_LOG = os.environ.get("OUTBOUND_HOSTS_LOG")


def _record(event: str, args: tuple) -> None:
    if event == "socket.getaddrinfo":
        host = args[0]
    elif event == "socket.connect" and isinstance(args[1], tuple):  # not a Unix socket
        host = args[1][0]
    else:
        return
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if host:
        with open(_LOG, "a") as log:
            log.write(f"{os.getpid()} {event} {host}\n")


if _LOG:
    sys.addaudithook(_record)
