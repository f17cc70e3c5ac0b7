"""The agent worker's job processes: what they share with the forkserver they are forked from
(``agentworker/preload.py``), and how many the worker keeps started and prewarmed for the next
calls (``AGENT_IDLE_PROCESSES``, on the real livekit-server)."""

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.support.scripted_llm import Reply, ScriptedLLMServer, ToolCall, running_in_thread
from tests.support.voice_stack import ServerProcess, start_and_wait_registered

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_call_imports_nothing_the_worker_has_not_preloaded():
    """What a job imports itself is private to it (~10 MB per call when the OpenAI client,
    its HTTP transport and the Redis layer were imported on the first request)."""
    from tests.conftest import test_database_url  # (imported here, pytest would collect it)

    script = [
        Reply(tool_calls=[ToolCall("lookup_vehicle", {"vin": "1HGCM82633A004352"})]),
        Reply(text="I could not find that vehicle."),
    ]
    server = ScriptedLLMServer(script)
    with running_in_thread(server):
        result = subprocess.run(
            [sys.executable, "-m", "tests.support.job_imports"],
            cwd=ROOT,
            env={
                **os.environ,
                "DATABASE_URL": test_database_url(),
                "OPENAI_BASE_URL": server.base_url,
                "OPENAI_API_KEY": "scripted",
            },
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(server.requests) == 2  # the call ran: the tool's request and the answer's
    imported = result.stdout.split()
    assert imported == [], f"a call imported {imported}: preload them (agentworker/preload.py)"


def job_processes(worker: ServerProcess) -> list[psutil.Process]:
    """The worker's job processes: what its multiprocessing forkserver has forked."""
    forkservers = [
        child
        for child in psutil.Process(worker.process.pid).children()
        if "multiprocessing.forkserver" in " ".join(child.cmdline())
    ]
    return [job for forkserver in forkservers for job in forkserver.children()]


@pytest.mark.e2e
@pytest.mark.slow
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
