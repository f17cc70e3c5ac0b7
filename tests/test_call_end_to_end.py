"""A customer's call through the real LiveKit server, worker, web app and browser.

Chromium opens the call page with a fake microphone playing espeak-ng speech; livekit-server
dispatches the call to ``manage.py runagent dev``; the worker hears the caller through the
bundled VAD and turn detector and the OpenAI plugins, which talk to the scripted stand-in for
OpenAI (the only remote part). The web app learns the call's life from LiveKit's webhooks.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time

import pytest
from django.conf import settings
from playwright.sync_api import expect

from agentworker.entrypoint import MAX_TYPED_CHARACTERS
from agentworker.intake import ENDED_CALL_MESSAGE
from agentworker.resume import BACK_SAID
from callcenter.models import Call, CallEvent, TranscriptSegment, WebCallPage, WorkerHeartbeat
from recordings.consent import ANNOUNCEMENT
from recordings.models import Recording, RecordingPolicy
from tests.support.recording_audio import channel_levels
from tests.support.scripted_llm import ExpectedSpeech
from tests.support.service_desk_script import (
    AFTER_CALL_PROMPTS,
    ANSWER,
    CALL_SECONDS,
    CALLER_SAYS,
    GREETING,
    JUDGE_PROMPT,
    SPOKEN_VIN,
    SUMMARY,
    TYPED,
    TYPED_ANSWER,
    VIN,
    service_desk,
)
from tests.support.voice_stack import (
    HEARD,
    REMOTE_AUDIO_METER,
    ServerProcess,
    page_time,
    silence_wav,
    speech_wav,
    start_and_wait_registered,
    wait_until,
)
from vehicles.models import Vehicle

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.slow]


# Every server the tests configure for the worker listens on loopback.
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def start_call(page, stack):
    """The caller presses Call; the call (the latest: an earlier one may be stored)."""
    page.add_init_script(REMOTE_AUDIO_METER)
    page.goto(stack.web_url + "/")
    page.get_by_role("button", name="Call", exact=True).click()
    expect(page.locator("#call-app")).to_have_attribute("data-state", "inCall", timeout=30000)
    return Call.objects.order_by("-started_at").first()


def hang_up(page, call: Call, stack) -> None:
    """The caller hangs up; the call ends and its job finishes (its writes are in)."""
    page.get_by_role("button", name="Hang up").click()
    wait_until(
        lambda: Call.objects.filter(pk=call.pk, status=Call.Status.ENDED).exists(),
        CALL_SECONDS,
        "the call to end",
    )
    stack.wait_for_job_end(call.pk)
    call.refresh_from_db()


def silent_caller(stack, caller_browser, tmp_path, script=service_desk):
    """A caller's page whose microphone hears nothing, on ``script``."""
    microphone = tmp_path / "silence.wav"
    silence_wav(microphone)
    stack.script(script)
    return caller_browser(microphone)


