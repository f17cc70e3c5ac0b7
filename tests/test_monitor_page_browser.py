"""The monitor page in Chromium: a transcript pushed by the worker's writer appears live."""

import asyncio
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.test import Client
from playwright.sync_api import expect

from agentworker.writer import CallWriter
from callcenter.models import Call, CallEvent, TranscriptSegment

pytestmark = [pytest.mark.browser, pytest.mark.redis]


def run_in_thread(coroutine_function) -> None:
    """Playwright keeps an event loop in this thread; the worker code runs in its own."""
    errors = []

    def target():
        try:
            asyncio.run(coroutine_function())
        except Exception as exc:  # pragma: no cover - surfaced below
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(30)
    assert not errors, errors


def logged_in(page, server_url, user):
    client = Client()
    client.force_login(user)
    host = server_url.split("//")[1].split(":")[0]
    page.context.add_cookies(
        [
            {
                "name": "sessionid",
                "value": client.cookies["sessionid"].value,
                "domain": host,
                "path": "/",
            }
        ]
    )


def test_a_live_transcript_grows_on_the_monitor_page(asgi_server, page, staff_user):
    call = Call.objects.create(status=Call.Status.ACTIVE, caller="web:browser-test")
    TranscriptSegment.objects.create(call=call, sequence=1, speaker="customer", text="Hello there")
    logged_in(page, asgi_server, staff_user)
    page.goto(asgi_server + "/monitor/")
    expect(page.locator("#connection")).to_have_text("Live", timeout=15000)
    expect(page.get_by_role("button", name="web:browser-test")).to_be_visible()
    transcript = page.locator("#transcript")
    expect(transcript).to_contain_text("Hello there")
    # The words of the history pages and the admin (the models' choices), not the raw values.
    expect(transcript.locator(".speaker").first).to_have_text("Caller")
    expect(page.locator(".call-meta").first).to_contain_text("In progress")

    async def worker_speaks():
        writer = await CallWriter.open(call.pk)
        writer.segment("agent", "Could you read me your VIN, please?")
        writer.event(
            CallEvent.Type.TOOL_CALL,
            {
                "name": "lookup_vehicle",
                "arguments": {"vin": "1HGCM82633A004352"},
                "output": "Found on file: 2003 Honda Accord, VIN 1HGCM82633A004352. Confirm it.",
            },
        )
        writer.event(CallEvent.Type.HANDOFF_REQUESTED, {"reason": "warranty claim"})
        writer.change_call(Call.set_recording_consent, "declined")
        await writer.close()

    run_in_thread(worker_speaks)
    # Within a second of the writer's commit, in sequence order.
    expect(transcript.locator("li").nth(1)).to_contain_text(
        "Could you read me your VIN, please?", timeout=1000
    )
    expect(transcript.locator("li")).to_have_count(4, timeout=1000)
    expect(transcript).to_contain_text(
        "Looked up 1HGCM82633A004352: Found on file: 2003 Honda Accord"
    )
    expect(page.locator(".note-handoff_requested")).to_contain_text("warranty claim")
    expect(page.locator("#announcer")).to_contain_text("Handoff requested")
    # The caller declined to be recorded: the call's row says so.
    expect(page.locator(".call-meta").first).to_contain_text("recording declined")


def test_a_supervisor_takes_over_and_hands_back_from_the_page(asgi_server, page, staff_user):
    call = Call.objects.create(status=Call.Status.ACTIVE, caller="web:control-test")
    logged_in(page, asgi_server, staff_user)
    page.goto(asgi_server + "/monitor/")
    expect(page.locator("#connection")).to_have_text("Live", timeout=15000)
    status = page.locator("#control-status")
    expect(status).to_have_text("The agent is handling this call.")
    page.get_by_role("button", name="Take over").click()
    expect(status).to_contain_text("You control this call")
    call.refresh_from_db()
    assert call.controller == staff_user
    page.get_by_label("Whisper to the agent").fill("offer the winter tyre check")
    page.get_by_role("button", name="Send").click()
    # No worker serves this call: the page says the whisper was not confirmed, never "sent".
    expect(status).to_contain_text("The agent did not confirm your whisper", timeout=10000)
    page.get_by_role("button", name="Hand back to the agent").click()
    expect(status).to_have_text("The agent is handling this call.")
    call.refresh_from_db()
    assert call.controller is None
    assert page.console_errors == []


