"""The parts of an agent job wired as the worker's entrypoint wires them, for text-mode tests
and benchmarks (no room): the call's writer, a quiet agent (it waits for the caller instead
of greeting), the session, and the recorder on the session's events."""

from agentworker.agent import ServiceDeskAgent
from agentworker.call_job import CallJob
from agentworker.recorder import CallRecorder


def text_mode_job(call, writer, session, **agent_options) -> tuple[CallJob, CallRecorder]:
    """The job of ``call`` on ``session``; start the session with ``job.agent``."""
    agent_options.setdefault("greets", False)
    job = CallJob(call, writer, ServiceDeskAgent(writer, **agent_options), session)
    recorder = CallRecorder(job)
    recorder.attach()
    return job, recorder