def test_a_spoken_call_is_answered_looked_up_captioned_and_recorded(
    e2e_stack, caller_browser, tmp_path
):
    vehicle = Vehicle.objects.create(vin=VIN, make="Honda", model="Accord", year=2003)
    microphone = tmp_path / "caller.wav"
    spoken_seconds = speech_wav(microphone, CALLER_SAYS, leading_silence=12)
    e2e_stack.script(
        service_desk,
        [ExpectedSpeech(CALLER_SAYS, spoken_seconds - 1.0, spoken_seconds + 2.5)],
    )
    page = caller_browser(microphone)
    started = time.time() * 1000

    call = start_call(page, e2e_stack)
    # The agent's state arrives, and its greeting is heard and captioned.
    expect(page.locator("#agent-activity")).to_contain_text("The assistant is", timeout=20000)
    page.wait_for_function(HEARD, arg=started, timeout=30000)
    captions = page.locator("#captions")
    expect(captions).to_contain_text(f"Assistant: {GREETING}", timeout=20000)
    # The caller's speech is heard by the agent, which looks the VIN up and answers aloud.
    try:
        expect(captions).to_contain_text(f"You: {CALLER_SAYS}", timeout=40000)
    except AssertionError as error:
        heard = e2e_stack.models
        microphone_at = page.evaluate("window.microphoneLevels.map(([at]) => at)")
        raise AssertionError(
            f"the caller was not heard: {len(heard.audio)} uploads to speech-to-text "
            f"(not the speech played: {heard.unexpected_audio}); the page's microphone meter "
            f"moved from {min(microphone_at, default=0) - started:.0f} ms to "
            f"{max(microphone_at, default=0) - started:.0f} ms after the test started"
        ) from error
    before_answer = page_time(page)
    expect(captions).to_contain_text(f"Assistant: {ANSWER}", timeout=30000)
    page.wait_for_function(HEARD, arg=before_answer, timeout=20000)
    assert e2e_stack.models.unexpected_audio == []
    page.wait_for_timeout(3000)  # the answer is spoken to its end before the caller hangs up

    page.get_by_role("button", name="Hang up").click()
    expect(page.locator("#call-app")).to_have_attribute("data-state", "ended")

    # LiveKit says the room finished; the call ends with its record complete.
    wait_until(
        lambda: f"room_finished in room {call.room_name}" in e2e_stack.web.log.read_text(),
        CALL_SECONDS,
        "the room_finished webhook",
    )
    call.refresh_from_db()
    assert call.status == Call.Status.ENDED and call.answered_at and call.ended_at
    assert not call.failure_reason
    assert call.vehicle_id == vehicle.pk
    segments = list(call.segments.order_by("sequence").values_list("speaker", "text"))
    assert segments[:4] == [
        (TranscriptSegment.Speaker.AGENT, ANNOUNCEMENT),  # the web page's policy: announce
        (TranscriptSegment.Speaker.AGENT, GREETING),
        (TranscriptSegment.Speaker.CUSTOMER, CALLER_SAYS),
        (TranscriptSegment.Speaker.AGENT, ANSWER),
    ]
    lookup = call.events.get(type=CallEvent.Type.TOOL_CALL)
    assert lookup.payload["name"] == "lookup_vehicle"
    assert "2003 “Honda Accord”" in lookup.payload["output"]

    # The recording (agent mode) is in the bucket: both voices, as long as the call.
    recording = wait_until(
        lambda: Recording.objects.filter(call=call, status=Recording.Status.READY).first(),
        CALL_SECONDS,
        "the recording to be uploaded",
    )
    stored = e2e_stack.s3.client().get_object(Bucket=e2e_stack.s3.bucket, Key=recording.file.name)
    seconds, caller_level, agent_level = channel_levels(stored["Body"].read())
    assert caller_level > 0.005, "the caller's channel is silent"
    assert agent_level > 0.005, "the agent's channel is silent"
    # The recorder runs from the agent's start to the session's close, which waits up to
    # session_close_transcript_timeout (2 s) after the hang-up for the caller's last words.
    call_seconds = (call.ended_at - call.answered_at).total_seconds()
    assert call_seconds - 1.0 < seconds < call_seconds + 2.0 + 1.0, (seconds, call_seconds)
    # When its job has finished, the call holds the latencies of the real voice pipeline (the
    # caller's end of turn, the LLM, the TTS) and its summary.
    e2e_stack.wait_for_job_end(call.pk)
    call.refresh_from_db()
    for key in ("eou_delay_ms", "llm_ttft_ms", "tts_ttfb_ms"):
        assert call.metrics.get(key), f"no {key} samples in {call.metrics}"
        assert call.metrics[f"{key}_p50"] >= 0
    assert call.summary == SUMMARY["summary"] and call.outcome == SUMMARY["outcome"]
    # And its review: every configured judge's verdict on what was stored of the call (the
    # stand-in passes each, quoting its criterion), with the tokens the judges used.
    review = call.review
    assert set(review["judges"]) == set(settings.REVIEW_JUDGES), review
    assert review["judges"]["vin_handled"]["verdict"] == "pass"
    assert "vehicle identification number" in review["judges"]["vin_handled"]["reasoning"]
    no_booking = review["judges"]["booking_confirmed"]  # decided without asking the model
    assert no_booking["reasoning"] == "No appointment was booked or moved."
    assert review["score"] == 1.0 and review["tokens"]["prompt"] > 0
    assert not call.flagged and call.flag_reason == ""
    judged_calls = [
        r
        for r in e2e_stack.models.requests
        if str(r["messages"][0]["content"]).startswith(JUDGE_PROMPT)
    ]
    assert any(SPOKEN_VIN in str(r["messages"][-1]["content"]) for r in judged_calls)
    # Nothing of the call left the deployment: the job's every lookup and connection went to
    # a configured server (all on loopback here), none to a framework's cloud default such
    # as LiveKit's inference gateway for adaptive interruption.
    hosts = e2e_stack.worker_outbound_hosts()
    assert hosts, "the recorder saw no connection at all"
    assert hosts <= LOOPBACK_HOSTS, f"the worker reached {sorted(hosts - LOOPBACK_HOSTS)}"


