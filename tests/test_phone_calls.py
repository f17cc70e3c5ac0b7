"""Phone calls through the real livekit-sip bridge: SIPp dials a provisioned line, the test's
RTP peer speaks G.711 to it and listens; the agent, the database and the monitor serve the
phone caller as they serve a web caller."""

from __future__ import annotations

import io
import json
import subprocess
import threading
import time
import wave
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import Permission
from django.test import Client

from callcenter.models import Call, CallEvent, TranscriptSegment
from recordings.consent import ANNOUNCEMENT
from recordings.models import Recording
from telephony import provisioning
from telephony.models import PhoneLine
from tests.support.phone import (
    ANSWERING,
    BUSY,
    HANGS_UP,
    NO_ANSWER,
    RtpPeer,
    start_sipp_call,
    start_sipp_phone,
)
from tests.support.scripted_llm import ExpectedSpeech, Reply, ToolCall, espeak_wav
from tests.support.service_desk_script import CALLER_SAYS, GREETING, VIN, service_desk
from tests.support.voice_stack import AGENT_NAME, wait_until
from tests.test_call_end_to_end import channel_levels
from vehicles.models import Vehicle

pytestmark = [pytest.mark.sip, pytest.mark.e2e, pytest.mark.slow]

LINE = "+4930123456"
CALLER = "+4915112345678"


@pytest.fixture
def phone_line(e2e_stack, settings):
    """The desk's number, provisioned on the stack's livekit-server (trunk + dispatch rule)."""
    settings.LIVEKIT_URL = e2e_stack.livekit_url
    settings.LIVEKIT_API_KEY = e2e_stack.api_key
    settings.LIVEKIT_API_SECRET = e2e_stack.api_secret
    settings.LIVEKIT_AGENT_NAME = AGENT_NAME
    # In a thread of its own: a browser test's Playwright runs an event loop in this one.
    with ThreadPoolExecutor(1) as thread:
        line = thread.submit(provisioning.provision, PhoneLine(number=LINE, name="Service desk"))
        line = line.result()
    line.save()
    yield line
    with ThreadPoolExecutor(1) as thread:
        thread.submit(provisioning.unprovision, line).result()


def listen_in(url: str, token: str, seconds: float) -> float:
    """Join as a supervisor listening in, for ``seconds``: the loudest 10 ms heard (RMS)."""
    import asyncio

    from livekit import rtc

    async def run() -> float:
        room, levels, readers = rtc.Room(), [0.0], []

        async def read(track) -> None:
            async for event in rtc.AudioStream(track, sample_rate=16000, num_channels=1):
                samples = np.frombuffer(event.frame.data, dtype=np.int16).astype(np.float64)
                levels.append(float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0)

        def subscribed(track, *_):
            if track.kind == rtc.TrackKind.KIND_AUDIO:
                readers.append(asyncio.create_task(read(track)))

        room.on("track_subscribed", subscribed)
        await room.connect(url, token)
        await asyncio.sleep(seconds)
        await room.disconnect()
        for reader in readers:
            reader.cancel()
        return max(levels)

    return asyncio.run(run())


def dial_the_line(stack, folder, peer: RtpPeer, *, talk_seconds: float, until_transferred=False):
    """SIPp calls the line from CALLER; once the bridge answers, ``peer`` is the phone's audio.
    Returns the SIPp process (see ``start_sipp_call``)."""
    sipp, port_file = start_sipp_call(
        folder, sip_port=stack.sip_port, caller=CALLER, dialled=LINE, rtp_port=peer.port,
        talk_seconds=talk_seconds, until_transferred=until_transferred,
    )  # fmt: skip
    try:
        listen_to_the_phone(peer, port_file, "the call answered")
    except AssertionError:
        sipp.kill()
        raise
    return sipp


def listen_to_the_phone(peer: RtpPeer, port_file: Path, what: str) -> None:
    """Once SIPp has the call it writes its RTP port: from then on ``peer`` is its audio."""
    wait_until(lambda: port_file.exists() and port_file.read_text().strip(), 40, what)
    peer.remote = ("127.0.0.1", int(port_file.read_text().strip()))


def hung_up_cleanly(sipp: subprocess.Popen, log: Path, seconds: float) -> None:
    """SIPp's scenario ran to its end (its last lines of log otherwise)."""
    assert sipp.wait(seconds) == 0, log.read_text()[-2000:]


def speech_at_8k(text: str) -> np.ndarray:
    with wave.open(io.BytesIO(espeak_wav(text, rate=8000))) as reader:
        return np.frombuffer(reader.readframes(reader.getnframes()), dtype=np.int16)


def test_a_phone_caller_over_the_call_rate_hears_why_and_no_agent_answers(
    e2e_stack, phone_line, tmp_path
):
    from rest_framework.throttling import SimpleRateThrottle

    from agentworker.opening import TOO_MANY_CALLS, TOO_MANY_CALLS_SAID
    from tests.support.voice_stack import CALL_START_RATE

    # As many earlier calls from this number as the stack's rate allows.
    limit, _seconds = SimpleRateThrottle.parse_rate(None, CALL_START_RATE)
    Call.objects.bulk_create(
        Call(channel=Call.Channel.PHONE, caller=CALLER, dialled_number=LINE,
             status=Call.Status.ENDED)
        for _ in range(limit)
    )  # fmt: skip
    asked_before = len(e2e_stack.models.requests)
    peer = RtpPeer()
    sipp = dial_the_line(e2e_stack, tmp_path, peer, talk_seconds=20)
    answered = time.monotonic()
    try:
        refused = wait_until(
            lambda: Call.objects.filter(failure_reason=TOO_MANY_CALLS).first(), 40, "the refusal"
        )
        wait_until(lambda: peer.level_since(answered) > 0.01, 30, "the sentence on the line")
        wait_until(lambda: sipp.poll() is not None, 40, "the line to be put down")
    finally:
        if sipp.poll() is None:
            sipp.kill()
        peer.close()
    assert refused.status == Call.Status.FAILED and refused.caller == CALLER
    assert TOO_MANY_CALLS_SAID in " ".join(e2e_stack.models.spoken)  # spoken sentence by sentence
    assert len(e2e_stack.models.requests) == asked_before  # the agent never took the call
    e2e_stack.wait_for_job_end(refused.pk)