def test_a_handoff_request_is_taken_over_with_one_click(asgi_server, page, staff_user):
    Call.objects.create(status=Call.Status.ACTIVE, caller="web:calm-caller")
    call = Call.objects.create(
        status=Call.Status.ACTIVE, caller="web:upset-caller", needs_human=True
    )
    logged_in(page, asgi_server, staff_user)
    page.goto(asgi_server + "/monitor/")
    expect(page.locator("#connection")).to_have_text("Live", timeout=15000)
    take = page.get_by_role("button", name="Take over the call from web:upset-caller")
    expect(take).to_be_visible()
    expect(page.locator(".take-over-now")).to_have_count(1)  # only the call that asked
    take.click()
    expect(page.locator("#control-status")).to_contain_text("You control this call")
    expect(page.locator("#call-details")).to_contain_text("web:upset-caller")
    expect(page.locator(".take-over-now")).to_have_count(0)
    call.refresh_from_db()
    assert call.controller == staff_user
    assert page.console_errors == []


def test_a_call_no_agent_answered_says_so_and_callers_asking_for_a_person_come_first(
    asgi_server, page, staff_user
):
    from datetime import timedelta

    from django.utils import timezone

    earlier = timezone.now() - timedelta(minutes=3)
    Call.objects.create(status=Call.Status.ACTIVE, caller="web:first-come", started_at=earlier)
    Call.objects.create(status=Call.Status.WAITING, caller="web:not-answered")
    Call.objects.create(status=Call.Status.ACTIVE, caller="web:wants-a-person", needs_human=True)
    logged_in(page, asgi_server, staff_user)
    page.goto(asgi_server + "/monitor/")
    expect(page.locator("#connection")).to_have_text("Live", timeout=15000)
    names = page.locator(".call-item strong")
    expect(names).to_have_text(["web:wants-a-person", "web:first-come", "web:not-answered"])
    page.get_by_role("button", name="web:not-answered").click()
    status = page.locator("#control-status")
    expect(status).to_contain_text("Waiting for an agent to answer (0:0")
    expect(status).not_to_contain_text("The agent is handling")
    assert page.console_errors == []


def test_just_finished_calls_survive_a_reload(asgi_server, page, staff_user):
    from django.utils import timezone

    for name, outcome in (("web:earlier", "resolved"), ("web:latest", "vehicle_registered")):
        call = Call.objects.create(status=Call.Status.ACTIVE, caller=name, outcome=outcome)
        call.mark_ended(timezone.now())
    logged_in(page, asgi_server, staff_user)
    for _ in range(2):  # the first visit and a reload
        page.goto(asgi_server + "/monitor/")
        expect(page.locator("#connection")).to_have_text("Live", timeout=15000)
        finished = page.locator("#finished-list li")
        expect(finished).to_have_count(2)
        # What a supervisor recognises (time, vehicle or kind of call, outcome), no ids.
        expect(finished.first).to_contain_text("Web call · Vehicle registered")
        expect(finished.nth(1)).to_contain_text("Web call · Resolved")
        expect(finished.first).not_to_contain_text("web:")
    assert page.console_errors == []


def test_a_late_call_message_older_than_what_the_page_shows_is_dropped(
    asgi_server, page, staff_user
):
    """Call messages come from different processes (the worker, webhooks, supervisors'
    actions) and may arrive out of order: the row's version decides."""
    from callcenter.live_updates import call_message, publish

    call = Call.objects.create(status=Call.Status.ACTIVE, caller="web:versioned")
    stale = call_message(call.pk)
    logged_in(page, asgi_server, staff_user)
    page.goto(asgi_server + "/monitor/")
    expect(page.locator("#connection")).to_have_text("Live", timeout=15000)
    call.flag_needs_human()
    fresh = call_message(call.pk)
    run_in_thread(lambda: publish(fresh))
    flag = page.get_by_role("button", name="web:versioned").locator(".flag")
    expect(flag).to_have_text("needs a person")
    later = Call.objects.create(status=Call.Status.ACTIVE, caller="web:sentinel")
    sentinel = call_message(later.pk)

    async def stale_then_sentinel():
        await publish(stale)
        await publish(sentinel)  # the same group, in order: once it shows, the stale one came

    run_in_thread(stale_then_sentinel)
    expect(page.get_by_role("button", name="web:sentinel")).to_be_visible()
    expect(flag).to_have_text("needs a person")
    assert page.console_errors == []


