"""The conversation evals' harness: scripted callers talk to the real agent in text mode, with
its real tools on a test database, and each scenario checks the tools the model used
(livekit-agents' ``RunResult.expect``) and judges what it said against an intent.

The model is the configured LLM (``OPENAI_API_KEY`` or ``OPENAI_BASE_URL``, ``LLM_MODEL``;
intents judged by ``REVIEW_MODEL``, else the same model). With ``EVALS_STAND_IN=1`` it is
the scripted stand-in playing each scenario's replies (``desk.stand_in``), and its judge
passes a message only when it holds the words the scenario names: that proves the harness
and the tools, not the model. ``make evals`` prints a pass table and each failure's
transcript.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
from django.conf import settings
from livekit.agents import AgentSession
from livekit.agents.voice.run_result import RunResult

from agentworker.pipeline import build_llm
from agentworker.writer import CallWriter
from appointments import booking
from appointments.models import ServiceType
from callcenter.models import Call
from tests.conftest import close_connections_of_the_async_orm_thread  # noqa: F401
from tests.support.agent_job import text_mode_job
from tests.support.scripted_llm import Reply, ScriptedLLMServer, ToolCall
from tests.support.workshop import at, next_weekday, open_workshop
from vehicles.models import Vehicle

STAND_IN = os.environ.get("EVALS_STAND_IN") == "1"
NEEDS = "make evals needs OPENAI_API_KEY or OPENAI_BASE_URL (or EVALS_STAND_IN=1)"

ACCORD = "1HGCM82633A004352"  # Ana's, on file
CIVIC = "2HGES16505H591234"  # Ben's, on file
GOLF = "WVWZZZ1KZAW000123"  # a European VIN (no check digit), not on file
ALTIMA = "1N4AL3AP4DC295509"  # a North American VIN, not on file


def pytest_configure(config):
    if not STAND_IN and not (os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL")):
        raise pytest.UsageError(NEEDS)


# --- The stand-in --------------------------------------------------------------------------

TEST_JUDGE = "You are a test evaluator for conversational agents."


@dataclass
class StandIn:
    """The scripted model: the scenario's replies in order, and a judge that passes a message
    holding every word the scenario said to look for."""

    replies: list[Reply | Callable[[dict], Reply]] = field(default_factory=list)
    looks_for: list[str] = field(default_factory=list)

    def answer(self, request: dict) -> Reply:
        messages = request["messages"]
        if str(messages[0].get("content", "")).startswith(TEST_JUDGE):
            message = str(messages[-1]["content"]).split("Message:", 1)[-1]
            missing = [words for words in self.looks_for if words.lower() not in message.lower()]
            verdict = {"success": not missing, "reason": f"missing: {missing}" if missing else ""}
            return Reply(tool_calls=[ToolCall("check_intent", verdict)])
        if not self.replies:
            return Reply(text="(the stand-in has no reply scripted for this turn)")
        reply = self.replies.pop(0)
        return reply(request) if callable(reply) else reply


# --- The desk a scenario talks to ------------------------------------------------------------


class Desk:
    """One call to the agent: ``say`` a caller's turn, check its RunResult, ``judge`` what
    the agent answered."""

    def __init__(self, call, session, writer, stand_in: StandIn | None, judge_model) -> None:
        self.call, self.session, self.writer = call, session, writer
        self._stand_in, self._judge_model = stand_in, judge_model

    def stand_in(self, *replies: Reply | Callable[[dict], Reply]) -> None:
        """What a good model answers to the next turn: played by the stand-in only."""
        if self._stand_in is not None:
            self._stand_in.replies.extend(replies)

    async def say(self, text: str) -> RunResult:
        return await self.session.run(user_input=text)

    async def say_until(self, tool: str, *turns: str) -> RunResult:
        """Say ``turns`` one by one until the agent uses ``tool`` (a model may first read
        back or confirm what it heard): the turn in which it did, else the last."""
        for text in turns:
            result = await self.say(text)
            if any(e.type == "function_call" and e.item.name == tool for e in result.events):
                break
        return result

    async def judge(self, result: RunResult, intent: str, *, looks_for: tuple[str, ...] = ()):
        """The agent's answer in ``result`` fulfils ``intent`` (the stand-in's judge: holds
        every one of ``looks_for``)."""
        if self._stand_in is not None:
            self._stand_in.looks_for = list(looks_for)
        # What the agent said last in the turn (it may have read something back first).
        await result.expect[-1].is_message(role="assistant").judge(self._judge_model, intent=intent)

    async def stored(self) -> Call:
        await self.writer.flush()
        return await Call.objects.aget(pk=self.call.pk)

    def transcript(self) -> list[str]:
        lines = []
        for item in self.session.history.items:
            if item.type == "message" and item.role in ("user", "assistant"):
                who = "Caller" if item.role == "user" else "Agent"
                lines.append(f"{who}: {item.text_content}")
            elif item.type == "function_call":
                lines.append(f"  [tool] {item.name}({item.arguments})")
            elif item.type == "function_call_output":
                lines.append(f"  [answer] {item.output}")
        return lines


def tool_answers(result: RunResult, name: str) -> list[str]:
    """What the tool ``name`` answered in ``result``, in order."""
    calls = {
        event.item.call_id
        for event in result.events
        if event.type == "function_call" and event.item.name == name
    }
    return [
        event.item.output
        for event in result.events
        if event.type == "function_call_output" and event.item.call_id in calls
    ]


def used(result: RunResult, name: str) -> list[str]:
    """The agent used the tool ``name`` in ``result`` (``RunResult.expect``): what it answered."""
    result.expect.contains_function_call(name=name)
    return tool_answers(result, name)


def arguments_of(result: RunResult, name: str) -> list[dict]:
    return [
        json.loads(event.item.arguments or "{}")
        for event in result.events
        if event.type == "function_call" and event.item.name == name
    ]


@pytest.fixture
def workshop(transactional_db, settings):
    """Open Monday to Friday 8-17; Ana's Accord booked for Tuesday 8:00 and Ben's Civic for
    Tuesday 10:00, both on earlier calls."""
    open_workshop(settings, technicians=2, bays=2)
    oil = ServiceType.objects.create(name="Oil change", duration_minutes=60)
    ServiceType.objects.create(name="Brake inspection", duration_minutes=45)
    tuesday = next_weekday(1)
    accord = Vehicle.objects.create(vin=ACCORD, make="Honda", model="Accord", year=2003)
    civic = Vehicle.objects.create(vin=CIVIC, make="Honda", model="Civic", year=2005)
    anas = booking.book(oil, at(tuesday, 8), customer_name="Ana Silva",
                        contact="+49 151 555 0100", vehicle_id=accord.pk)  # fmt: skip
    bens = booking.book(oil, at(tuesday, 10), customer_name="Ben Ode",
                        contact="ben@example.com", vehicle_id=civic.pk)  # fmt: skip
    return SimpleNamespace(tuesday=tuesday, anas=anas, bens=bens, accord=accord)


@pytest.fixture
async def desk(request, workshop):
    call = await Call.objects.acreate(caller="web:evals", status=Call.Status.ACTIVE)
    writer = await CallWriter.open(call.pk, publish=None)
    stand_in = StandIn() if STAND_IN else None
    server = ScriptedLLMServer(stand_in.answer) if stand_in else None
    if server is not None:
        await server.__aenter__()
        model = judge_model = _stand_in_llm(server)
    else:
        model, judge_model = build_llm(), build_llm(model=settings.REVIEW_MODEL)
    try:
        async with AgentSession(llm=model) as session:
            job, _events = text_mode_job(call, writer, session)
            await session.start(job.agent)
            desk = Desk(call, session, writer, stand_in, judge_model)
            request.node.desk = desk
            yield desk
        await writer.close()
    finally:
        if server is not None:
            await server.__aexit__(None, None, None)


def _stand_in_llm(server: ScriptedLLMServer):
    from livekit.plugins import openai

    return openai.LLM(model="stand-in", base_url=server.base_url, api_key="stand-in")


# --- The pass table --------------------------------------------------------------------------

RESULTS: list[tuple[str, bool, float, list[str]]] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" or (report.when == "setup" and report.failed):
        desk = getattr(item, "desk", None)
        transcript = desk.transcript() if desk is not None and report.failed else []
        RESULTS.append(
            (item.name.removeprefix("test_"), report.passed, report.duration, transcript)
        )
    return report


def pytest_terminal_summary(terminalreporter):
    if not RESULTS:
        return
    model = "the scripted stand-in" if STAND_IN else settings.LLM_MODEL
    write = terminalreporter.write_line
    terminalreporter.section(f"conversation evals: {model}")
    for name, passed, seconds, _ in RESULTS:
        write(f"{'pass' if passed else 'FAIL'}  {seconds:5.1f} s  {name.replace('_', ' ')}")
    passed = sum(1 for _, ok, _, _ in RESULTS if ok)
    write(f"{passed} of {len(RESULTS)} passed")
    if STAND_IN:
        write("The stand-in proves the harness and the tools, not a model.")
    for name, passed, _, transcript in RESULTS:
        if not passed and transcript:
            terminalreporter.section(f"transcript: {name.replace('_', ' ')}", sep="-")
            for line in transcript:
                write(line)