def test_a_phone_call_is_answered_greeted_heard_looked_up_listened_to_and_recorded(
    e2e_stack, phone_line, tmp_path, django_user_model
):
    vehicle = Vehicle.objects.create(vin=VIN, make="Honda", model="Accord", year=2003)
    speech = speech_at_8k(CALLER_SAYS)
    seconds = len(speech) / 8000
    e2e_stack.script(service_desk, [ExpectedSpeech(CALLER_SAYS, seconds - 1.0, seconds + 2.5)])
    peer = RtpPeer()
    sipp = dial_the_line(e2e_stack, tmp_path, peer, talk_seconds=45)
    try:
        answered = time.monotonic()
        talking = threading.Thread(
            target=lambda: (peer.silence(8), peer.play(speech), peer.silence(30)), daemon=True
        )
        talking.start()
        call = wait_until(
            lambda: Call.objects.filter(channel=Call.Channel.PHONE).first(), 30, "the phone call"
        )
        assert (call.caller, call.dialled_number) == (CALLER, LINE)
        assert call.room_name.startswith(phone_line.room_prefix)
        # Nothing in the room shows the caller's number to whoever joins it (a listen-in sees
        # the room's name and every participant's identity, name and attributes).
        in_room = async_to_sync(room_participants)(e2e_stack, call.room_name)
        shown = json.dumps([call.room_name, *in_room])
        assert CALLER[-7:] not in shown, shown
        assert any(person["name"] == "Phone caller" for person in in_room), shown
        # A supervisor listens in on the phone call as on a web call: hidden, hearing it.
        supervisor = django_user_model.objects.create_user("sup", is_staff=True)
        supervisor.user_permissions.add(Permission.objects.get(codename="monitor_calls"))
        client = Client()
        client.force_login(supervisor)
        grant = client.post(f"/api/calls/{call.pk}/listen/").json()
        heard = []
        listener = threading.Thread(
            target=lambda: heard.append(listen_in(grant["server_url"], grant["token"], 15)),
            daemon=True,
        )
        listener.start()
        # The agent's greeting comes back over RTP, not silent.
        wait_until(lambda: peer.level_since(answered) > 0.01, 30, "the greeting on the line")
        # The caller's spoken VIN is heard, looked up and answered.
        lookup = wait_until(
            lambda: call.events.filter(type=CallEvent.Type.TOOL_CALL).first(), 60, "the lookup"
        )
        assert lookup.payload["name"] == "lookup_vehicle"
        listener.join(30)
        assert heard and heard[0] > 300, f"the supervisor heard {heard}"
        call.refresh_from_db()
        assert call.vehicle_id == vehicle.pk
        said = list(call.segments.order_by("sequence").values_list("speaker", "text"))
        assert said[:2] == [
            (TranscriptSegment.Speaker.AGENT, ANNOUNCEMENT),  # the line's policy: announce
            (TranscriptSegment.Speaker.AGENT, GREETING),
        ]
        assert (TranscriptSegment.Speaker.CUSTOMER, CALLER_SAYS) in said
        # Keys pressed on the phone reach the agent and the call's record (the monitor).
        peer.press("12")
        keys = wait_until(
            lambda: call.events.filter(type=CallEvent.Type.KEY_PRESSED).first(), 20, "the keys"
        )
        assert keys.payload == {"digits": "12"}
        assert keys.to_message()["text"] == "The caller pressed 1 2 on the keypad"
        wait_until(
            lambda: any(
                "[keypad: 1 2]" in json.dumps(request["messages"])
                for request in list(e2e_stack.models.requests)
            ),
            20,
            "the keys in the agent's next request",
        )
        # The monitor shows the caller's number masked but for its last digits.
        assert call.to_dict()["caller"].endswith("678") and CALLER not in str(call.to_dict())
    finally:
        sipp.wait(90)
        peer.close()
    wait_until(
        lambda: Call.objects.filter(pk=call.pk, status=Call.Status.ENDED).exists(),
        60,
        "the call to end after the caller hung up",
    )
    e2e_stack.wait_for_job_end(call.pk)
    # The phone call is recorded like a web call: both voices, in the bucket.
    recording = wait_until(
        lambda: Recording.objects.filter(call=call, status=Recording.Status.READY).first(),
        60,
        "the recording to be uploaded",
    )
    stored = e2e_stack.s3.client().get_object(Bucket=e2e_stack.s3.bucket, Key=recording.file.name)
    _seconds, caller_level, agent_level = channel_levels(stored["Body"].read())
    assert caller_level > 0.005 and agent_level > 0.005, (caller_level, agent_level)
    # The caller leaving is an event; LiveKit names them without their number.
    left = call.events.filter(type=CallEvent.Type.PARTICIPANT_LEFT)
    assert left.exists() and left.first().payload["identity"].startswith("sip_")
    assert CALLER[-7:] not in str(left.first().payload)
    assert not any(CALLER in str(event.payload) for event in call.events.all())


