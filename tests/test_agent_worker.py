"""The agent in text mode against a scripted OpenAI-compatible server, on the real ORM.

Each test drives a real ``AgentSession`` with livekit-plugins-openai pointed at
``ScriptedLLMServer``; the tools hit the database, and the ``SessionEvents`` writes and publishes
through the real ``CallWriter``.
"""

import asyncio
import contextlib
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from channels.layers import get_channel_layer
from livekit.agents import AgentSession
from livekit.plugins import openai

from agentworker.summary import parse_summary, summarize_call
from agentworker.writer import CallWriter
from callcenter.job_request import JobRequest
from callcenter.live_updates import CALLS_GROUP, call_group
from callcenter.models import Call, CallEvent, TranscriptSegment
from callcenter.redaction import CARD_REDACTED
from tests.support.agent_job import agent_call, text_mode_job, tool_outputs
from tests.support.scripted_llm import Reply, ScriptedLLMServer, ToolCall
from vehicles.models import Vehicle

pytestmark = pytest.mark.django_db(transaction=True)

ACCORD = "1HGCM82633A004352"
SPOKEN_ACCORD = "one H G C, m as in mike, eight two six three three A, oh oh four three five two"


async def test_a_card_number_the_caller_reads_out_is_never_stored_nor_sent_to_the_model():
    spoken_card = "four one one one, one one one one, one one one one, one one one one"
    script = [Reply(text="I can't take card payments by phone; a colleague will call you.")]
    async with agent_call(script) as (session, call, server, writer, _):
        await session.run(user_input=f"Can I pay with my card? It is {spoken_card}.")
        await writer.flush()
    stored = [s.text async for s in TranscriptSegment.objects.filter(call=call)]
    assert stored[0] == f"Can I pay with my card? It is {CARD_REDACTED}."
    sent = json.dumps(server.requests[0]["messages"])
    assert "four one one one, one one one one" not in sent and CARD_REDACTED in sent


async def test_card_numbers_are_removed_from_event_payloads_and_summaries():
    call = await Call.objects.acreate()
    writer = await CallWriter.open(call.pk, publish=None)
    writer.event(
        CallEvent.Type.HANDOFF_REQUESTED, {"reason": "wants to pay with 4111 1111 1111 1111"}
    )
    await writer.close()
    event = await CallEvent.objects.aget(call=call)
    assert event.payload == {"reason": f"wants to pay with {CARD_REDACTED}"}
    summary, _ = parse_summary('{"summary": "Paid with 4111111111111111.", "outcome": "x"}')
    assert summary == f"Paid with {CARD_REDACTED}."


async def test_the_agent_looks_up_a_known_vehicle_from_a_spoken_vin():
    vehicle = await Vehicle.objects.acreate(vin=ACCORD, make="Honda", model="Accord", year=2003)
    script = [
        Reply(tool_calls=[ToolCall("lookup_vehicle", {"vin": SPOKEN_ACCORD})]),
        Reply(text="I found your 2003 Honda Accord. How can I help?"),
    ]
    async with agent_call(script) as (session, call, server, writer, _):
        result = await session.run(user_input=f"My VIN is {SPOKEN_ACCORD}")
        result.expect.next_event().is_function_call(name="lookup_vehicle")
        result.expect.next_event().is_function_call_output()
        result.expect.next_event().is_message(role="assistant")
        await writer.flush()
        assert "Found on file: 2003 “Honda Accord”" in tool_outputs(server.requests[1])[0]

    call = await Call.objects.select_related("vehicle").aget(pk=call.pk)
    assert call.vehicle == vehicle
    rows = [
        (s.sequence, s.speaker, s.text)
        async for s in TranscriptSegment.objects.filter(call=call).order_by("sequence")
    ]
    events = [(e.sequence, e.type) async for e in CallEvent.objects.filter(call=call)]
    assert rows[0][1:] == ("customer", f"My VIN is {SPOKEN_ACCORD}")
    assert rows[-1][1:] == ("agent", "I found your 2003 Honda Accord. How can I help?")
    # Segments and events share one gap-free sequence.
    assert sorted([r[0] for r in rows] + [e[0] for e in events]) == [1, 2, 3]
    assert events[0][1] == CallEvent.Type.TOOL_CALL


