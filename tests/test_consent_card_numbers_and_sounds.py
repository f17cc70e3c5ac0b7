"""What is recorded of a real call, and what its caller hears while the agent works: the
recording policy and the caller's consent, card numbers never in the audio, and the desk's
sounds during a slow tool. Real LiveKit, worker, browser and MinIO, as in the other
end-to-end tests."""

from __future__ import annotations

import subprocess
import threading
import time
import wave

import pytest
from django.db import connection, connections, transaction
from playwright.sync_api import expect

from callcenter.models import Call, CallEvent, TranscriptSegment, WebCallPage
from callcenter.redaction import CARD_REDACTED, redact_card_numbers
from recordings.consent import QUESTION
from recordings.models import Recording, RecordingConsent
from tests.support.recording_audio import sox_rms, stereo_wav
from tests.support.scripted_llm import ExpectedSpeech, Reply, ToolCall, espeak_wav
from tests.support.service_desk_script import (
    ANSWER,
    CALL_SECONDS,
    CALLER_SAYS,
    GREETING,
    SPOKEN_VIN,
    VIN,
)
from tests.support.voice_stack import (
    page_time,
    silence_wav,
    wait_until,
)
from tests.test_call_end_to_end import booking_call, hang_up, silent_caller, start_call
from tests.test_supervisor_end_to_end import type_as_caller
from vehicles.models import Vehicle

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.slow]

AGREED = "Yes, that's fine."
DECLINED = "No, I'd rather not be recorded."
STOP = "Please don't record this."
NOT_RECORDED_SAID = "All right, this call is not recorded."
RECORDED_SAID = "Thank you. " + GREETING
CARD_SAYS = "my card number is four one one one one one one one one one one one one one one one"
CARD_ANSWER = "Thanks. I cannot take card payments on this line."


def consent_desk(request: dict) -> Reply:
    """The scripted LLM: passes the caller's answer about recording to the tool, as a model
    would, and says what the tool said."""
    messages = request["messages"]
    first, last = str(messages[0].get("content", "")), messages[-1]
    content = str(last.get("content", ""))
    if first.startswith("You summarise calls"):
        return Reply(text='{"summary": "A call about recording.", "outcome": "resolved"}')
    if last["role"] == "tool":
        return Reply(text=RECORDED_SAID if "agreed" in content else NOT_RECORDED_SAID)
    if last["role"] == "user" and (DECLINED in content or STOP in content):
        return Reply(tool_calls=[ToolCall("recording_consent", {"agrees": False})])
    if last["role"] == "user" and AGREED in content:
        return Reply(tool_calls=[ToolCall("recording_consent", {"agrees": True})])
    return Reply(text=GREETING)


def web_policy(policy: str) -> None:
    WebCallPage.objects.update_or_create(pk=1, defaults={"recording_policy": policy})


def consents(call: Call) -> list[str]:
    events = call.events.filter(type=CallEvent.Type.RECORDING_CONSENT).order_by("sequence")
    return [event.payload["consent"] for event in events]


def asked_caller(stack, caller_browser, tmp_path):
    """A typing caller on the web page whose policy asks, asked whether they agree: the
    question spoken to its end (its caption comes with its first word)."""
    web_policy("ask")
    page = silent_caller(stack, caller_browser, tmp_path, consent_desk)
    call = start_call(page, stack)
    expect(page.locator("#captions")).to_contain_text(f"Assistant: {QUESTION}", timeout=30000)
    wait_until(lambda: call.segments.filter(text=QUESTION).exists(), 30, "the question spoken")
    return page, call


def stored_keys(stack, call: Call) -> list[str]:
    listed = stack.s3.client().list_objects_v2(Bucket=stack.s3.bucket)
    return [item["Key"] for item in listed.get("Contents", []) if str(call.pk) in item["Key"]]


def test_a_caller_who_declines_to_be_recorded_has_no_audio_stored(
    e2e_stack, caller_browser, tmp_path, staff_user
):
    from django.test import Client

    page, call = asked_caller(e2e_stack, caller_browser, tmp_path)
    captions = page.locator("#captions")
    type_as_caller(page, DECLINED)
    expect(captions).to_contain_text(NOT_RECORDED_SAID, timeout=30000)
    hang_up(page, call, e2e_stack)

    assert call.recording_consent == RecordingConsent.DECLINED
    assert consents(call) == ["asked", "declined"]
    assert not call.recordings.exists() and stored_keys(e2e_stack, call) == []
    # The transcript is kept as for every call; supervisors see why there is no recording.
    said = list(call.segments.order_by("sequence").values_list("speaker", "text"))
    assert said[:3] == [
        (TranscriptSegment.Speaker.AGENT, QUESTION),
        (TranscriptSegment.Speaker.CUSTOMER, DECLINED),
        (TranscriptSegment.Speaker.AGENT, NOT_RECORDED_SAID),
    ]
    client = Client()
    client.force_login(staff_user)
    assert client.get(f"/api/calls/{call.pk}/").json()["recording_consent"] == "declined"
    assert "Recording declined by the caller" in client.get(f"/history/{call.pk}/").text


