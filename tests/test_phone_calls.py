"""Phone calls through the real livekit-sip bridge: SIPp dials a provisioned line, the test's
RTP peer speaks G.711 to it and listens; the agent, the database and the monitor serve the
phone caller as they serve a web caller."""

from __future__ import annotations

import io
import json
import threading
import time
import wave

import numpy as np
import pytest

from callcenter.models import Call, CallEvent, TranscriptSegment
from telephony import provisioning
from telephony.models import PhoneLine
from tests.support.phone import RtpPeer, start_sipp_call
from tests.support.scripted_llm import ExpectedSpeech, Reply, ToolCall, espeak_wav
from tests.support.service_desk_script import CALLER_SAYS, GREETING, VIN, service_desk
from tests.support.voice_stack import AGENT_NAME, wait_until
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
    line = provisioning.provision(PhoneLine(number=LINE, name="Service desk"))
    line.save()
    yield line
    provisioning.unprovision(line)


def speech_at_8k(text: str) -> np.ndarray:
    with wave.open(io.BytesIO(espeak_wav(text, rate=8000))) as reader:
        return np.frombuffer(reader.readframes(reader.getnframes()), dtype=np.int16)


def test_a_phone_call_is_answered_greeted_heard_and_looked_up(e2e_stack, phone_line, tmp_path):
    vehicle = Vehicle.objects.create(vin=VIN, make="Honda", model="Accord", year=2003)
    speech = speech_at_8k(CALLER_SAYS)
    seconds = len(speech) / 8000
    e2e_stack.script(service_desk, [ExpectedSpeech(CALLER_SAYS, seconds - 1.0, seconds + 2.5)])
    peer = RtpPeer()
    sipp, port_file = start_sipp_call(
        tmp_path, sip_port=e2e_stack.sip_port, caller=CALLER, dialled=LINE,
        rtp_port=peer.port, talk_seconds=45,
    )  # fmt: skip
    try:
        wait_until(
            lambda: port_file.exists() and port_file.read_text().strip(), 40, "the call answered"
        )
        peer.remote = ("127.0.0.1", int(port_file.read_text().strip()))
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
        # The agent's greeting comes back over RTP, not silent.
        wait_until(lambda: peer.level_since(answered) > 0.01, 30, "the greeting on the line")
        # The caller's spoken VIN is heard, looked up and answered.
        lookup = wait_until(
            lambda: call.events.filter(type=CallEvent.Type.TOOL_CALL).first(), 60, "the lookup"
        )
        assert lookup.payload["name"] == "lookup_vehicle"
        call.refresh_from_db()
        assert call.vehicle_id == vehicle.pk
        said = list(call.segments.order_by("sequence").values_list("speaker", "text"))
        assert said[0] == (TranscriptSegment.Speaker.AGENT, GREETING)
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
    # The caller leaving is an event, with their number masked like everywhere else.
    left = call.events.filter(type=CallEvent.Type.PARTICIPANT_LEFT)
    assert left.exists() and "678" in str(left.first().payload)
    assert not any(CALLER in str(event.payload) for event in call.events.all())


def test_a_saved_line_exists_on_livekit_and_a_refused_one_leaves_nothing(e2e_stack, settings):
    import asyncio

    from livekit import api

    settings.LIVEKIT_URL = e2e_stack.livekit_url
    settings.LIVEKIT_API_KEY = e2e_stack.api_key
    settings.LIVEKIT_API_SECRET = e2e_stack.api_secret
    line = provisioning.provision(PhoneLine(number="+4930999888", name="Parts"))
    line.save()

    async def listed():
        async with api.LiveKitAPI(
            e2e_stack.livekit_url.replace("ws://", "http://"), e2e_stack.api_key,
            e2e_stack.api_secret,
        ) as lkapi:  # fmt: skip
            trunks = await lkapi.sip.list_inbound_trunk(api.ListSIPInboundTrunkRequest())
            rules = await lkapi.sip.list_dispatch_rule(api.ListSIPDispatchRuleRequest())
            return trunks.items, rules.items

    trunks, rules = asyncio.run(listed())
    ours = [t for t in trunks if t.sip_trunk_id == line.inbound_trunk_id]
    assert ours and ours[0].numbers == ["+4930999888"]
    assert any(r.sip_dispatch_rule_id == line.dispatch_rule_id for r in rules)
    # Saving again keeps exactly one trunk and one rule for the number.
    provisioning.provision(line)
    trunks, rules = asyncio.run(listed())
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
    trunks, rules = asyncio.run(listed())
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


def test_a_phone_caller_who_asks_for_a_person_is_transferred_to_the_lines_desk(
    e2e_stack, phone_line, tmp_path
):
    phone_line.transfer_to = DESK
    phone_line.save()
    speech = speech_at_8k(ASKS_FOR_A_PERSON)
    seconds = len(speech) / 8000
    e2e_stack.script(
        person_please, [ExpectedSpeech(ASKS_FOR_A_PERSON, seconds - 1.0, seconds + 2.5)]
    )
    peer = RtpPeer()
    sipp, port_file = start_sipp_call(
        tmp_path, sip_port=e2e_stack.sip_port, caller=CALLER, dialled=LINE,
        rtp_port=peer.port, talk_seconds=60, until_transferred=True,
    )  # fmt: skip
    try:
        wait_until(
            lambda: port_file.exists() and port_file.read_text().strip(), 40, "the call answered"
        )
        peer.remote = ("127.0.0.1", int(port_file.read_text().strip()))
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
        assert transfer.payload == {"to": DESK, "by": "", "result": "transferred"}
        assert call.events.filter(type=CallEvent.Type.HANDOFF_REQUESTED).exists()
        assert sipp.wait(30) == 0, (tmp_path / "sipp.log").read_text()[-2000:]
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