def test_a_failed_phone_call_can_be_called_back_from_the_just_finished_list(
    asgi_server, page, staff_user
):
    from django.utils import timezone

    phone = Call.objects.create(
        status=Call.Status.ACTIVE, channel=Call.Channel.PHONE, caller="+4915112345678",
        dialled_number="+4930123456",
    )  # fmt: skip
    phone.mark_ended(timezone.now(), failed_reason="Worker lost")
    web = Call.objects.create(status=Call.Status.ACTIVE, caller="web:fine")
    web.mark_ended(timezone.now())
    logged_in(page, asgi_server, staff_user)
    page.goto(asgi_server + "/monitor/")
    expect(page.locator("#connection")).to_have_text("Live", timeout=15000)
    finished = page.locator("#finished-list li")
    expect(finished).to_have_count(2)
    expect(finished.filter(has_text="Web call").get_by_role("button")).to_have_count(0)
    call_back = finished.filter(has_text="678").get_by_role("button", name="Call")
    call_back.click()
    # No phone line with an outbound trunk here: the server's sentence is shown as it is.
    expect(page.locator("#finished-status")).to_contain_text("has no outbound trunk")
    assert page.console_errors == [] or all("400" in e for e in page.console_errors)


def test_a_call_started_while_the_monitor_is_open_shows_waiting_then_finished(
    asgi_server, page, staff_user, settings, agent_worker_registered
):
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    settings.LIVEKIT_URL = "wss://voice.example.com"
    settings.LIVEKIT_API_KEY = "APItestkey"
    settings.LIVEKIT_API_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"
    logged_in(page, asgi_server, staff_user)
    page.goto(asgi_server + "/monitor/")
    expect(page.locator("#connection")).to_have_text("Live", timeout=15000)
    expect(page.locator("#no-calls")).to_be_visible()

    # Off Playwright's thread (it runs an event loop there), as a caller's request would be.
    with ThreadPoolExecutor(1) as elsewhere:
        started = elsewhere.submit(
            Client().post, "/api/calls/", {}, content_type="application/json"
        ).result()
    assert started.status_code == 201
    call = Call.objects.get(pk=started.json()["call_id"])
    entry = page.get_by_role("button", name=call.caller)
    expect(entry).to_be_visible()
    entry.click()
    expect(page.locator("#control-status")).to_contain_text("Waiting for an agent to answer")

    Call.objects.filter(pk=call.pk).update(started_at=timezone.now() - timedelta(minutes=10))
    with ThreadPoolExecutor(1) as elsewhere:
        elsewhere.submit(call_command, "sweep_stale_calls", "--unanswered-minutes", "2").result()
    expect(page.locator("#finished-list li").first).to_contain_text("Web call · Failed")
    expect(page.get_by_role("button", name=call.caller)).to_have_count(0)
    assert page.console_errors == []


# Records each long task (over 50 ms: the page froze) and which calls' words reached the page.
WATCH_THE_PAGE = """
window.longTasks = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) window.longTasks.push(Math.round(entry.duration));
}).observe({ type: "longtask" });
window.wordsFrom = new Set();
const NativeWebSocket = window.WebSocket;
window.WebSocket = class extends NativeWebSocket {
  constructor(...args) {
    super(...args);
    this.addEventListener("message", (event) => {
      const message = JSON.parse(event.data);
      if (message.kind === "segment" || message.kind === "event") {
        window.wordsFrom.add(message.call_id);
      }
    });
  }
};
"""
LINE = "+15550100"