def test_a_caller_who_agrees_and_then_says_stop_has_the_recording_deleted(
    e2e_stack, caller_browser, tmp_path
):
    page, call = asked_caller(e2e_stack, caller_browser, tmp_path)
    captions = page.locator("#captions")
    type_as_caller(page, AGREED)
    expect(captions).to_contain_text(RECORDED_SAID, timeout=30000)
    recording = wait_until(lambda: call.recordings.first(), 20, "the recording to start")
    assert recording.status == Recording.Status.RECORDING
    page.wait_for_timeout(3000)  # some of the call is recorded

    type_as_caller(page, STOP)
    expect(captions).to_contain_text(NOT_RECORDED_SAID, timeout=30000)
    hang_up(page, call, e2e_stack)
    assert call.recording_consent == RecordingConsent.WITHDRAWN
    assert consents(call) == ["asked", "granted", "withdrawn"]
    recording.refresh_from_db()
    assert recording.status == Recording.Status.DISCARDED and not recording.file
    assert stored_keys(e2e_stack, call) == [], "nothing of the call is in the bucket"


def two_utterances(path, first: str, second: str, lead: float, gap: float) -> tuple[float, float]:
    """A microphone that says ``first`` after ``lead`` seconds and ``second`` ``gap`` seconds
    after it; the seconds each lasts."""
    parts, lengths = [], []
    for index, text in enumerate((first, second)):
        part = path.with_suffix(f".{index}.wav")
        part.write_bytes(espeak_wav(text, rate=48000))
        with wave.open(str(part)) as audio:
            lengths.append(audio.getnframes() / audio.getframerate())
        parts.append(part)
    gap_wav = path.with_suffix(".gap.wav")
    silence_wav(gap_wav, gap)
    joined = path.with_suffix(".joined.wav")
    subprocess.run(["sox", str(parts[0]), str(gap_wav), str(parts[1]), str(joined)], check=True)
    subprocess.run(["sox", str(joined), str(path), "pad", str(lead), "1"], check=True)
    return lengths[0], lengths[1]


def card_desk(request: dict) -> Reply:
    messages = request["messages"]
    first, last = str(messages[0].get("content", "")), messages[-1]
    content = str(last.get("content", ""))
    if first.startswith("You summarise calls"):
        return Reply(text='{"summary": "A caller read a card number.", "outcome": "resolved"}')
    if last["role"] == "tool":
        return Reply(text=ANSWER)
    if last["role"] == "user" and CARD_REDACTED in content:
        return Reply(text=CARD_ANSWER)
    if last["role"] == "user" and SPOKEN_VIN in content:
        return Reply(tool_calls=[ToolCall("lookup_vehicle", {"vin": SPOKEN_VIN})])
    return Reply(text=GREETING)