def test_a_typed_message_gets_a_spoken_and_captioned_answer(e2e_stack, caller_browser, tmp_path):
    page = silent_caller(e2e_stack, caller_browser, tmp_path)

    call = start_call(page, e2e_stack)
    captions = page.locator("#captions")
    expect(captions).to_contain_text(f"Assistant: {GREETING}", timeout=30000)
    expect(page.locator("#agent-activity")).to_contain_text("listening", timeout=20000)
    before_typing = page_time(page)
    page.get_by_label("Type a message to the assistant").fill(TYPED)
    page.get_by_role("button", name="Send").click()

    expect(captions).to_contain_text(f"You: {TYPED} (typed)")
    expect(captions).to_contain_text(f"Assistant: {TYPED_ANSWER}", timeout=30000)
    page.wait_for_function(HEARD, arg=before_typing, timeout=20000)
    assert TYPED_ANSWER in e2e_stack.models.spoken
    wait_until(
        lambda: call.segments.filter(text=TYPED_ANSWER).exists(), 20, "the answer to be stored"
    )
    assert call.segments.filter(speaker=TranscriptSegment.Speaker.CUSTOMER, text=TYPED).exists()
    hang_up(page, call, e2e_stack)


def test_the_greeting_is_synthesised_once_then_played_from_its_kept_audio(
    e2e_stack, caller_browser, tmp_path
):
    # A greeting no earlier test kept: staff change it in the admin, the next call says it.
    # Not recorded: the greeting is the first thing the caller hears.
    greeting = f"Good day, this is the greeting of {tmp_path.name}. What is your VIN?"
    page_settings = WebCallPage.current()
    page_settings.greeting = greeting
    page_settings.recording_policy = RecordingPolicy.OFF
    page_settings.save()
    models = e2e_stack.models
    for attempt in ("first", "second"):
        page = silent_caller(e2e_stack, caller_browser, tmp_path)  # the stand-in starts anew
        started = page_time(page)
        call = start_call(page, e2e_stack)
        expect(page.locator("#captions")).to_contain_text(f"Assistant: {greeting}", timeout=30000)
        page.wait_for_function(HEARD, arg=started, timeout=20000)  # the caller hears it
        wait_until(  # said to its end (a hang-up would cut it short)
            lambda call=call: call.segments.filter(speaker="agent", text=greeting).exists(),
            30,
            "the greeting to be stored",
        )
        hang_up(page, call, e2e_stack)
        # Speech synthesis is asked for sentences (the session splits what it says), the
        # kept audio for the whole greeting.
        synthesised = [s for s in models.spoken if s.strip() and s.strip() in greeting]
        # The model is not asked for a greeting: only for the call's summary and review.
        asked = [r["messages"][0].get("content", "") for r in models.requests]
        assert not [a for a in asked if not str(a).startswith(AFTER_CALL_PROMPTS)], asked
        said = call.segments.get(speaker="agent", text=greeting)
        if attempt == "first":  # said through speech synthesis, and synthesised to be kept
            assert greeting in synthesised and len(synthesised) > 1, models.spoken
        else:  # played from the kept audio: speech synthesis is not asked for any of it
            assert synthesised == [], models.spoken
    # The job noted when it reached each step of opening the call: after the caller pressed
    # Call, before the greeting began playing.
    opening = call.metrics["opening"]
    steps = ["job_started", "connected", "taken_up", "session_built", "ready", "session_started"]
    assert set(steps) <= set(opening), opening
    assert call.started_at.timestamp() < opening["job_started"]
    assert opening["session_started"] <= said.started_at.timestamp() + 0.001


