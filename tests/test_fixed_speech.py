"""The agent's fixed sentences (greeting, announcement) are synthesised once per voice and
kept: the real OpenAI TTS client against the scripted speech server."""

import asyncio
from types import SimpleNamespace

import numpy as np
import pytest

from agentworker import pipeline
from agentworker.fixed_speech import FRAME_MS, FixedSpeech, frames_of, read_wav, write_wav
from tests.support.scripted_llm import ScriptedLLMServer

SENTENCE = "Welcome to the service desk."


@pytest.fixture
async def speech(settings):
    async with ScriptedLLMServer([]) as server:
        settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = server.base_url, "local"
        settings.AZURE_SPEECH_KEY = settings.AZURE_SPEECH_REGION = ""
        settings.TTS_BASE_URL = settings.TTS_MODEL = settings.TTS_VOICE = ""
        yield server


def kept_speech(directory) -> FixedSpeech:
    return FixedSpeech(pipeline.voice_of("en-US"), pipeline.build_tts("en-US"), directory)


async def test_a_sentence_not_kept_is_synthesised_meanwhile_and_played_from_then_on(
    speech, tmp_path
):
    first = kept_speech(tmp_path)
    await first.load(SENTENCE, "")
    assert first.kept == {}  # this call says it through speech synthesis
    await first.aclose()
    assert speech.spoken == [SENTENCE]

    second = kept_speech(tmp_path)
    await second.load(SENTENCE)
    synthesised = await pipeline.build_tts("en-US").synthesize(SENTENCE).collect()
    kept = second.kept[SENTENCE]
    assert (kept.sample_rate, kept.num_channels) == (synthesised.sample_rate, 1)
    assert bytes(kept.data) == bytes(synthesised.data)
    assert speech.spoken == [SENTENCE, SENTENCE]  # the second call did not ask for it


async def test_each_voice_and_sentence_is_kept_apart(speech, tmp_path, settings):
    one = kept_speech(tmp_path)
    assert one.path_of(SENTENCE) == kept_speech(tmp_path).path_of(SENTENCE)
    assert one.path_of(SENTENCE) != one.path_of(SENTENCE + " Hello.")
    settings.TTS_VOICE = "onyx"
    assert one.path_of(SENTENCE) != kept_speech(tmp_path).path_of(SENTENCE)


@pytest.mark.parametrize("damage", ["not a wav", "cut short"])
async def test_a_damaged_file_is_not_played_and_is_written_again(speech, tmp_path, damage):
    damaged = kept_speech(tmp_path)
    path = damaged.path_of(SENTENCE)
    if damage == "not a wav":
        path.write_bytes(b"RIFF and nothing more")
    else:  # a header saying more audio than the file holds
        whole = await pipeline.build_tts("en-US").synthesize(SENTENCE).collect()
        write_wav(path, whole)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    await damaged.load(SENTENCE)
    assert damaged.kept == {}
    await damaged.aclose()
    assert read_wav(path) is not None
    assert path.stat().st_mode & 0o777 == 0o644  # readable by workers of another user
    assert list(tmp_path.glob("*.partial")) == []  # nothing half-written left beside it


async def test_a_failed_synthesis_keeps_nothing_and_is_tried_once(speech, tmp_path):
    speech.speech_status = 500
    failing = kept_speech(tmp_path)
    await failing.load(SENTENCE)
    await failing.aclose()
    assert list(tmp_path.iterdir()) == []
    assert speech.spoken == [SENTENCE]  # one attempt: a retry would keep a stutter


async def test_kept_audio_is_played_in_short_frames_with_every_sample(speech, tmp_path):
    whole = await pipeline.build_tts("en-US").synthesize(SENTENCE).collect()
    frames = [frame async for frame in frames_of(whole)]
    assert {frame.samples_per_channel for frame in frames[:-1]} == {
        whole.sample_rate * FRAME_MS // 1000
    }
    played = np.concatenate([np.frombuffer(frame.data, dtype=np.int16) for frame in frames])
    assert np.array_equal(played, np.frombuffer(whole.data, dtype=np.int16))


async def test_kept_audio_lets_its_first_frame_go_out_before_the_rest_is_handed_over(
    speech, tmp_path
):
    """The session's audio output sends frames from a task of its own: it must get the loop
    once the first frame is there, not after the whole sentence went through every stage."""
    whole = await pipeline.build_tts("en-US").synthesize(SENTENCE).collect()
    speech = kept_speech(tmp_path)
    speech.kept[SENTENCE] = whole
    # What the agent's say_fixed hands the session (its audio), as AgentSession.say takes it.
    said = speech.say(SimpleNamespace(say=lambda text, audio: audio), SENTENCE)
    handed_over, first_frame = [], asyncio.Event()

    async def session_takes_the_sentence() -> None:
        async for frame in said:
            handed_over.append(frame)
            first_frame.set()

    async def output_sends_the_first_frame() -> int:
        await first_frame.wait()
        return len(handed_over)

    handed_before_sending, _ = await asyncio.gather(
        output_sends_the_first_frame(), session_takes_the_sentence()
    )
    assert len(handed_over) > 20  # a sentence of many frames
    assert handed_before_sending == 1


@pytest.mark.django_db(transaction=True)
async def test_the_greeting_said_is_the_lines_else_the_web_pages_else_the_models(settings):
    settings.CALL_LANGUAGES = ["en-US"]
    from asgiref.sync import sync_to_async

    from agentworker.opening import greeting_for
    from callcenter.greeting import DEFAULT_GREETING
    from callcenter.models import WebCallPage
    from telephony.models import PhoneLine

    line = await PhoneLine.objects.acreate(number="+4930123456", name="Workshop")
    german = await PhoneLine.objects.acreate(number="+4930654321", name="Berlin", languages="de-DE")
    assert await greeting_for(None) == DEFAULT_GREETING
    assert await greeting_for(line) == DEFAULT_GREETING  # a line without one: the page's
    assert await greeting_for(german) == ""  # not the page's English: the model greets
    german.greeting = "Werkstatt Müller, guten Tag. Wie lautet Ihre Fahrgestellnummer?"
    assert await greeting_for(german) == german.greeting
    page = await sync_to_async(WebCallPage.current)()
    page.greeting = ""
    await sync_to_async(page.save)()
    assert await greeting_for(None) == ""  # the model words its own