async def test_an_unknown_vehicle_is_registered_for_the_call():
    script = [
        Reply(
            tool_calls=[
                ToolCall(
                    "create_vehicle",
                    {"vin": ACCORD.lower(), "make": "Honda", "model": "Accord", "year": 2003},
                )
            ]
        ),
        Reply(text="Your Accord is registered."),
    ]
    async with agent_call(script) as (session, call, server, writer, _):
        await session.run(user_input="It's a 2003 Honda Accord.")
        await writer.flush()
        assert tool_outputs(server.requests[1]) == [
            f"Registered: 2003 “Honda Accord”, VIN {ACCORD} (make and model as a caller gave them)."
        ]
    vehicle = await Vehicle.objects.aget(vin=ACCORD)
    assert vehicle.created_by_call_id == call.pk
    assert (await Call.objects.aget(pk=call.pk)).vehicle_id == vehicle.pk


async def test_an_invalid_spoken_vin_goes_back_to_the_model_as_a_readable_message():
    script = [
        Reply(tool_calls=[ToolCall("lookup_vehicle", {"vin": "1HGCM82633AOO4352"})]),
        Reply(text="A VIN never has the letter O. Could you read it again?"),
    ]
    async with agent_call(script) as (session, _call, server, writer, _):
        result = await session.run(user_input="1HGCM82633AOO4352")
        result.expect.next_event().is_function_call(name="lookup_vehicle")
        output = result.expect.next_event().is_function_call_output().event().item
        assert not output.is_error
        await writer.flush()
    (answer,) = tool_outputs(server.requests[1])
    assert "never contains the letter O" in answer
    assert "read it again" in answer
    assert not await Vehicle.objects.aexists()


async def test_a_bad_year_is_refused_to_the_model_and_nothing_is_stored():
    script = [
        Reply(
            tool_calls=[
                ToolCall(
                    "create_vehicle", {"vin": ACCORD, "make": "Honda", "model": "X", "year": 3000}
                )
            ]
        ),
        Reply(text="That year does not look right."),
    ]
    async with agent_call(script) as (session, _call, server, writer, _):
        await session.run(user_input="year three thousand")
        await writer.flush()
    (answer,) = tool_outputs(server.requests[1])
    assert "was not registered" in answer
    assert "year" in answer
    assert not await Vehicle.objects.aexists()


async def test_request_human_flags_the_call_and_records_the_handoff():
    script = [
        Reply(tool_calls=[ToolCall("request_human", {"reason": "warranty claim"})]),
        Reply(text="A colleague will take over."),
    ]
    async with agent_call(script) as (session, call, _server, writer, _):
        await session.run(user_input="I want to talk to a person about my warranty.")
        await writer.flush()
    call = await Call.objects.aget(pk=call.pk)
    assert call.needs_human
    handoff = await CallEvent.objects.aget(call=call, type=CallEvent.Type.HANDOFF_REQUESTED)
    assert handoff.payload == {"reason": "warranty claim"}


async def test_every_write_is_published_to_the_calls_own_group_and_its_changes_to_all():
    layer = get_channel_layer()
    script = [Reply(text="Hello, could you read me your VIN?")]
    call = await Call.objects.acreate()
    watcher, everyone = await layer.new_channel(), await layer.new_channel()
    await layer.group_add(call_group(call.pk), watcher)  # a monitor with the call open
    await layer.group_add(CALLS_GROUP, everyone)  # every monitor
    try:
        async with ScriptedLLMServer(script) as server:
            writer = await CallWriter.open(call.pk)
            model = openai.LLM(model="scripted", base_url=server.base_url, api_key="test")
            async with AgentSession(llm=model) as session:
                job, _recorder = text_mode_job(call, writer, session)
                await session.start(job.agent)
                await session.run(user_input="Hi")
            writer.change_call(Call.mark_agent_back)
            await writer.close()
        first = await asyncio.wait_for(layer.receive(watcher), 5)
        second = await asyncio.wait_for(layer.receive(watcher), 5)
        messages = [first["message"], second["message"]]
        assert [(m["kind"], m["sequence"], m["speaker"]) for m in messages] == [
            ("segment", 1, "customer"),
            ("segment", 2, "agent"),
        ]
        assert messages[1]["text"] == "Hello, could you read me your VIN?"
        assert messages[1]["call_id"] == str(call.pk)
        # Every monitor hears of the call's change, and of none of its words.
        heard = [(await asyncio.wait_for(layer.receive(everyone), 5))["message"]]
        with contextlib.suppress(TimeoutError):
            while True:
                heard.append((await asyncio.wait_for(layer.receive(everyone), 0.3))["message"])
        assert {(m["kind"], m["call"]["id"]) for m in heard} == {("call", str(call.pk))}
    finally:
        await layer.group_discard(call_group(call.pk), watcher)
        await layer.group_discard(CALLS_GROUP, everyone)