def test_a_saved_line_exists_on_livekit_and_a_refused_one_leaves_nothing(e2e_stack, settings):
    import asyncio

    from livekit import api

    settings.LIVEKIT_URL = e2e_stack.livekit_url
    settings.LIVEKIT_API_KEY = e2e_stack.api_key
    settings.LIVEKIT_API_SECRET = e2e_stack.api_secret
    settings.SIP_OUTBOUND_USERNAME, settings.SIP_OUTBOUND_PASSWORD = "desk", "s3cret-from-env"
    line = PhoneLine(number="+4930999888", name="Parts", outbound_address="sip.example.com")
    line = provisioning.provision(line)
    line.save()

    async def listed():
        async with api.LiveKitAPI(
            e2e_stack.livekit_url.replace("ws://", "http://"), e2e_stack.api_key,
            e2e_stack.api_secret,
        ) as lkapi:  # fmt: skip
            trunks = await lkapi.sip.list_inbound_trunk(api.ListSIPInboundTrunkRequest())
            rules = await lkapi.sip.list_dispatch_rule(api.ListSIPDispatchRuleRequest())
            out = await lkapi.sip.list_outbound_trunk(api.ListSIPOutboundTrunkRequest())
            return trunks.items, rules.items, out.items

    trunks, rules, out = asyncio.run(listed())
    ours = [t for t in trunks if t.sip_trunk_id == line.inbound_trunk_id]
    assert ours and ours[0].numbers == ["+4930999888"]
    assert any(r.sip_dispatch_rule_id == line.dispatch_rule_id for r in rules)
    # Calls out go to the provider's address with the credentials from the environment.
    (outbound,) = [t for t in out if t.sip_trunk_id == line.outbound_trunk_id]
    assert (outbound.address, outbound.auth_username) == ("sip.example.com", "desk")
    # Saving again keeps exactly one trunk and one rule for the number.
    provisioning.provision(line)
    trunks, rules, _out = asyncio.run(listed())
    assert sum("+4930999888" in t.numbers for t in trunks) == 1
    assert sum(r.name == line.livekit_name for r in rules) == 1

    # A number someone else's trunk takes is refused, and nothing is made or taken over.
    async def foreign_trunk():
        async with api.LiveKitAPI(
            e2e_stack.livekit_url.replace("ws://", "http://"), e2e_stack.api_key,
            e2e_stack.api_secret,
        ) as lkapi:  # fmt: skip
            return await lkapi.sip.create_inbound_trunk(
                api.CreateSIPInboundTrunkRequest(
                    trunk=api.SIPInboundTrunkInfo(name="the PBX", numbers=["+4930777666"])
                )
            )

    theirs = asyncio.run(foreign_trunk())
    taken = PhoneLine(number="+4930777666", name="Taken")
    with pytest.raises(provisioning.ProvisioningFailed, match="already taken by the trunk"):
        provisioning.provision(taken)
    trunks, rules, _out = asyncio.run(listed())
    holding = [t.sip_trunk_id for t in trunks if "+4930777666" in t.numbers]
    assert holding == [theirs.sip_trunk_id]
    assert not any(r.name == taken.livekit_name for r in rules)
    provisioning.unprovision(PhoneLine(inbound_trunk_id=theirs.sip_trunk_id))
    provisioning.unprovision(line)


ASKS_FOR_A_PERSON = "I would like to talk to a person please."
HANDOFF_ANSWER = "Of course, a colleague will take over."
DESK = "sip:desk@127.0.0.1:5999"


def person_please(request: dict) -> Reply:
    """The scripted LLM of a caller who asks for a person."""
    last = request["messages"][-1]
    if str(request["messages"][0].get("content", "")).startswith("You summarise calls"):
        return service_desk(request)
    if last["role"] == "tool":
        return Reply(text=HANDOFF_ANSWER)
    if last["role"] == "user" and "person" in str(last.get("content", "")):
        return Reply(tool_calls=[ToolCall("request_human", {"reason": "asked for a person"})])
    return Reply(text=GREETING)


def requests_with_tool_output(stack, text: str) -> str:
    """The first tool output containing ``text`` that the agent sent its LLM, or ""."""
    for request in list(stack.models.requests):
        for message in request["messages"]:
            if message["role"] == "tool" and text in str(message.get("content", "")):
                return str(message["content"])
    return ""