def test_a_worker_killed_mid_call_is_replaced_and_the_call_goes_on_where_it_stopped(
    e2e_stack, caller_browser, tmp_path
):
    Vehicle.objects.create(vin=VIN, make="Honda", model="Accord", year=2003)
    microphone = tmp_path / "caller.wav"
    # The caller speaks only after the agent is back: the greeting, a surviving worker
    # registering, LiveKit noticing the lost agent (15-25 s: its ICE timeouts), the return.
    spoken_seconds = speech_wav(microphone, CALLER_SAYS, leading_silence=70)
    e2e_stack.script(
        service_desk, [ExpectedSpeech(CALLER_SAYS, spoken_seconds - 1.0, spoken_seconds + 2.5)]
    )
    page = caller_browser(microphone)
    call = start_call(page, e2e_stack)
    captions = page.locator("#captions")
    expect(captions).to_contain_text(f"Assistant: {GREETING}", timeout=30000)
    wait_until(lambda: call.segments.exists(), 20, "the greeting to be stored")
    # A surviving worker, then the serving one dies as a crash would (its whole process group).
    survivor = ServerProcess(
        "worker-b", e2e_stack.worker.command, e2e_stack.worker.env,
        e2e_stack.worker.log.with_name("worker-b.log"),
    )  # fmt: skip
    try:
        start_and_wait_registered(survivor)
        e2e_stack.worker.kill()

        # LiveKit's participant_left webhook has the web app dispatch a new job; it tells the
        # caller once that it is back, and the call goes on: no new greeting.
        expect(captions).to_contain_text(f"Assistant: {BACK_SAID}", timeout=60000)
        expect(page.locator("#call-app")).to_have_attribute("data-state", "inCall")
        expect(captions).to_contain_text(f"You: {CALLER_SAYS}", timeout=45000)
        expect(captions).to_contain_text(f"Assistant: {ANSWER}", timeout=30000)
        # The model answering the caller had the conversation from before the loss.
        asked = next(
            request for request in e2e_stack.models.requests
            if SPOKEN_VIN in str(request["messages"][-1].get("content", ""))
        )  # fmt: skip
        said_before = [m.get("content") for m in asked["messages"] if m["role"] == "assistant"]
        assert GREETING in said_before, asked["messages"]
        page.wait_for_timeout(3000)  # the answer is spoken to its end before the caller hangs up
        page.get_by_role("button", name="Hang up").click()
        wait_until(
            lambda: f"call {call.pk} finished" in survivor.log.read_text(errors="replace"),
            CALL_SECONDS,
            "the new job to finish the call",
        )
    finally:
        survivor.stop()
    call.refresh_from_db()
    assert call.status == Call.Status.ENDED and not call.failure_reason
    assert call.agent_lost_at is None
    # Every line stored once, in order: the greeting before, the return and the talk after.
    assert list(call.segments.order_by("sequence").values_list("speaker", "text"))[:5] == [
        (TranscriptSegment.Speaker.AGENT, ANNOUNCEMENT),
        (TranscriptSegment.Speaker.AGENT, GREETING),
        (TranscriptSegment.Speaker.AGENT, BACK_SAID),
        (TranscriptSegment.Speaker.CUSTOMER, CALLER_SAYS),
        (TranscriptSegment.Speaker.AGENT, ANSWER),
    ]
    back = call.events.get(type=CallEvent.Type.AGENT_BACK)
    assert 0 < back.payload["seconds"] < 20, back.payload  # AGENT_RESUME_SECONDS
    assert call.vehicle_id is not None


async def rejoin(server_url: str, token: str, seconds: float = 30) -> tuple[list[str], bool]:
    """Join a room with an old caller token, as livekit-client would; returns what the room
    said on lk.transcription and whether it closed the connection."""
    from livekit import rtc

    room, said, closed = rtc.Room(), [], asyncio.Event()

    def on_text(reader, _participant):
        async def read() -> None:
            said.append(await reader.read_all())

        asyncio.get_running_loop().create_task(read())

    room.register_text_stream_handler("lk.transcription", on_text)
    room.on("disconnected", lambda *_: closed.set())
    await room.connect(server_url, token)
    try:
        await asyncio.wait_for(closed.wait(), seconds)
    except TimeoutError:
        await room.disconnect()
        return said, False
    return said, True


