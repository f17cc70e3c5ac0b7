"""The agent worker's job processes, on the real livekit-server: how many it keeps started and
prewarmed (models loaded) for the next calls (``AGENT_IDLE_PROCESSES``)."""

import sys
import time

import psutil
import pytest

from tests.support.voice_stack import ServerProcess, start_and_wait_registered

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def job_processes(worker: ServerProcess) -> list[psutil.Process]:
    """The worker's job processes: what its multiprocessing forkserver has forked."""
    forkservers = [
        child
        for child in psutil.Process(worker.process.pid).children()
        if "multiprocessing.forkserver" in " ".join(child.cmdline())
    ]
    return [job for forkserver in forkservers for job in forkserver.children()]


def test_the_worker_keeps_as_many_prewarmed_job_processes_as_configured(voice_stack, tmp_path):
    # `dev` keeps none by default (livekit-agents' own default), so three come from the setting.
    worker = ServerProcess(
        "worker with idle processes",
        [sys.executable, "manage.py", "runagent", "dev"],
        {
            **voice_stack.worker.env,
            "AGENT_IDLE_PROCESSES": "3",
            "LIVEKIT_AGENT_NAME": "idle-processes-test",  # no call is dispatched to it
        },
        tmp_path / "worker.log",
    )
    try:
        start_and_wait_registered(worker)
        deadline = time.monotonic() + 60
        while len(job_processes(worker)) < 3 and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(2)  # and no more than that once they are up
        assert len(job_processes(worker)) == 3, worker.log.read_text()[-3000:]
    finally:
        worker.stop()
