"""The parts of an agent job wired as the worker's entrypoint wires them, for text-mode tests
and benchmarks (no room): the call's writer, a quiet agent (it waits for the caller instead
of greeting), the session, and SessionEvents on the session."""

from contextlib import asynccontextmanager

from livekit.agents import AgentSession
from livekit.plugins import openai

from agentworker.agent import ServiceDeskAgent
from agentworker.call_job import CallJob
from agentworker.session_events import SessionEvents
from agentworker.writer import CallWriter
from callcenter.models import Call
from tests.support.scripted_llm import ScriptedLLMServer


def text_mode_job(call, writer, session, **agent_options) -> tuple[CallJob, SessionEvents]:
    """The job of ``call`` on ``session``; start the session with ``job.agent``."""
    agent_options.setdefault("greets", False)
    job = CallJob(call, writer, ServiceDeskAgent(writer, **agent_options), session)
    events = SessionEvents(job)
    events.attach()
    return job, events


@asynccontextmanager
async def agent_call(script, tools_for=None, **call_fields):
    """A call with its writer, events, agent and text-mode session on the scripted LLM:
    yields (session, call, server, writer, events). ``tools_for(call)``: the agent's tools
    beside the desk's own, as a coroutine."""
    call = await Call.objects.acreate(**call_fields)
    tools = await tools_for(call) if tools_for else None
    async with ScriptedLLMServer(script) as server:
        writer = await CallWriter.open(call.pk)
        model = openai.LLM(model="scripted", base_url=server.base_url, api_key="test")
        async with AgentSession(llm=model) as session:
            job, events = text_mode_job(call, writer, session, tools=tools)
            await session.start(job.agent)
            yield session, call, server, writer, events
        await writer.close()


def tool_outputs(request_body) -> list[str]:
    """What the tools answered, in the order the model read them in this request."""
    return [m["content"] for m in request_body["messages"] if m["role"] == "tool"]