def test_a_caller_rejoining_an_ended_call_is_refused_and_the_record_is_kept(
    e2e_stack, caller_browser, tmp_path
):
    page = silent_caller(e2e_stack, caller_browser, tmp_path)
    page.goto(e2e_stack.web_url + "/")
    with page.expect_response("**/api/calls/") as started:
        page.get_by_role("button", name="Call", exact=True).click()
    credentials = started.value.json()
    expect(page.locator("#captions")).to_contain_text(f"Assistant: {GREETING}", timeout=30000)
    page.get_by_role("button", name="Hang up").click()
    call = Call.objects.get(pk=credentials["call_id"])
    wait_until(
        lambda: Call.objects.filter(pk=call.pk, status=Call.Status.ENDED).exists(), 60, "end"
    )
    e2e_stack.wait_for_job_end(call.pk)
    call.refresh_from_db()
    stored = (call.status, call.ended_at, call.metrics, call.summary, call.worker_job_id)
    items = call.segments.count() + call.events.count()

    # The old token (10 minutes, with the agent dispatch) recreates the room: a new job comes,
    # says the call has ended and closes the room.
    with ThreadPoolExecutor(1) as thread:
        said, closed = thread.submit(
            asyncio.run, rejoin(credentials["server_url"], credentials["token"])
        ).result()
    assert closed, "the rejoined room was left open"
    assert ENDED_CALL_MESSAGE in said
    call.refresh_from_db()
    assert (call.status, call.ended_at, call.metrics, call.summary, call.worker_job_id) == stored
    assert call.segments.count() + call.events.count() == items


def test_typed_messages_reach_the_model_cut_to_the_limit(e2e_stack, caller_browser, tmp_path):
    page = silent_caller(e2e_stack, caller_browser, tmp_path)
    call = start_call(page, e2e_stack)
    expect(page.locator("#captions")).to_contain_text(f"Assistant: {GREETING}", timeout=30000)
    # The box's maxlength is the page's; a client can send anything on lk.chat.
    page.evaluate("document.getElementById('chat-input').removeAttribute('maxlength')")
    page.get_by_label("Type a message to the assistant").fill("x" * 5000)
    page.get_by_role("button", name="Send").click()

    def typed_request():
        for body in list(e2e_stack.models.requests):
            users = [m for m in body["messages"] if m["role"] == "user"]
            if users and "xxxxx" in str(users[-1]["content"]):
                return str(users[-1]["content"])
        return None

    content = wait_until(typed_request, 30, "the typed message to reach the model")
    assert content.count("x") == MAX_TYPED_CHARACTERS
    page.get_by_role("button", name="Hang up").click()
    e2e_stack.wait_for_job_end(call.pk)


