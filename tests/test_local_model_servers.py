"""The LLM, speech-to-text and text-to-speech may each be a server of the operator's own (a
local LLM server for chat, a local speech server for audio): the worker's clients talk to the
one each setting names, with its model and voice. Two scripted OpenAI-compatible servers
stand in for them."""

import pytest
from livekit import rtc
from livekit.agents import utils

from agentworker import pipeline
from tests.support.scripted_llm import ScriptedLLMServer


@pytest.fixture
async def servers(settings):
    async with (
        ScriptedLLMServer([]) as chat,
        ScriptedLLMServer([], transcripts=["hello"]) as speech,
    ):
        settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = chat.base_url, "local"
        settings.AZURE_SPEECH_KEY = settings.AZURE_SPEECH_REGION = ""
        settings.STT_BASE_URL, settings.STT_MODEL = speech.base_url, "whisper-small"
        settings.TTS_BASE_URL, settings.TTS_MODEL, settings.TTS_VOICE = (
            speech.base_url, "kokoro", "af_heart",
        )  # fmt: skip
        yield chat, speech


async def test_speech_goes_to_the_speech_server_with_its_model_and_voice(servers):
    chat, speech = servers
    tts = pipeline.build_tts("en-US")
    frames = [event.frame async for event in tts.synthesize("Hello there")]
    assert frames and speech.spoken == ["Hello there"]
    assert (speech.speech_requests[0]["model"], speech.speech_requests[0]["voice"]) == (
        "kokoro", "af_heart",
    )  # fmt: skip

    stt = pipeline.build_stt(["en-US"])
    buffer = [rtc.AudioFrame.create(16000, 1, 1600) for _ in range(10)]
    heard = await stt.recognize(utils.merge_frames(buffer))
    assert heard.alternatives[0].text == "hello"
    assert speech.transcription_models == ["whisper-small"]
    assert chat.requests == [] and chat.audio == [] and chat.spoken == []


async def test_without_speech_settings_everything_goes_to_the_llm_server(servers, settings):
    chat, speech = servers
    settings.STT_BASE_URL = settings.TTS_BASE_URL = ""
    settings.TTS_MODEL = settings.TTS_VOICE = settings.STT_MODEL = ""
    frames = [event.frame async for event in pipeline.build_tts("en-US").synthesize("Hi")]
    assert frames and chat.spoken == ["Hi"] and speech.spoken == []