async def test_a_restarted_job_continues_the_calls_sequence():
    call = await Call.objects.acreate()
    await TranscriptSegment.objects.acreate(call=call, sequence=1, speaker="agent", text="Hi")
    await CallEvent.objects.acreate(call=call, sequence=2, type=CallEvent.Type.TOOL_CALL)
    writer = await CallWriter.open(call.pk, publish=None)
    assert writer.segment("customer", "Hello again") == 3
    await writer.close()
    assert await TranscriptSegment.objects.filter(call=call, sequence=3).aexists()


async def test_the_call_end_stores_metrics_status_and_a_summary():
    summary = {
        "summary": "The caller registered a 2003 Honda Accord.",
        "outcome": "vehicle_registered",
    }
    script = [Reply(text="Hello!"), Reply(text=json.dumps(summary))]
    async with agent_call(script) as (session, call, _server, writer, recorder):
        recorder.answered()
        await session.run(user_input="Hi there")
        recorder.ended()
        await writer.flush()
        assert await summarize_call(call.pk, session.llm)
    call = await Call.objects.aget(pk=call.pk)
    assert call.status == Call.Status.ENDED
    assert call.answered_at and call.ended_at
    assert call.metrics["turns"] == 2
    assert call.metrics["llm_ttft_ms"] and call.metrics["llm_ttft_ms_p50"] >= 0
    assert call.metrics["llm_prompt_tokens"] > 0
    assert (call.summary, call.outcome) == (summary["summary"], "vehicle_registered")


async def test_a_failing_summary_leaves_the_call_stored_without_one():
    call = await Call.objects.acreate(status=Call.Status.ENDED)
    await TranscriptSegment.objects.acreate(call=call, sequence=1, speaker="customer", text="Hi")
    async with ScriptedLLMServer([Reply(status=500)] * 5) as server:
        model = openai.LLM(model="scripted", base_url=server.base_url, api_key="test")
        assert not await summarize_call(call.pk, model)
    call = await Call.objects.aget(pk=call.pk)
    assert call.summary == ""
    assert call.status == Call.Status.ENDED


@pytest.mark.postgres
async def test_the_writer_holds_writes_while_the_database_is_away_and_loses_none():
    from asgiref.sync import sync_to_async
    from django.db import connection

    call = await Call.objects.acreate()
    writer = await CallWriter.open(call.pk, retry_delays=(0.05,), publish=None)
    writer.segment("customer", "before")
    await writer.flush()

    database = connection.settings_dict["NAME"]

    def set_reachable(allowed: bool) -> None:
        import psycopg

        from tests.support.local_services import postgres_dsn

        with psycopg.connect(postgres_dsn("postgres"), autocommit=True) as db:
            db.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(allowed).lower()}')
            if not allowed:
                # The clients' connections only: an autovacuum worker on the database is the
                # server's own (and only a superuser may end it).
                db.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid() "
                    "AND backend_type = 'client backend'",
                    [database],
                )

    try:  # reachable again whatever happens: every later test needs the database
        await sync_to_async(set_reachable)(False)
        for number in range(5):
            writer.segment("agent", f"during {number}")
        await asyncio.sleep(0.5)
        assert writer.attempts_failed > 0
    finally:
        await sync_to_async(set_reachable)(True)
    await asyncio.wait_for(writer.close(), 10)
    await sync_to_async(lambda: connection.close())()
    texts = [s.text async for s in TranscriptSegment.objects.filter(call=call).order_by("sequence")]
    assert texts == ["before"] + [f"during {n}" for n in range(5)]


def test_dispatch_metadata_carries_the_call_id():
    def call_id_from_dispatch_metadata(metadata):
        request = JobRequest.from_metadata(metadata)
        return request.call_id if request else None

    assert str(
        call_id_from_dispatch_metadata('{"call_id": "0b6a3c6e-9c9e-4a43-9d0a-2d3f0f4f2a11"}')
    ) == ("0b6a3c6e-9c9e-4a43-9d0a-2d3f0f4f2a11")
    assert call_id_from_dispatch_metadata("") is None
    assert call_id_from_dispatch_metadata('{"call_id": "../x"}') is None
    assert call_id_from_dispatch_metadata("not json") is None


def test_runagent_without_settings_exits_with_one_readable_line():
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "manage.py", "runagent", "start"],
        cwd=root,
        env={"PATH": "/usr/bin:/bin", "SECRET_KEY": "x"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "set OPENAI_API_KEY, LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET" in lines[0]


def test_runagent_help_explains_the_modes_without_any_secret_set():
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "manage.py", "runagent", "--help"],
        cwd=root,
        env={"PATH": "/usr/bin:/bin"},  # no SECRET_KEY, no DEBUG
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    help_text = " ".join(result.stdout.split())
    assert "console: talk to the agent in this terminal" in help_text
    assert "PortAudio" in help_text


