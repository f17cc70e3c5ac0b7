"""The recording pauses while a caller reads a card number: when, from the live transcript
(``CardPause``), and what livekit-agents' recorder is handed (``CardSafeRecorder``)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from livekit import rtc
from livekit.agents.voice.recorder_io.recorder_io import _Captured, _Flush

from agentworker.card_pause import (
    HOLD_SECONDS,
    MAX_PAUSE_SECONDS,
    SPEECH_LEAD_SECONDS,
    CardPause,
    CardSafeRecorder,
)

CARD = "4111 1111 1111 1111"
SPOKEN_CARD = "four one one one, one one one one, one one one one, one one one one"


def test_a_card_number_in_the_callers_words_silences_those_words_and_nothing_else():
    pause = CardPause()
    pause.caller_started_speaking(100.0)
    pause.caller_stopped_speaking()
    span = pause.caller_transcript(f"my card is {SPOKEN_CARD}", final=True, at=108.0)
    assert span == (100.0 - SPEECH_LEAD_SECONDS, 108.0)
    assert pause.silent(101.0, 101.02) and pause.silent(107.9, 108.1)
    assert not pause.silent(90.0, 99.0) and not pause.silent(108.5, 110.0)


def test_an_interim_transcript_with_a_card_number_pauses_at_once():
    pause = CardPause()
    pause.caller_started_speaking(50.0)
    assert pause.caller_transcript(f"it is {CARD}", final=False, at=54.0) is None
    assert pause.paused_since == 50.0 - SPEECH_LEAD_SECONDS
    assert pause.silent(60.0, 61.0), "everything after the start is silent until it resumes"


def test_the_agents_question_pauses_until_the_number_is_complete_in_parts():
    pause = CardPause()
    pause.agent_said("Please read me the long number on your card.", at=10.0)
    assert pause.paused_since == 10.0
    pause.caller_started_speaking(12.0)
    assert pause.caller_transcript("four one one one one one one one", final=True, at=15.0) is None
    assert pause.paused_since == 10.0, "half a number keeps the pause"
    pause.caller_started_speaking(16.0)
    span = pause.caller_transcript(f"{CARD}", final=True, at=20.0)
    assert span == (10.0, 20.0)
    assert pause.paused_since is None


def test_the_pause_ends_when_the_caller_moves_on_not_when_they_ask_for_a_moment():
    pause = CardPause()
    pause.agent_said("Can I take your card number?", at=10.0)
    assert pause.caller_transcript("Sure, one moment.", final=True, at=12.0) is None
    moved_on = pause.caller_transcript("I'd rather pay at the desk", final=True, at=15.0)
    assert moved_on == (10.0, 15.0)
    pause.agent_said("Could you give me the card's security code?", at=20.0)
    assert pause.caller_transcript("one two three", final=True, at=22.0) is None
    assert pause.caller_transcript("Is that all?", final=True, at=25.0) == (20.0, 25.0)


def test_a_number_read_in_two_breaths_is_silenced_from_its_first_part():
    pause = CardPause()
    pause.caller_started_speaking(100.0)
    pause.caller_stopped_speaking()
    first = "my card is four one one one one one one one"
    assert pause.caller_transcript(first, final=True, at=104.0) is None
    assert pause.releasable_until(106.0) == 100.0 - SPEECH_LEAD_SECONDS, "the first part is held"
    pause.caller_started_speaking(106.0)
    span = pause.caller_transcript("one one one one one one one one", final=True, at=110.0)
    assert span == (100.0 - SPEECH_LEAD_SECONDS, 110.0)


def test_digits_read_soon_after_a_card_number_are_silenced_too():
    pause = CardPause()
    pause.caller_started_speaking(10.0)
    pause.caller_stopped_speaking()
    pause.caller_transcript(f"it is {CARD}", final=True, at=18.0)
    pause.caller_started_speaking(25.0)
    pause.caller_stopped_speaking()
    span = pause.caller_transcript("and the code is one two three", final=True, at=28.0)
    assert span == (25.0 - SPEECH_LEAD_SECONDS, 28.0)
    pause.caller_started_speaking(200.0)
    assert pause.caller_transcript("my zip is one two three", final=True, at=203.0) is None


def test_words_without_a_card_number_never_pause_and_a_vin_is_no_card():
    pause = CardPause()
    pause.agent_said("Please tell me your vehicle's VIN.", at=1.0)
    pause.caller_started_speaking(2.0)
    assert pause.caller_transcript("it is 1HGCM82633A004352", final=True, at=5.0) is None
    assert pause.paused_since is None and pause.spans == []


def test_a_pause_nothing_ends_ends_after_its_limit():
    pause = CardPause()
    pause.agent_said("What is your card number?", at=0.0)
    assert pause.overdue(MAX_PAUSE_SECONDS - 1) is None
    assert pause.overdue(MAX_PAUSE_SECONDS + 1) == (0.0, MAX_PAUSE_SECONDS + 1)


def _frame(level: int, seconds: float = 0.02) -> rtc.AudioFrame:
    samples = int(48000 * seconds)
    return rtc.AudioFrame(
        data=np.full(samples, level, dtype=np.int16).tobytes(),
        sample_rate=48000,
        num_channels=1,
        samples_per_channel=samples,
    )


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _handed_over(recorder: CardSafeRecorder) -> list:
    items = []
    while not recorder._q.empty():
        items.append(recorder._q.get_nowait())
    return items


def _captured_levels(items) -> list[tuple[float, int]]:
    return [
        (round(item.started_at, 2), int(np.frombuffer(item.frame.data, dtype=np.int16).max()))
        for item in items
        if isinstance(item, _Captured)
    ]


@pytest.fixture
def recorder():
    loop = asyncio.new_event_loop()
    clock = Clock(1000.0)
    recorder = CardSafeRecorder(agent_session=None, pause=CardPause(), clock=clock, loop=loop)
    recorder._close_fut = loop.create_future()  # encoding: items reach the queue
    yield recorder, clock
    loop.close()


def test_the_recorder_gets_each_frame_late_and_a_card_number_as_silence(recorder):
    recorder, clock = recorder
    pause = recorder.pause
    # The caller speaks from 999.7 to 1001.0; the VAD notices at 1000.3.
    for step in range(100):
        clock.now = 999.0 + step * 0.02
        recorder._put(_Captured(0, clock.now, _frame(1000)))
        if step == 65:
            pause.caller_started_speaking(clock.now)
    speech_from = 1000.3 - SPEECH_LEAD_SECONDS
    clock.now = 1001.5
    recorder._put(_Flush(until=clock.now))
    handed = _handed_over(recorder)
    assert [at for at, _ in _captured_levels(handed) if at >= speech_from] == [], (
        "nothing of untranscribed words is handed over"
    )
    flushes = [item.until for item in handed if isinstance(item, _Flush)]
    assert flushes and max(flushes) <= speech_from + 1e-6, "the encoder never writes past them"

    # Their transcript holds a card number: the words reach the recorder as silence.
    pause.caller_stopped_speaking()
    pause.caller_transcript(f"my card number is {CARD}", final=True, at=1002.0)
    clock.now = 1002.0 + HOLD_SECONDS + 0.1
    recorder._put(_Captured(0, 1002.05, _frame(1000)))  # after the number
    recorder._put(_Flush(until=clock.now))
    levels = _captured_levels(handed) + _captured_levels(_handed_over(recorder))
    assert [level for at, level in levels if at < speech_from - 0.01] == [1000] * 35
    assert {level for at, level in levels if speech_from <= at < 1001.0} == {0}
    assert levels[-1] == (1002.05, 1000), "audible again after the number"


def test_the_recorder_hands_everything_over_when_it_closes_and_never_untranscribed_words(
    recorder,
):
    recorder, _clock = recorder
    recorder.pause.caller_started_speaking(1000.5)  # words from 999.9 no transcript showed
    recorder._put(_Captured(0, 999.5, _frame(500)))
    recorder._put(_Captured(0, 1000.0, _frame(500)))
    recorder._put(_Captured(1, 1000.0, _frame(700)))  # the agent's voice is no card number
    assert _captured_levels(_handed_over(recorder)) == []
    recorder._closing = True
    recorder._put(_Flush(until=1001.0))
    assert _captured_levels(_handed_over(recorder)) == [(999.5, 500), (1000.0, 0), (1000.0, 700)]