def open_only_tomorrow() -> str:
    """Opening hours (OpenStreetMap syntax) that leave the desk closed all of today."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from django.conf import settings
    from django.utils import timezone

    tomorrow = timezone.localtime(timezone.now(), ZoneInfo(settings.SHOP_TIME_ZONE))
    tomorrow += timedelta(days=1)
    return ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"][tomorrow.weekday()] + " 09:00-17:00"


@pytest.mark.parametrize("desk", ["open", "closed"])
def test_a_phone_caller_who_asks_for_a_person_is_transferred_while_the_desk_is_open(
    e2e_stack, phone_line, tmp_path, desk
):
    phone_line.transfer_to = DESK
    phone_line.opening_hours = "Mo-Su 00:00-24:00" if desk == "open" else open_only_tomorrow()
    phone_line.save()
    speech = speech_at_8k(ASKS_FOR_A_PERSON)
    seconds = len(speech) / 8000
    e2e_stack.script(
        person_please, [ExpectedSpeech(ASKS_FOR_A_PERSON, seconds - 1.0, seconds + 2.5)]
    )
    peer = RtpPeer()
    sipp = dial_the_line(e2e_stack, tmp_path, peer, talk_seconds=60, until_transferred=True)
    try:
        talking = threading.Thread(
            target=lambda: (peer.silence(8), peer.play(speech), peer.silence(40)), daemon=True
        )
        talking.start()
        call = wait_until(
            lambda: Call.objects.filter(channel=Call.Channel.PHONE).first(), 30, "the phone call"
        )
        transfer = wait_until(
            lambda: call.events.filter(type=CallEvent.Type.TRANSFER).first(), 60, "the transfer"
        )
        assert call.events.filter(type=CallEvent.Type.HANDOFF_REQUESTED).exists()
        if desk == "closed":
            # Nobody is there to take the call: the agent is told when they are, and keeps
            # the caller (nothing is scheduled, no REFER).
            assert transfer.payload == {
                "to": DESK, "by": "", "result": "not transferred: outside the line's opening hours"
            }  # fmt: skip
            told = wait_until(
                lambda: requests_with_tool_output(e2e_stack, "No colleague can take the call"),
                30,
                "the agent to be told the desk is closed",
            )
            assert phone_line.hours_spoken in told
            time.sleep(5)  # longer than the stack's PHONE_TRANSFER_AFTER_SECONDS
            assert call.events.filter(type=CallEvent.Type.TRANSFER).count() == 1
            async_to_sync(delete_room)(e2e_stack, call.room_name)
            sipp.wait(30)
            assert not (tmp_path / "refer_to").exists()
            e2e_stack.wait_for_job_end(call.pk)
            return
        assert transfer.payload == {"to": DESK, "by": "", "result": "transferred"}
        hung_up_cleanly(sipp, tmp_path / "sipp.log", 30)
        # The phone got the REFER with the line's destination.
        assert (tmp_path / "refer_to").read_text().strip() == DESK
        assert (
            transfer.to_message()["text"]
            == f"The agent transferred the caller to {DESK}: transferred"
        )
    finally:
        if sipp.poll() is None:
            sipp.kill()
        peer.close()
    e2e_stack.wait_for_job_end(call.pk)


SUPERVISOR_SAYS = "Hello this is Jane the service manager and I will look after you now"
MEANWHILE = "Thank you Jane my car makes a grinding noise when I brake"


@pytest.mark.browser
def test_a_supervisor_joins_a_phone_call_takes_it_over_and_transfers_the_caller(
    e2e_stack, phone_line, caller_browser, tmp_path, staff_user
):
    from playwright.sync_api import expect

    from tests.support.voice_stack import speech_wav
    from tests.test_supervisor_end_to_end import requests_with, supervisor_page

    phone_line.transfer_to = DESK
    phone_line.save()
    microphone = tmp_path / "supervisor.wav"
    supervisor_seconds = speech_wav(microphone, SUPERVISOR_SAYS, leading_silence=3)
    meanwhile = speech_at_8k(MEANWHILE)
    seconds = len(meanwhile) / 8000
    e2e_stack.script(
        person_please,
        [
            ExpectedSpeech(SUPERVISOR_SAYS, supervisor_seconds - 1.0, supervisor_seconds + 2.5),
            ExpectedSpeech(MEANWHILE, seconds - 1.0, seconds + 2.5),
        ],
    )
    peer = RtpPeer()
    sipp = dial_the_line(e2e_stack, tmp_path, peer, talk_seconds=120, until_transferred=True)
    try:
        peer.stay_on_the_line()
        call = wait_until(
            lambda: Call.objects.filter(channel=Call.Channel.PHONE).first(), 30, "the phone call"
        )
        wait_until(lambda: call.segments.filter(text=GREETING).exists(), 40, "the greeting")
        monitor = supervisor_page(e2e_stack, caller_browser, tmp_path, staff_user, microphone)
        monitor.locator(f'button.call-item[data-call-id="{call.pk}"]').click()
        expect(monitor.locator("#transcript")).to_contain_text(GREETING, timeout=15000)
        transfer_button = monitor.get_by_role("button", name="Transfer to a person")
        expect(transfer_button).to_be_visible()

        # Joining: the phone hears the supervisor (the agent is quiet, waiting for the caller).
        time.sleep(2)
        assert peer.level_since(time.monotonic() - 1.5) < 0.005, "the line is not quiet"
        joined = time.monotonic()
        monitor.get_by_role("button", name="Join the call").click()
        expect(monitor.locator("#control-status")).to_contain_text(
            "You are on the call", timeout=15000
        )
        wait_until(lambda: peer.level_since(joined + 2) > 0.01, 30, "the supervisor on the line")
        said = wait_until(
            lambda: call.segments.filter(speaker=TranscriptSegment.Speaker.SUPERVISOR).first(),
            40,
            "the supervisor's words to be transcribed",
        )
        assert said.text == SUPERVISOR_SAYS

        # Taking over: the caller speaks, is transcribed, and the agent does not answer.
        monitor.get_by_role("button", name="Take over").click()
        expect(monitor.get_by_role("button", name="Hand back to the agent")).to_be_visible(
            timeout=10000
        )
        peer.say(meanwhile)
        wait_until(
            lambda: call.segments.filter(
                speaker=TranscriptSegment.Speaker.CUSTOMER, text=MEANWHILE
            ).exists(),
            40,
            "the caller's words to be transcribed",
        )
        time.sleep(3)
        assert requests_with(e2e_stack, "grinding noise") == []

        # Transferring: the phone gets the REFER to the line's desk, by this supervisor.
        transfer_button.click()
        transfer = wait_until(
            lambda: call.events.filter(type=CallEvent.Type.TRANSFER).first(), 60, "the transfer"
        )
        assert transfer.payload == {"to": DESK, "by": staff_user.username, "result": "transferred"}
        hung_up_cleanly(sipp, tmp_path / "sipp.log", 30)
        assert (tmp_path / "refer_to").read_text().strip() == DESK
        expect(monitor.locator("#transcript")).to_contain_text(
            f"{staff_user.username} transferred the caller to {DESK}", timeout=10000
        )
    finally:
        if sipp.poll() is None:
            sipp.kill()
        peer.close()
    e2e_stack.wait_for_job_end(call.pk)


CALLBACK_OPENING = "Hello, this is the service desk calling you back."


HELLO = "Hello?"
VOICEMAIL_GREETING = (
    "Hi, you have reached Sam, I cannot take your call right now, please leave a message"
)


def tool_names(request: dict) -> set[str]:
    return {tool["function"]["name"] for tool in request.get("tools") or []}


def detecting(request: dict) -> Reply:
    """The scripted answering-machine detection: a voicemail greeting or a person."""
    heard = str(request["messages"][-1].get("content", ""))
    label = "machine-vm" if "leave a message" in heard else "human"
    return Reply(tool_calls=[ToolCall("save_prediction", {"label": label})])


def calling_back(request: dict) -> Reply:
    """The scripted LLM of a callback: it tells a voicemail greeting from a person when the
    answering-machine detection asks, and opens with the reason it was given."""
    messages = request["messages"]
    if "save_prediction" in tool_names(request):
        return detecting(request)
    if "calling the customer back" in json.dumps(messages) and messages[-1]["role"] != "tool":
        return Reply(text=CALLBACK_OPENING)
    return service_desk(request)


@pytest.fixture
def callback_line(phone_line, django_user_model):
    """The line with an outbound trunk to a SIPp phone on this machine, and a supervisor."""
    from tests.support.s3 import free_port

    port = free_port()
    phone_line.outbound_address = f"127.0.0.1:{port}"
    phone_line.allowed_addresses = "127.0.0.1"  # SIPp calls from here; callbacks need it
    provisioning.provision(phone_line)
    phone_line.save()
    supervisor = django_user_model.objects.create_user("sup", is_staff=True)
    supervisor.user_permissions.add(Permission.objects.get(codename="monitor_calls"))
    client = Client()
    client.force_login(supervisor)
    return phone_line, port, client


def ask_for_callback(supervisor: Client) -> tuple[Call, Call]:
    """A failed phone call, and the callback ``supervisor`` asked for through the API."""
    original = failed_phone_call()
    asked = supervisor.post(f"/api/calls/{original.pk}/callback/")
    assert asked.status_code == 201, asked.content
    return original, Call.objects.get(pk=asked.json()["call_id"])


@contextmanager
def customers_phone(folder: Path, scenario: str, *, port: int, peer=None, talk_seconds=60):
    """SIPp as the customer's phone the callback dials (``start_sipp_phone``), with ``peer``
    as its audio; put down and closed at the end. Yields (SIPp, the file of its RTP port)."""
    rtp_port = peer.port if peer is not None else 0
    phone, port_file = start_sipp_phone(
        folder, scenario, port=port, rtp_port=rtp_port, talk_seconds=talk_seconds
    )
    try:
        yield phone, port_file
    finally:
        if phone.poll() is None:
            phone.kill()
        if peer is not None:
            peer.close()


def callback_result(callback: Call, seconds: float, what: str = "the result") -> CallEvent:
    """The callback's outcome, once the job has recorded it."""
    return wait_until(
        lambda: callback.events.filter(type=CallEvent.Type.CALLBACK).first(), seconds, what
    )


