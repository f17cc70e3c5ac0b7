"""People at the desk on a real call: a caller asks for a person, the desk page of the one
available person rings, they accept and join the caller's room from the browser; the agent
introduces them and listens on; their words are transcribed under their name; hand-back
resumes the agent with what was said meanwhile. Real livekit-server, worker and Chromium.
"""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from playwright.sync_api import expect

from agentworker.agent import CALLER_MARK
from agentworker.desk_handoff import INTRODUCTION, ONE_MOMENT
from callcenter.livekit_tokens import DESK_IDENTITY_PREFIX
from callcenter.models import Call, CallEvent, TranscriptSegment
from desk.models import Handoff
from tests.support.scripted_llm import ExpectedSpeech, Reply, ToolCall
from tests.support.service_desk_script import GREETING, SUMMARY
from tests.support.voice_stack import (
    REMOTE_AUDIO_METER,
    heard_from,
    page_time,
    silence_wav,
    speech_wav,
    wait_until,
)
from tests.test_supervisor_end_to_end import requests_with, type_as_caller

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.slow]

ASKS_FOR_A_PERSON = "Can I talk to a person about my warranty please"
GETTING_SOMEONE = "Let me get a colleague for you."
DESK_SAYS = "Hello this is Jane from the service desk and I have your warranty details here"
MEANWHILE = "Thank you Jane the noise started last week"


def desk_script(request: dict) -> Reply:
    """Greets; asks for a person when the caller does; echoes other typed lines; summarises."""
    messages = request["messages"]
    if str(messages[0].get("content", "")).startswith("You summarise calls"):
        return Reply(text=json.dumps(SUMMARY))
    last = messages[-1]
    if last["role"] == "tool":
        return Reply(text=GETTING_SOMEONE)
    if last["role"] == "user":
        heard = str(last["content"]).removeprefix(CALLER_MARK)
        if "person" in heard:
            return Reply(tool_calls=[ToolCall("request_human", {"reason": "warranty claim"})])
        return Reply(text=f"You said {heard[:40]}")
    if any(m["role"] == "user" for m in messages):
        return Reply(text="I'm back with you.")
    return Reply(text=GREETING)


@pytest.fixture
def jane(db, django_user_model):
    user = django_user_model.objects.create_user(
        "jane", first_name="Jane", password="correct horse battery", is_staff=True
    )
    user.user_permissions.add(Permission.objects.get(codename="answer_handoffs"))
    return user


def desk_page(stack, caller_browser, user, microphone, web_url=""):
    """The desk in a Chromium of its own, logged in as ``user``, set available (on the web
    host at ``web_url``, the stack's first by default)."""
    web_url = web_url or stack.web_url
    page = caller_browser(microphone)
    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value,
          "domain": "127.0.0.1", "path": "/"}]
    )  # fmt: skip
    page.add_init_script(REMOTE_AUDIO_METER)
    page.goto(web_url + "/desk/")
    expect(page.locator("#connection")).to_have_text("Live", timeout=15000)
    page.get_by_role("button", name="Available").click()
    expect(page.locator("#presence-status")).to_contain_text("the next handoff rings here")
    return page


def typed_caller(stack, caller_browser, tmp_path):
    microphone = tmp_path / "caller-silence.wav"
    silence_wav(microphone)
    caller = caller_browser(microphone)
    caller.goto(stack.web_url + "/")
    caller.get_by_role("button", name="Call", exact=True).click()
    expect(caller.locator("#captions")).to_contain_text(GREETING, timeout=30000)
    return caller, Call.objects.get()