def test_console_without_sound_says_what_it_needs_in_one_line():
    from agentworker.management.commands.runagent import console_audio_problem

    if console_audio_problem() is None:
        pytest.skip("this machine has PortAudio and a microphone: console would start")
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "manage.py", "runagent", "console"],
        cwd=root,
        env={"PATH": "/usr/bin:/bin", "SECRET_KEY": "x", "OPENAI_API_KEY": "x"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "console needs an audio device and the PortAudio library" in lines[0]


def test_the_workers_load_is_its_calls_over_its_capacity_not_the_machines_cpu(settings):
    from types import SimpleNamespace

    from agentworker.management.commands.runagent import call_load

    settings.AGENT_MAX_CALLS = 4
    assert call_load(SimpleNamespace(active_jobs=[])) == 0.0
    assert call_load(SimpleNamespace(active_jobs=["call-1", "call-2"])) == 0.5


def test_job_processes_set_django_up_before_loading_the_session():
    """A job process unpickles entrypoint and prewarm by module and name: in a fresh
    interpreter that must import the module that configures Django (it failed with
    AppRegistryNotReady when they were agentworker.session's own functions)."""
    root = Path(__file__).resolve().parent.parent
    program = (
        "import pickle, sys; "
        "entry, warm = pickle.loads(sys.stdin.buffer.read()); "
        "print(entry.__module__, warm.__module__)"
    )
    from agentworker.entrypoint import entrypoint, prewarm

    result = subprocess.run(
        [sys.executable, "-c", program],
        cwd=root,
        input=pickle.dumps((entrypoint, prewarm)),
        env={"PATH": "/usr/bin:/bin", "SECRET_KEY": "x"},
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    assert result.stdout.decode().split() == ["agentworker.entrypoint", "agentworker.entrypoint"]


async def test_a_write_replayed_after_its_commit_is_not_stored_twice():
    call = await Call.objects.acreate()
    writer = CallWriter(call.pk, last_sequence=0, publish=None)
    # The first attempt committed but its answer was lost; the retry finds the row in place.
    await TranscriptSegment.objects.acreate(call=call, sequence=1, speaker="agent", text="Hi")
    writer.segment("agent", "Hi")
    await writer.close()
    assert await TranscriptSegment.objects.filter(call=call).acount() == 1
    assert writer.attempts_failed == 0


async def test_the_writer_changes_a_call_only_through_its_named_changes():
    call = await Call.objects.acreate()
    writer = CallWriter(call.pk, last_sequence=0, publish=None)

    def anything(stored: Call) -> None:
        stored.status = Call.Status.ENDED
        stored.save()

    with pytest.raises(TypeError, match="not a named change of Call"):
        writer.change_call(anything)
    writer.change_call(Call.flag_needs_human)
    await writer.close()
    stored = await Call.objects.aget(pk=call.pk)
    assert (stored.status, stored.needs_human, stored.version) == (Call.Status.WAITING, True, 1)


async def test_an_llm_failing_mid_call_gets_an_apology_an_error_event_and_the_call_goes_on():
    from agentworker.session_events import LLM_APOLOGY

    script = [Reply(status=500)] * 4 + [Reply(text="Sorry about that. How can I help?")]
    async with agent_call(script) as (session, call, _server, writer, _):
        failed = await session.run(user_input="Hello?")
        apology = failed.expect.next_event().is_message(role="assistant").event().item
        assert apology.text_content == LLM_APOLOGY
        recovered = await session.run(user_input="Hello again?")
        recovered.expect.next_event().is_message(role="assistant")
        await writer.flush()
    texts = [
        (s.speaker, s.text)
        async for s in TranscriptSegment.objects.filter(call=call).order_by("sequence")
    ]
    assert ("agent", LLM_APOLOGY) in texts
    assert texts[-1] == ("agent", "Sorry about that. How can I help?")
    errors = [e.payload async for e in CallEvent.objects.filter(call=call, type="error")]
    assert any(not error["recoverable"] for error in errors)


@pytest.mark.parametrize(("setting", "expected"), [("model", "TurnDetector"), ("vad", "str")])
async def test_turn_detection_follows_the_setting(settings, setting, expected):
    from agentworker.pipeline import build_session

    settings.TURN_DETECTION = setting
    settings.OPENAI_API_KEY = "test"
    session = build_session()
    assert type(session.turn_detection).__name__ == expected
    if setting == "vad":
        assert session.turn_detection == "vad"