def failure_of(callback: Call) -> str:
    """Why ``callback`` failed, once it is stored as failed (what it holds, if it never is)."""
    try:
        wait_until(
            lambda: Call.objects.filter(pk=callback.pk, status=Call.Status.FAILED).exists(),
            20,
            "the callback to be failed",
        )
    except AssertionError:
        callback.refresh_from_db()
        events = list(callback.events.values_list("type", "payload"))
        raise AssertionError(f"{callback.status} {callback.failure_reason!r} {events}") from None
    callback.refresh_from_db()
    return callback.failure_reason


def greeted_as_a_person(stack) -> bool:
    """Whether the agent was ever asked for the callback's opening (a person answered)."""
    return any("Greet them" in json.dumps(r["messages"]) for r in list(stack.models.requests))


def a_person_answers(peer: RtpPeer, port_file: Path) -> None:
    """Once the phone rings, a person picks up and says "Hello?" (then stays silent)."""
    listen_to_the_phone(peer, port_file, "the phone to ring")
    hello = speech_at_8k(HELLO)
    threading.Thread(
        target=lambda: (peer.silence(1), peer.play(hello), peer.silence(30)), daemon=True
    ).start()


def failed_phone_call() -> Call:
    return Call.objects.create(
        channel=Call.Channel.PHONE, caller=CALLER, dialled_number=LINE,
        status=Call.Status.FAILED, failure_reason=Call.NEVER_ANSWERED,
    )  # fmt: skip


def test_a_callback_rings_the_customer_who_hears_why_the_desk_calls(
    e2e_stack, callback_line, tmp_path
):
    _line, port, supervisor = callback_line
    e2e_stack.script(calling_back)
    peer = RtpPeer()
    with customers_phone(tmp_path, ANSWERING, port=port, peer=peer) as (phone, port_file):
        original, callback = ask_for_callback(supervisor)
        assert (callback.callback_of_id, callback.caller) == (original.pk, CALLER)
        a_person_answers(peer, port_file)
        event = callback_result(callback, 40, "the answer")
        # A short "Hello?" is a person (not a silence the detection could not classify).
        assert event.payload == {
            "to": callback.caller_shown,
            "result": "answered",
            "detected": "human",
        }
        answered = time.monotonic()
        wait_until(lambda: peer.level_since(answered) > 0.01, 30, "the opening on the line")
        opening = wait_until(
            lambda: callback.segments.filter(text=CALLBACK_OPENING).first(), 30, "the opening"
        )
        assert opening.speaker == TranscriptSegment.Speaker.AGENT
        sent = json.dumps(e2e_stack.models.requests[0]["messages"])
        assert "your call to the service desk did not go through" in sent
        async_to_sync(delete_room)(e2e_stack, callback.room_name)
        hung_up_cleanly(phone, tmp_path / "sipp-phone.log", 30)
    e2e_stack.wait_for_job_end(callback.pk)


def test_a_callback_that_reaches_voicemail_leaves_a_message_and_hangs_up(
    e2e_stack, callback_line, tmp_path
):
    line, port, supervisor = callback_line
    line.opening_hours = "Mo-Fr 08:00-18:00"
    line.save()
    greeting = speech_at_8k(VOICEMAIL_GREETING)
    seconds = len(greeting) / 8000
    e2e_stack.script(
        calling_back, [ExpectedSpeech(VOICEMAIL_GREETING, seconds - 1.0, seconds + 2.5)]
    )
    peer = RtpPeer()
    with customers_phone(tmp_path, ANSWERING, port=port, peer=peer) as (phone, port_file):
        _original, callback = ask_for_callback(supervisor)
        listen_to_the_phone(peer, port_file, "the phone to ring")
        answered = time.monotonic()
        threading.Thread(
            target=lambda: (peer.silence(0.5), peer.play(greeting), peer.silence(40)), daemon=True
        ).start()
        # The mailbox hears the message, then the line is put down (SIPp gets the BYE).
        hung_up_cleanly(phone, tmp_path / "sipp-phone.log", 60)
        event = callback_result(callback, 20)
        assert event.payload == {
            "to": callback.caller_shown,
            "result": "voicemail",
            "detected": "machine-vm",
        }
        assert peer.level_since(answered + seconds + 1) > 0.01, "no message after the greeting"
        message = wait_until(
            lambda: callback.segments.filter(speaker=TranscriptSegment.Speaker.AGENT).first(),
            20,
            "the message in the transcript",
        )
        assert "calling you back because your call to the service desk did not go through" in (
            message.text
        )
        assert "4 9 3 0 1 2 3 4 5 6" in message.text and "Monday to Friday 8 to 18" in message.text
        # Nobody was greeted as if a person had answered: the opening was never asked for.
        assert not greeted_as_a_person(e2e_stack)
        assert failure_of(callback) == "Callback reached voicemail: a message was left."
    e2e_stack.wait_for_job_end(callback.pk)