def test_a_person_at_the_desk_takes_the_caller_briefed_and_hands_back_to_the_agent(
    e2e_stack, caller_browser, tmp_path, jane
):
    microphone = tmp_path / "jane.wav"
    seconds = speech_wav(microphone, DESK_SAYS, leading_silence=6)
    desk = desk_page(e2e_stack, caller_browser, jane, microphone)
    e2e_stack.script(desk_script, [ExpectedSpeech(DESK_SAYS, seconds - 1.0, seconds + 2.5)])
    caller, call = typed_caller(e2e_stack, caller_browser, tmp_path)
    caller.evaluate(REMOTE_AUDIO_METER)

    # The caller asks for a person: the agent says it is getting one, and Jane's desk rings
    # with the brief.
    type_as_caller(caller, ASKS_FOR_A_PERSON)
    expect(caller.locator("#captions")).to_contain_text(GETTING_SOMEONE, timeout=30000)
    offer = desk.locator("#offer")
    expect(offer).to_be_visible(timeout=15000)
    expect(offer).to_contain_text("warranty claim")
    expect(offer).to_contain_text(ASKS_FOR_A_PERSON)  # their last words, in the brief
    handoff = Handoff.objects.get(call=call)
    assert handoff.status == Handoff.Status.RINGING and handoff.offered_to == jane

    # Accept: Jane joins the caller's room; the agent introduces her by name.
    before = page_time(caller)
    desk.get_by_role("button", name="Accept").click()
    expect(desk.locator("#call-status")).to_contain_text("You are on the call", timeout=20000)
    # First the brief, spoken on a track only Jane receives; then the introduction.
    expect(caller.locator("#captions")).to_contain_text(
        ONE_MOMENT.format(name="Jane"), timeout=20000
    )
    desk.wait_for_function(heard_from("brief-"), timeout=30000)
    introduction = INTRODUCTION.format(name="Jane")
    expect(caller.locator("#captions")).to_contain_text(introduction, timeout=40000)
    # The caller hears Jane on a track of their own, and Jane hears the call: the agent's
    # track in the caller's room (the caller types; a phone caller's voice reaching the
    # person is tested in test_phone_calls).
    caller.wait_for_function(heard_from(DESK_IDENTITY_PREFIX), arg=before, timeout=30000)
    desk.wait_for_function(heard_from("agent-"), timeout=20000)
    # Her words are hers in the transcript, under her name.
    said = wait_until(
        lambda: call.segments.filter(speaker=TranscriptSegment.Speaker.DESK).first(),
        40,
        "Jane's words to be transcribed",
    )
    assert (said.text, said.speaker_label) == (DESK_SAYS, "Jane (desk)")
    assert call.events.filter(type=CallEvent.Type.HANDOFF_ANSWERED).get().payload["name"] == "Jane"
    call.refresh_from_db()
    assert call.controller == jane

    # The agent is silent while Jane has the caller: what the caller says is kept, not answered.
    type_as_caller(caller, MEANWHILE)
    wait_until(lambda: call.segments.filter(text=MEANWHILE).exists(), 20, "the caller's words kept")
    caller.wait_for_timeout(4000)
    assert requests_with(e2e_stack, MEANWHILE) == []

    # Hand back: the agent picks up, knowing what Jane and the caller said.
    desk.get_by_role("button", name="Hand back to the AI").click()
    expect(desk.locator("#call-status")).to_contain_text("handed the call back", timeout=10000)
    resumed = wait_until(lambda: requests_with(e2e_stack, MEANWHILE), 20, "the agent to resume")
    assert DESK_SAYS in json.dumps(resumed[-1]["messages"])
    handoff.refresh_from_db()
    assert handoff.status == Handoff.Status.RETURNED
    expect(desk.locator("#today")).to_contain_text("Handed back to the agent", timeout=10000)
    # The caller never received the brief: the agent's voice, its sounds while it works
    # (THINKING_SOUND) and Jane's, nothing else; and the brief is no part of the transcript.
    assert caller.evaluate("window.meteredTracks") == 3
    assert not call.segments.filter(text__icontains="The agent has").exists()
    caller.get_by_role("button", name="Hang up").click()
    e2e_stack.wait_for_job_end(call.pk)