def test_a_caller_nobody_answers_is_told_so_within_the_promised_wait(
    live_server, voice_stack, settings, caller_browser, tmp_path
):
    # The page served by this test's server dispatches to an agent no worker runs.
    settings.LIVEKIT_URL = voice_stack.livekit_url
    settings.LIVEKIT_API_KEY = voice_stack.api_key
    settings.LIVEKIT_API_SECRET = voice_stack.api_secret
    settings.LIVEKIT_AGENT_NAME = "an-agent-nobody-runs"
    settings.CALLER_WAIT_SECONDS = 3
    settings.SERVICE_DESK_PHONE = "555 0100"
    microphone = tmp_path / "silence.wav"
    silence_wav(microphone)
    page = caller_browser(microphone)
    # With no worker registered for the agent, the caller hears so at once.
    page.goto(live_server.url + "/")
    page.get_by_role("button", name="Call", exact=True).click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Voice calls are not available right now", timeout=10000)
    expect(alert).to_contain_text("Or call us on 555 0100.")
    assert not Call.objects.exists()
    # A worker that registered, then does not pick up (stuck, or gone a moment ago).
    WorkerHeartbeat.beat("AW_silent", "an-agent-nobody-runs", "elsewhere")
    page.goto(live_server.url + "/")
    page.get_by_role("button", name="Call", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(
        "Waiting for the assistant to answer (at most 3 seconds)", timeout=20000
    )
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Our assistant did not pick up", timeout=10000)
    expect(alert).to_contain_text("Or call us on 555 0100.")
    expect(page.get_by_role("button", name="Try again")).to_be_visible()


def test_a_supervisor_who_joins_a_waiting_call_answers_it(
    live_server, voice_stack, settings, caller_browser, tmp_path, django_user_model
):
    import asyncio
    import threading

    from django.contrib.auth.models import Permission
    from django.test import Client
    from livekit import rtc

    settings.LIVEKIT_URL = voice_stack.livekit_url
    settings.LIVEKIT_API_KEY = voice_stack.api_key
    settings.LIVEKIT_API_SECRET = voice_stack.api_secret
    settings.LIVEKIT_AGENT_NAME = "an-agent-nobody-runs"  # registered, never answering
    settings.CALLER_WAIT_SECONDS = 8
    WorkerHeartbeat.beat("AW_silent", "an-agent-nobody-runs", "elsewhere")
    microphone = tmp_path / "silence.wav"
    silence_wav(microphone)
    page = caller_browser(microphone)
    page.goto(live_server.url + "/")
    page.get_by_role("button", name="Call", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Waiting for the assistant", timeout=20000)
    call = Call.objects.get()

    supervisor = django_user_model.objects.create_user("sup", is_staff=True)
    supervisor.user_permissions.add(Permission.objects.get(codename="monitor_calls"))
    client = Client()
    client.force_login(supervisor)
    with ThreadPoolExecutor(1) as elsewhere:  # off Playwright's event loop, as a page would
        grant = elsewhere.submit(client.post, f"/api/calls/{call.pk}/barge-in/").result().json()

    async def on_the_call(seconds: float) -> None:
        room = rtc.Room()
        await room.connect(grant["server_url"], grant["token"])
        await asyncio.sleep(seconds)
        await room.disconnect()

    person = threading.Thread(target=lambda: asyncio.run(on_the_call(15)), daemon=True)
    person.start()
    expect(page.locator("#agent-activity")).to_contain_text(
        "A person from our service desk is on the call", timeout=15000
    )
    page.wait_for_timeout(settings.CALLER_WAIT_SECONDS * 1000 + 1000)  # past the wait
    expect(page.locator("#call-app")).to_have_attribute("data-state", "inCall")
    expect(page.get_by_text("did not pick up")).to_have_count(0)
    call.refresh_from_db()
    assert call.status == Call.Status.ACTIVE and call.controller == supervisor
    person.join(20)


def booking_call(stack, caller_browser, tmp_path):
    """A typing caller, greeted, at a shop open every day 8-17 that does oil changes; the
    scripted LLM books (``booking_desk``)."""
    from appointments.models import OpeningHours, ServiceType, Shop
    from tests.support.service_desk_script import booking_desk

    Shop.objects.create(pk=1, minimum_notice_minutes=0)
    for weekday in range(7):
        OpeningHours.objects.create(weekday=weekday, opens=dt_time(8), closes=dt_time(17))
    ServiceType.objects.create(name="Oil change", duration_minutes=60)
    page = silent_caller(stack, caller_browser, tmp_path, booking_desk)
    call = start_call(page, stack)
    expect(page.locator("#captions")).to_contain_text(f"Assistant: {GREETING}", timeout=30000)
    return page, call


def test_a_caller_books_moves_and_cancels_an_oil_change_in_one_call(
    e2e_stack, caller_browser, tmp_path
):
    from appointments.models import Appointment
    from tests.support.service_desk_script import (
        BOOK,
        BOOKED_ANSWER,
        CANCEL,
        CANCELLED_ANSWER,
        MOVE,
        MOVED_ANSWER,
    )

    page, call = booking_call(e2e_stack, caller_browser, tmp_path)
    captions = page.locator("#captions")
    typed = page.get_by_label("Type a message to the assistant")

    typed.fill(BOOK)
    page.get_by_role("button", name="Send").click()
    booked = wait_until(lambda: Appointment.objects.filter(call=call).first(), 30, "a booking")
    expect(captions).to_contain_text(BOOKED_ANSWER.format(reference=booked.reference))
    typed.fill(MOVE)
    page.get_by_role("button", name="Send").click()
    expect(captions).to_contain_text(MOVED_ANSWER, timeout=30000)
    typed.fill(CANCEL)
    page.get_by_role("button", name="Send").click()
    expect(captions).to_contain_text(CANCELLED_ANSWER, timeout=30000)

    booked.refresh_from_db()
    assert booked.status == Appointment.Status.CANCELLED
    events = call.events.filter(type=CallEvent.Type.TOOL_CALL).order_by("sequence")
    tools = [(e.payload["name"], e.payload["arguments"]) for e in events]
    assert [name for name, _ in tools] == [
        "find_appointment_slots", "book_appointment", "move_appointment", "cancel_appointment"
    ]  # fmt: skip
    # Moved half an hour on (the shop's zone is UTC here, as the worker runs it).
    first, moved = (datetime.fromisoformat(tools[i][1]["slot"]) for i in (1, 2))
    assert moved - first == timedelta(minutes=30)
    assert booked.start == moved.replace(tzinfo=UTC)
    assert booked.end - booked.start == timedelta(hours=1)
    hang_up(page, call, e2e_stack)