def test_a_customer_who_hangs_up_as_the_callback_is_answered_is_recorded_so(
    e2e_stack, callback_line, tmp_path
):
    _line, port, supervisor = callback_line
    e2e_stack.script(calling_back)
    with customers_phone(tmp_path, HANGS_UP, port=port, peer=RtpPeer()) as (phone, _):
        _original, callback = ask_for_callback(supervisor)
        hung_up_cleanly(phone, tmp_path / "sipp-phone.log", 60)
        event = callback_result(callback, 40)
        assert event.payload["result"] == "hung up", event.payload
        assert failure_of(callback) == "Callback answered, but the customer hung up at once."
        assert not greeted_as_a_person(e2e_stack)
    e2e_stack.wait_for_job_end(callback.pk)


@pytest.mark.parametrize(("scenario", "result"), [("busy", "busy"), ("no_answer", "no answer")])
def test_a_callback_nobody_takes_records_why(e2e_stack, callback_line, tmp_path, scenario, result):
    _line, port, supervisor = callback_line
    e2e_stack.script(calling_back)
    scenario_xml = BUSY if scenario == "busy" else NO_ANSWER
    with customers_phone(tmp_path, scenario_xml, port=port, talk_seconds=30) as (phone, _):
        _original, callback = ask_for_callback(supervisor)
        event = callback_result(callback, 60)
        assert event.payload["result"] == result
        assert failure_of(callback) == f"Callback {result}."
        if scenario == "busy":  # the phone that rang unanswered is simply put down at the end
            hung_up_cleanly(phone, tmp_path / "sipp-phone.log", 30)


def test_only_failed_or_abandoned_phone_calls_are_called_back(staff_client):
    web = Call.objects.create(status=Call.Status.FAILED)
    fine = Call.objects.create(
        channel=Call.Channel.PHONE, caller=CALLER, status=Call.Status.ENDED, outcome="resolved"
    )
    for call, why in [(web, "Only phone calls"), (fine, "Only failed or abandoned")]:
        answer = staff_client.post(f"/api/calls/{call.pk}/callback/")
        assert answer.status_code == 400 and why in answer.json()["detail"]
    lineless = failed_phone_call()
    answer = staff_client.post(f"/api/calls/{lineless.pk}/callback/")
    assert answer.status_code == 400 and "no outbound trunk" in answer.json()["detail"]
    page = staff_client.post(f"/history/{lineless.pk}/callback", follow=True)
    assert "no outbound trunk" in page.content.decode()
    assert Call.objects.filter(callback_of__isnull=False).count() == 0


async def room_participants(stack, room: str) -> list[dict]:
    """Who is in ``room`` as LiveKit shows them to anyone in it."""
    from livekit import api

    async with api.LiveKitAPI(
        stack.livekit_url.replace("ws://", "http://"), stack.api_key, stack.api_secret
    ) as lkapi:
        listed = await lkapi.room.list_participants(api.ListParticipantsRequest(room=room))
    return [
        {"identity": p.identity, "name": p.name, "attributes": dict(p.attributes)}
        for p in listed.participants
    ]


async def delete_room(stack, room: str) -> None:
    from livekit import api

    async with api.LiveKitAPI(
        stack.livekit_url.replace("ws://", "http://"), stack.api_key, stack.api_secret
    ) as lkapi:
        await lkapi.room.delete_room(api.DeleteRoomRequest(room=room))


CAMPAIGN_OPENING = "Hello, am I speaking to Ana Lopez?"


def put_down(stack, call: Call, phone, tmp_path: Path) -> None:
    """The desk ends the call (its room deleted), and the customer's phone hangs up."""
    async_to_sync(delete_room)(stack, call.room_name)
    hung_up_cleanly(phone, tmp_path / "sipp-phone.log", 30)


def settled(stack, call: Call, contact) -> None:
    """Once ``call``'s job has ended, the dialler settles its contact (refreshed)."""
    from campaigns import dialler

    stack.wait_for_job_end(call.pk)
    wait_until(lambda: not Call.objects.get(pk=call.pk).is_live, 20, "the call to end")
    assert dialler.settle_ended_calls() == 1
    contact.refresh_from_db()


def ana_in_a_campaign(line, name: str = "Winter check"):
    """Ana Lopez, the customer's phone, in a running campaign on ``line`` that may call at any
    hour."""
    from datetime import time as clock

    from campaigns.models import Campaign, Contact

    campaign = Campaign.objects.create(
        name=name, purpose=Campaign.Purpose.SERVICE_DUE, line=line,
        brief="The winter check is due: offer a slot next week.",
        calling_from=clock(0), calling_until=clock(23, 59, 59), status=Campaign.Status.RUNNING,
    )  # fmt: skip
    return Contact.objects.create(
        campaign=campaign, name="Ana Lopez", phone=CALLER, consent_source="service contract"
    )


def calling_for_a_campaign(request: dict) -> Reply:
    """The scripted LLM of a campaign call: a person answers, and the agent opens by asking
    for the contact, as the campaign's greeting tells it."""
    messages = request["messages"]
    if "save_prediction" in tool_names(request):
        return detecting(request)
    greeting = "First ask whether you are speaking" in json.dumps(messages)
    if greeting and messages[-1]["role"] != "tool":
        return Reply(text=CAMPAIGN_OPENING)
    return service_desk(request)


def test_a_campaign_call_reaches_its_contact_who_is_asked_for_by_name(
    e2e_stack, callback_line, tmp_path
):
    from campaigns import dialler
    from campaigns.models import Contact

    line, port, _supervisor = callback_line
    e2e_stack.script(calling_for_a_campaign)
    contact = ana_in_a_campaign(line)
    peer = RtpPeer()
    with customers_phone(tmp_path, ANSWERING, port=port, peer=peer) as (phone, port_file):
        (attempt,) = dialler.place_due_calls()
        call = attempt.call
        a_person_answers(peer, port_file)
        event = callback_result(call, 40, "the answer")
        assert event.payload["result"] == "answered"
        opening = wait_until(
            lambda: call.segments.filter(text=CAMPAIGN_OPENING).first(), 30, "the opening"
        )
        assert opening.speaker == TranscriptSegment.Speaker.AGENT
        sent = json.dumps([r["messages"] for r in e2e_stack.models.requests])
        # Who calls and why, the disclosure, and the campaign's brief reached the agent.
        assert "Ana Lopez" in sent and "automated assistant" in sent
        assert "offer a slot next week" in sent
        put_down(e2e_stack, call, phone, tmp_path)
    settled(e2e_stack, call, contact)
    assert (contact.state, contact.outcome, contact.attempts) == (
        Contact.State.DONE, Contact.Outcome.TALKED, 1,
    )  # fmt: skip