def test_with_nobody_at_the_desk_the_caller_is_offered_a_callback_and_a_task_is_left(
    e2e_stack, caller_browser, tmp_path
):
    e2e_stack.script(desk_script)
    caller, call = typed_caller(e2e_stack, caller_browser, tmp_path)

    type_as_caller(caller, ASKS_FOR_A_PERSON)

    told = wait_until(
        lambda: requests_with(e2e_stack, "Nobody at the desk can take the call now"),
        30,
        "the agent to be told nobody is there",
    )
    assert "callback" in json.dumps(told[-1]["messages"])
    handoff = Handoff.objects.get(call=call)
    assert handoff.status == Handoff.Status.CALLBACK
    assert handoff.brief["wants"] == "warranty claim"
    assert call.events.filter(type=CallEvent.Type.HANDOFF_UNANSWERED).exists()
    caller.get_by_role("button", name="Hang up").click()
    e2e_stack.wait_for_job_end(call.pk)
    handoff.refresh_from_db()
    assert handoff.status == Handoff.Status.CALLBACK  # the task outlives the call


@pytest.fixture
def ann_and_bob(db, django_user_model):
    people = []
    for name in ("ann", "bob"):
        user = django_user_model.objects.create_user(name, first_name=name.title(), is_staff=True)
        user.user_permissions.add(Permission.objects.get(codename="answer_handoffs"))
        people.append(user)
    return people


def offered(page) -> bool:
    return page.locator("#offer").is_visible()


def test_one_handoff_rings_one_desk_across_two_web_hosts_and_passes_on_when_missed_or_declined(
    e2e_stack, caller_browser, tmp_path, ann_and_bob
):
    ann, bob = ann_and_bob
    quiet = tmp_path / "desk-silence.wav"
    silence_wav(quiet)
    # Ann's page on one web host, Bob's on another: two daphne processes, one database.
    ann_page = desk_page(e2e_stack, caller_browser, ann, quiet)
    bob_page = desk_page(e2e_stack, caller_browser, bob, quiet, web_url=e2e_stack.second_web_url())
    e2e_stack.script(desk_script)
    caller, call = typed_caller(e2e_stack, caller_browser, tmp_path)
    type_as_caller(caller, ASKS_FOR_A_PERSON)

    # Ann has been idle longest: hers rings, Bob's does not.
    expect(ann_page.locator("#offer")).to_be_visible(timeout=20000)
    rang_together = []
    # She lets it ring out: it passes to Bob, and she is set away (she missed it).
    for _ in range(4 * 12):
        rang_together.append(offered(ann_page) and offered(bob_page))
        if offered(bob_page):
            break
        ann_page.wait_for_timeout(250)
    expect(bob_page.locator("#offer")).to_be_visible(timeout=5000)
    expect(ann_page.locator("#offer")).to_be_hidden()
    expect(ann_page.locator("#presence-status")).to_contain_text("Away")
    # Bob declines: nobody else may take it, so it waits in the queue on both pages.
    bob_page.get_by_role("button", name="Decline").click()
    expect(bob_page.locator("#offer")).to_be_hidden(timeout=10000)
    expect(bob_page.locator("#queue")).to_contain_text("warranty claim")
    expect(ann_page.locator("#queue")).to_contain_text("warranty claim")
    assert not any(rang_together)
    handoff = Handoff.objects.get(call=call)
    answers = list(handoff.offers.values_list("person__username", "answer"))
    assert answers == [("ann", "timed_out"), ("bob", "declined")]
    # One ring at a time: each offer ended before the next began.
    offers = list(handoff.offers.order_by("offered_at"))
    assert offers[0].answered_at <= offers[1].offered_at

    # Nobody took the caller within the wait: the agent offers a callback; a task remains.
    told = wait_until(
        lambda: requests_with(e2e_stack, "Nobody at the desk could take the call in time"),
        40,
        "the agent to be told nobody came",
    )
    assert told
    expect(bob_page.locator("#callbacks")).to_contain_text("warranty claim", timeout=10000)
    handoff.refresh_from_db()
    assert handoff.status == Handoff.Status.CALLBACK
    caller.get_by_role("button", name="Hang up").click()
    e2e_stack.wait_for_job_end(call.pk)
