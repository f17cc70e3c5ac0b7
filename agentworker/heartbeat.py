"""The worker tells the web app that it is registered with LiveKit (``WorkerHeartbeat``),
every ``WORKER_HEARTBEAT_SECONDS`` from its registration on, so that a caller hears at once
when no worker could answer them. A worker that stops stops beating; after three beats'
time the web app no longer counts on it."""

from __future__ import annotations

import asyncio
import logging
import socket

from asgiref.sync import sync_to_async
from django.db import close_old_connections

from callcenter.models import WorkerHeartbeat

logger = logging.getLogger(__name__)


def _beat(worker_id: str, agent_name: str, host: str) -> None:
    close_old_connections()  # a connection the database dropped meanwhile is opened anew
    WorkerHeartbeat.beat(worker_id, agent_name, host)


async def keep_beating(worker_id: str, agent_name: str, every: float) -> None:
    """Say the worker is there, every ``every`` seconds, until cancelled; a database away
    for a while costs beats, never the worker."""
    host = socket.gethostname()
    while True:
        try:
            await sync_to_async(_beat)(worker_id, agent_name, host)
        except Exception:
            logger.warning("worker %s: heartbeat not stored", worker_id, exc_info=True)
        await asyncio.sleep(every)


class Heartbeat:
    """Beats for the worker's current registration (LiveKit gives a new worker id when the
    worker registers again after a lost connection)."""

    def __init__(self, agent_name: str) -> None:
        self.agent_name = agent_name
        self.task: asyncio.Task | None = None

    def attach(self, server) -> None:
        server.on("worker_registered", self.registered)

    def registered(self, worker_id: str, _server_info=None) -> None:
        if self.task is not None:
            self.task.cancel()
        every = WorkerHeartbeat.every().total_seconds()
        self.task = asyncio.get_running_loop().create_task(
            keep_beating(worker_id, self.agent_name, every)
        )