NOT_AGAIN = "Please do not call me again."
BOOK_IT = "Yes, book me the winter check next Tuesday at ten."


def contact_decides(slot: str):
    """The scripted LLM of a campaign call on which the contact, once asked for by name, says
    what they want: the agent uses its tool for it, then says goodbye."""

    def reply(request: dict) -> Reply:
        messages = request["messages"]
        last = messages[-1]
        decided = {"do_not_call_again", "book_appointment"}
        if "save_prediction" in tool_names(request):  # the answering-machine detection
            return calling_for_a_campaign(request)
        if last["role"] == "tool" and decided & set(json.dumps(messages[-2]).split('"')):
            return Reply(text="Thank you, goodbye.")
        said = json.dumps(last.get("content", ""))
        if last["role"] == "user" and "do not call me again" in said:
            return Reply(tool_calls=[ToolCall("do_not_call_again", {})])
        if last["role"] == "user" and "book me the winter check" in said:
            booking = {"slot": slot, "service": "Winter check", "name": "Ana Lopez"}
            return Reply(tool_calls=[ToolCall("book_appointment", {**booking, "contact": CALLER})])
        return calling_for_a_campaign(request)

    return reply


@pytest.mark.parametrize(
    ("says", "outcome"),
    [(NOT_AGAIN, "do_not_call"), (BOOK_IT, "booked")],
    ids=["asks-not-to-be-called-again", "books"],
)
def test_a_campaign_contact_decides_on_the_call_and_the_dialler_keeps_it(
    e2e_stack, callback_line, tmp_path, settings, says, outcome
):
    """On a real phone call the contact asks never to be called again (the agent's tool puts
    the number on the list), or books the winter check (the appointment tools, as inbound);
    the dialler closes the contact with that outcome, and dials the barred number no more."""
    from appointments.models import Appointment, ServiceType
    from campaigns import dialler
    from campaigns.models import Contact, DoNotCall
    from tests.support.workshop import next_weekday, open_workshop

    open_workshop(settings)
    ServiceType.objects.create(name="Winter check", duration_minutes=60)
    slot = f"{next_weekday(1).isoformat()}T10:00"
    line, port, _supervisor = callback_line
    hello, speech = speech_at_8k(HELLO), speech_at_8k(says)
    heard = [ExpectedSpeech(text, len(audio) / 8000 - 1.0, len(audio) / 8000 + 2.5)
             for text, audio in [(HELLO, hello), (says, speech)]]  # fmt: skip
    e2e_stack.script(contact_decides(slot), heard)
    contact = ana_in_a_campaign(line)
    peer = RtpPeer()
    with customers_phone(tmp_path, ANSWERING, port=port, peer=peer) as (phone, port_file):
        (attempt,) = dialler.place_due_calls()
        call = attempt.call
        listen_to_the_phone(peer, port_file, "the phone to ring")
        opened = threading.Event()

        def person():  # silence is sent too: the agent hears the line go quiet
            peer.silence(1)
            peer.play(hello)
            for _ in range(80):
                if opened.is_set():
                    break
                peer.silence(0.5)
            peer.silence(1)
            peer.play(speech)
            peer.silence(30)

        threading.Thread(target=person, daemon=True).start()
        wait_until(lambda: call.segments.filter(text=CAMPAIGN_OPENING).exists(), 40, "the opening")
        opened.set()
        wait_until(
            lambda: call.segments.filter(text="Thank you, goodbye.").exists(), 40, "the goodbye"
        )
        put_down(e2e_stack, call, phone, tmp_path)
    settled(e2e_stack, call, contact)
    assert (contact.state, contact.outcome) == (Contact.State.DONE, outcome)
    assert call.segments.filter(speaker=TranscriptSegment.Speaker.CUSTOMER, text=says).exists()
    if outcome == "do_not_call":
        assert DoNotCall.objects.filter(number=CALLER).exists()
        again = ana_in_a_campaign(line, "Recall")
        assert dialler.place_due_calls() == []
        again.refresh_from_db()
        assert again.outcome == Contact.Outcome.DO_NOT_CALL and again.attempts == 0
    else:
        booked = Appointment.objects.get(call=call)
        assert (booked.customer_name, booked.service.name) == ("Ana Lopez", "Winter check")
        assert not DoNotCall.objects.exists()


@pytest.mark.parametrize("scenario", ["busy", "no_answer", "voicemail"])
def test_a_campaign_call_nobody_takes_is_tried_again_as_the_campaign_says(
    e2e_stack, callback_line, tmp_path, scenario
):
    """Busy, no answer, and a voicemail box (which hears the campaign's own message): the
    contact waits for its next attempt after the campaign's delay, with what happened."""
    from django.utils import timezone

    from campaigns.models import Contact

    line, port, _supervisor = callback_line
    greeting = speech_at_8k(VOICEMAIL_GREETING)
    seconds = len(greeting) / 8000
    e2e_stack.script(
        calling_for_a_campaign, [ExpectedSpeech(VOICEMAIL_GREETING, seconds - 1.0, seconds + 2.5)]
    )
    contact = ana_in_a_campaign(line)
    campaign = contact.campaign
    campaign.voicemail_message = "This is the winter check reminder from your service desk."
    campaign.retry_after_minutes = 90
    campaign.save()
    sipp = {"busy": BUSY, "no_answer": NO_ANSWER, "voicemail": ANSWERING}[scenario]
    peer = RtpPeer()
    talk = 60 if scenario == "voicemail" else 30  # the box listens until the message ends
    with customers_phone(tmp_path, sipp, port=port, peer=peer, talk_seconds=talk) as (
        phone,
        files,
    ):
        from campaigns import dialler

        (attempt,) = dialler.place_due_calls()
        call = attempt.call
        if scenario == "voicemail":
            listen_to_the_phone(peer, files, "the phone to ring")
            threading.Thread(
                target=lambda: (peer.silence(0.5), peer.play(greeting), peer.silence(40)),
                daemon=True,
            ).start()
            hung_up_cleanly(phone, tmp_path / "sipp-phone.log", 60)
        result = callback_result(call, 60).payload["result"]
        if scenario == "busy":
            hung_up_cleanly(phone, tmp_path / "sipp-phone.log", 30)
    assert result == {"busy": "busy", "no_answer": "no answer", "voicemail": "voicemail"}[scenario]
    if scenario == "voicemail":
        left = wait_until(
            lambda: call.segments.filter(speaker=TranscriptSegment.Speaker.AGENT).first(),
            20, "the message in the transcript",
        )  # fmt: skip
        assert left.text == campaign.voicemail_message
        assert failure_of(call) == "Campaign call reached voicemail: a message was left."
    else:  # the record says why, and nobody answered it
        assert failure_of(call) == f"Campaign call {result}."
        assert call.answered_at is None
    ended = timezone.now()
    settled(e2e_stack, call, contact)
    assert (contact.state, contact.outcome, contact.attempts) == (
        Contact.State.WAITING, {"busy": "busy", "no_answer": "no_answer",
                                "voicemail": "voicemail"}[scenario], 1,
    )  # fmt: skip
    retry = (contact.next_attempt_at - ended).total_seconds() / 60
    assert 89 <= retry <= 91, retry