def test_a_card_number_read_out_is_silence_on_both_channels_of_the_recording(
    e2e_stack, caller_browser, tmp_path
):
    Vehicle.objects.create(vin=VIN, make="Honda", model="Accord", year=2003)
    microphone = tmp_path / "caller.wav"
    # The VIN after the announcement and the greeting; the card after the agent's answer.
    vin_seconds, card_seconds = two_utterances(microphone, CALLER_SAYS, CARD_SAYS, 14, 9)
    e2e_stack.script(
        card_desk,
        [
            ExpectedSpeech(CALLER_SAYS, vin_seconds - 1.0, vin_seconds + 2.5),
            ExpectedSpeech(CARD_SAYS, card_seconds - 1.0, card_seconds + 2.5),
        ],
    )
    page = caller_browser(microphone)
    call = start_call(page, e2e_stack)
    captions = page.locator("#captions")
    expect(captions).to_contain_text(f"Assistant: {ANSWER}", timeout=60000)
    expect(captions).to_contain_text(f"Assistant: {CARD_ANSWER}", timeout=60000)
    page.wait_for_timeout(4000)  # the answer is spoken to its end
    hang_up(page, call, e2e_stack)

    segments = {segment.text: segment for segment in call.segments.all()}
    card = segments[redact_card_numbers(CARD_SAYS)]
    vin = segments[CALLER_SAYS]
    [paused] = call.events.filter(type=CallEvent.Type.RECORDING_PAUSED)
    assert paused.payload["reason"] == "card number"
    assert paused.payload["seconds"] >= card_seconds - 1, paused.payload

    recording = wait_until(
        lambda: call.recordings.filter(status=Recording.Status.READY).first(),
        CALL_SECONDS,
        "the recording to be uploaded",
    )
    stored = e2e_stack.s3.client().get_object(Bucket=e2e_stack.s3.bucket, Key=recording.file.name)
    wav = stereo_wav(stored["Body"].read())
    began = recording.created_at  # the recorder starts as its row is made

    def at(moment) -> float:
        return (moment - began).total_seconds()

    spoken = (at(card.started_at) + 0.3, at(card.ended_at) - 0.3)
    assert spoken[1] - spoken[0] > card_seconds - 2, (card.started_at, card.ended_at)
    for channel, who in ((1, "the caller"), (2, "the agent")):
        level = sox_rms(wav, channel, *spoken)
        assert level < 0.0005, f"{who}'s channel holds {level} RMS while the card was read"
    # Audible before (the caller's VIN, the agent's answer) and after (the agent's answer).
    assert sox_rms(wav, 1, at(vin.started_at) + 0.3, at(vin.ended_at) - 0.3) > 0.005
    answer = segments[ANSWER]
    assert sox_rms(wav, 2, at(answer.started_at), at(answer.ended_at)) > 0.005
    after = segments[CARD_ANSWER]
    assert sox_rms(wav, 2, at(after.started_at), at(after.ended_at)) > 0.005


def test_a_caller_hears_the_desk_at_work_while_a_slow_booking_waits(
    e2e_stack, caller_browser, tmp_path
):
    from appointments.models import Appointment, Shop
    from tests.support.service_desk_script import BOOK, BOOKED_ANSWER

    if connection.vendor != "postgresql":
        pytest.skip("a row lock held by another connection needs PostgreSQL")
    web_policy("off")  # the caller's time goes to the booking alone
    # (start_call meters every track the caller hears.)
    page, call = booking_call(e2e_stack, caller_browser, tmp_path)
    captions = page.locator("#captions")
    page.wait_for_timeout(5000)  # the greeting has been spoken

    # Another booking holds the shop's row: the agent's booking tool waits two seconds.
    locked, release = threading.Event(), threading.Event()

    def another_booking() -> None:
        with transaction.atomic():
            Shop.objects.select_for_update().get(pk=1)
            locked.set()
            release.wait(60)
        connections.close_all()

    holder = threading.Thread(target=another_booking)
    holder.start()
    assert locked.wait(10)
    try:
        type_as_caller(page, BOOK)
        wait_until(tool_waits_for_the_lock, 30, "the booking tool to wait for the shop's row")
        waited_from = page_time(page)
        time.sleep(2)
        waited_to = page_time(page)
    finally:
        release.set()
        holder.join(10)
    booked = wait_until(lambda: Appointment.objects.filter(call=call).first(), 30, "a booking")
    expect(captions).to_contain_text(BOOKED_ANSWER.format(reference=booked.reference))

    levels = page.evaluate(
        "([from, to]) => window.remoteLevels.filter(([at]) => at >= from && at <= to)",
        [waited_from, waited_to],
    )
    # Typing is clicks: a quarter of a second or more of it in the two seconds, on the track
    # of the desk's sounds (the agent's voice is silent: it waits for the tool).
    audible = [at for at, rms, _track in levels if rms > 0.01]
    assert len(levels) > 20 and len(audible) >= 5, (
        f"{len(audible)} of {len(levels)} samples audible while the tool waited"
    )
    hang_up(page, call, e2e_stack)
    # The sound is no speech: no segment between the request and the booking's answer.
    said = [text for _, text in call.segments.order_by("sequence").values_list("speaker", "text")]
    at = said.index(BOOK)
    # (Hung up at its caption, which runs ahead of its voice: the answer may be cut.)
    assert BOOKED_ANSWER.format(reference=booked.reference).startswith(said[at + 1]), said


def tool_waits_for_the_lock() -> bool:
    """A session of the worker waits for a row lock (the booking tool on the shop's row)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()"
        )
        return cursor.fetchone()[0] > 0