def test_the_monitor_stays_responsive_with_500_live_calls_and_follows_the_one_opened(
    asgi_server, page, staff_user
):
    from datetime import timedelta

    from django.utils import timezone

    from callcenter import live_updates

    now = timezone.now()
    calls = Call.objects.bulk_create(
        Call(
            status=Call.Status.WAITING if number % 5 == 0 else Call.Status.ACTIVE,
            caller=f"web:caller-{number:03}",
            started_at=now - timedelta(seconds=number),
        )
        for number in range(498)
    )
    # A campaign's call out through the same line: listed apart from the customers' calls.
    Call.objects.create(
        status=Call.Status.ACTIVE, channel=Call.Channel.PHONE, caller="+15550001111",
        dialled_number=LINE, origin=Call.Origin.CAMPAIGN,
    )  # fmt: skip
    followed = Call.objects.create(
        status=Call.Status.ACTIVE, channel=Call.Channel.PHONE, caller="+15557654321",
        dialled_number=LINE, started_at=now - timedelta(minutes=9),
    )  # fmt: skip
    TranscriptSegment.objects.create(
        call=followed, sequence=1, speaker="customer", text="My brakes squeak when I stop."
    )
    page.add_init_script(WATCH_THE_PAGE)
    logged_in(page, asgi_server, staff_user)
    page.goto(asgi_server + "/monitor/")
    expect(page.locator("#connection")).to_have_text("Live", timeout=15000)
    expect(page.locator("#call-count")).to_have_text("500", timeout=10000)
    # Only what is on screen is drawn.
    assert page.locator("#call-list li").count() < 40

    # The one call on the phone line: its transcript so far, from the snapshot of it.
    page.get_by_label("Line").select_option(LINE)
    expect(page.locator("#call-list li")).to_have_count(1)
    page.locator("#call-list .call-item").click()
    expect(page.locator("#transcript")).to_contain_text("My brakes squeak when I stop.")
    page.get_by_label("Line").select_option("campaign")
    expect(page.locator("#call-list li")).to_have_count(1)
    expect(page.get_by_label("Line").locator("option:checked")).to_have_text("Campaign calls (1)")
    page.get_by_label("Line").select_option("")
    page.wait_for_timeout(500)
    page.evaluate("window.longTasks.length = 0")

    async def updates_flow(seconds: float = 8.0):
        """Each call says something every 3 s; calls are answered, ask for a person, end and
        new ones start, 25 changes a second."""
        live = [*calls]
        spoken = {call.pk: 0 for call in [*calls, followed]}
        spoken[followed.pk] = 1
        loop = asyncio.get_running_loop()
        started = loop.time()
        tick = 0
        while loop.time() - started < seconds:
            tick += 1
            call = live[(tick * 37) % len(live)]
            change = [call.mark_active, call.flag_needs_human, call.mark_ended][tick % 3]
            await asyncio.to_thread(change)
            await live_updates.publish_call_change(call.pk)
            if change == call.mark_ended:
                live.remove(call)
                new = await Call.objects.acreate(caller=f"web:new-{tick}")
                spoken[new.pk] = 0
                live.append(new)
                await live_updates.publish_call_change(new.pk)
            for talking in [followed, *live][tick % 3 :: 75]:  # about 1 in 3 s for each
                spoken[talking.pk] += 1
                segment = await TranscriptSegment.objects.acreate(
                    call=talking, sequence=spoken[talking.pk], speaker="customer",
                    text=f"words number {spoken[talking.pk]}",
                )  # fmt: skip
                await live_updates.publish(segment.to_message())
            await asyncio.sleep(max(0, started + tick * 0.04 - loop.time()))

    run_in_thread(updates_flow)
    # Its words came live, in order, after what the snapshot had.
    expect(page.locator("#transcript li").nth(1)).to_have_text(re.compile("words number 2"))
    assert page.evaluate("window.longTasks") == [], "the page froze while updates flowed"
    assert page.evaluate("[...window.wordsFrom]") == [str(followed.pk)]
    # The counts are the calls as they are stored.
    live_calls = Call.objects.filter(status__in=Call.LIVE_STATUSES)
    asking = live_calls.filter(needs_human=True, controller__isnull=True).count()
    expect(page.locator("#call-count")).to_have_text(str(live_calls.count()))
    chip = page.get_by_role("button", name=re.compile("^Asks for a person"))
    expect(chip.locator(".count")).to_have_text(str(asking))
    chip.click()
    expect(page.locator("#call-list .call-item.needs-human").first).to_be_visible()
    assert page.locator("#call-list .call-item:not(.needs-human)").count() == 0
    assert page.console_errors == []