DESK_PERSON_SAYS = "Hello this is Jane from the service desk how can I help with your warranty"
PHONE_MEANWHILE = "Thank you Jane it is about the gearbox"


@pytest.mark.browser
def test_a_phone_caller_is_handed_to_a_person_at_the_desk_in_their_own_room(
    e2e_stack, phone_line, caller_browser, tmp_path, django_user_model
):
    """No PSTN transfer: the person joins the SIP caller's room from the browser."""
    from django.contrib.auth.models import Permission
    from playwright.sync_api import expect

    from agentworker.desk_handoff import INTRODUCTION
    from desk.models import Handoff
    from tests.support.voice_stack import heard_from, speech_wav
    from tests.test_desk_end_to_end import desk_page
    from tests.test_supervisor_end_to_end import requests_with

    assert not phone_line.transfer_to  # the line hands over to the desk, not to a number
    jane = django_user_model.objects.create_user("jane", first_name="Jane", is_staff=True)
    jane.user_permissions.add(Permission.objects.get(codename="answer_handoffs"))
    microphone = tmp_path / "jane.wav"
    # She speaks once the agent has briefed her and introduced her.
    jane_seconds = speech_wav(microphone, DESK_PERSON_SAYS, leading_silence=40)
    desk = desk_page(e2e_stack, caller_browser, jane, microphone)
    asks, meanwhile = speech_at_8k(ASKS_FOR_A_PERSON), speech_at_8k(PHONE_MEANWHILE)
    e2e_stack.script(
        person_please,
        [
            ExpectedSpeech(ASKS_FOR_A_PERSON, len(asks) / 8000 - 1.0, len(asks) / 8000 + 2.5),
            ExpectedSpeech(DESK_PERSON_SAYS, jane_seconds - 1.0, jane_seconds + 2.5),
            ExpectedSpeech(
                PHONE_MEANWHILE, len(meanwhile) / 8000 - 1.0, len(meanwhile) / 8000 + 2.5
            ),
        ],
    )
    peer = RtpPeer()
    sipp = dial_the_line(e2e_stack, tmp_path, peer, talk_seconds=150)
    try:
        peer.stay_on_the_line()
        call = wait_until(
            lambda: Call.objects.filter(channel=Call.Channel.PHONE).first(), 30, "the phone call"
        )
        wait_until(lambda: call.segments.filter(text=GREETING).exists(), 40, "the greeting")
        peer.say(asks)
        expect(desk.locator("#offer")).to_be_visible(timeout=40000)
        expect(desk.locator("#offer")).to_contain_text("asked for a person")
        desk.get_by_role("button", name="Accept").click()
        expect(desk.locator("#call-status")).to_contain_text("You are on the call", timeout=20000)
        introduced = INTRODUCTION.format(name="Jane")
        wait_until(lambda: call.segments.filter(text=introduced).exists(), 60, "the introduction")
        time.sleep(1.5)
        after_introduction = time.monotonic()

        # The phone hears Jane; her words are hers in the transcript.
        said = wait_until(
            lambda: call.segments.filter(speaker=TranscriptSegment.Speaker.DESK).first(),
            40,
            "Jane's words to be transcribed",
        )
        assert said.text == DESK_PERSON_SAYS
        assert peer.level_since(after_introduction) > 0.01, "the phone did not hear Jane"

        # Jane hears the phone caller; the agent keeps their words and does not answer.
        meanwhile_from = desk.evaluate("Date.now()")
        peer.say(meanwhile)
        wait_until(
            lambda: call.segments.filter(
                speaker=TranscriptSegment.Speaker.CUSTOMER, text=PHONE_MEANWHILE
            ).exists(),
            40,
            "the caller's words to be transcribed",
        )
        desk.wait_for_function(heard_from("sip_"), arg=meanwhile_from, timeout=20000)
        time.sleep(2)
        assert requests_with(e2e_stack, "gearbox") == []
        assert Handoff.objects.get(call=call).accepted_by == jane
        assert not call.events.filter(type=CallEvent.Type.TRANSFER).exists()

        # Jane ends the call: the phone is hung up, the call and the handoff are over.
        desk.get_by_role("button", name="End the call").click()
        expect(desk.locator("#call-status")).to_contain_text("You ended the call", timeout=10000)
        sipp.wait(30)
        ended = wait_until(
            lambda: Call.objects.filter(pk=call.pk).exclude(status__in=Call.LIVE_STATUSES).first(),
            30,
            "the call to end",
        )
        assert ended.status == Call.Status.ENDED
        assert Handoff.objects.get(call=call).status == Handoff.Status.ENDED
        expect(desk.locator("#today")).to_contain_text("Ended with a person", timeout=10000)
    finally:
        if sipp.poll() is None:
            sipp.kill()
        peer.close()
    e2e_stack.wait_for_job_end(call.pk)
