"""A supervisor who barged in: the agent goes quiet while they speak, and their words are a
transcript of their own. Real speech (espeak-ng), the bundled Silero VAD, and the OpenAI STT
and LLM plugins against the scripted server."""

import asyncio
import os
import shutil
import subprocess
import wave
from contextlib import asynccontextmanager

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import AgentSession, inference
from livekit.plugins import openai

from agentworker.entrypoint import caller_room_options
from agentworker.supervisor_voice import (
    SupervisorVoice,
    SupervisorVoices,
    is_supervisor_participant,
)
from agentworker.writer import CallWriter
from callcenter.livekit_tokens import barge_in_token, new_caller_identity
from callcenter.models import Call, TranscriptSegment
from tests.support.agent_job import text_mode_job
from tests.support.scripted_llm import Reply, ScriptedLLMServer

pytestmark = pytest.mark.django_db(transaction=True)
SPOKEN = "Hello, this is Jane, the service manager. I will look after your warranty claim."
FRAME_MS = 20


@pytest.fixture(scope="module")
def supervisor_speech(tmp_path_factory):
    """~5 s of synthetic speech (espeak-ng) as 20 ms mono frames, with a second of silence
    before and after."""
    if shutil.which("espeak-ng") is None:
        message = "these tests speak with espeak-ng (apt-get install espeak-ng; make test does)"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    path = tmp_path_factory.mktemp("speech") / "supervisor.wav"
    subprocess.run(["espeak-ng", "-w", str(path), SPOKEN], check=True)
    with wave.open(str(path)) as audio:
        rate = audio.getframerate()
        samples = np.frombuffer(audio.readframes(audio.getnframes()), dtype=np.int16)
    silence = np.zeros(rate, dtype=np.int16)
    samples = np.concatenate([silence, samples, silence])
    step = rate * FRAME_MS // 1000
    return [
        rtc.AudioFrame(samples[i : i + step].tobytes(), rate, 1, step)
        for i in range(0, len(samples) - step + 1, step)
    ]


async def frames_of(frames, *, realtime: bool):
    for frame in frames:
        yield frame
        await asyncio.sleep(FRAME_MS / 1000 if realtime else 0)


@asynccontextmanager
async def call_with_supervisor(script, transcripts):
    call = await Call.objects.acreate(status=Call.Status.ACTIVE)
    async with ScriptedLLMServer(script, transcripts=transcripts) as server:
        writer = await CallWriter.open(call.pk)
        model = openai.LLM(model="scripted", base_url=server.base_url, api_key="test")
        stt = openai.STT(base_url=server.base_url, api_key="test", use_realtime=False)
        async with AgentSession(llm=model, stt=stt, vad=inference.VAD()) as session:
            job, _recorder = text_mode_job(call, writer, session)
            agent = job.agent
            agent.SUPERVISOR_FLOOR_SECONDS = 0.5
            await session.start(agent)
            voice = SupervisorVoice("supervisor-1-ab12", job)
            yield call, session, agent, server, writer, voice
        await writer.close()


def contents(body):
    return [str(m.get("content")) for m in body["messages"]]


async def test_the_supervisors_words_are_their_own_segment_and_known_to_the_agent(
    supervisor_speech,
):
    script = [Reply(text="As Jane said, we will handle the claim. Anything else?")]
    async with call_with_supervisor(script, [SPOKEN]) as (call, session, agent, server, writer, v):
        await v.hear(frames_of(supervisor_speech, realtime=False))
        await asyncio.sleep(agent.SUPERVISOR_FLOOR_SECONDS)
        await session.run(user_input="Thank you, Jane.")
        await writer.flush()
    # The VAD cut one utterance, about as long as the speech, and the STT got it.
    assert len(server.audio) == 1
    assert 4.0 < server.audio_seconds(0) < 7.0
    segments = [(s.speaker, s.text) async for s in TranscriptSegment.objects.filter(call=call)]
    assert segments[0] == (TranscriptSegment.Speaker.SUPERVISOR, SPOKEN)
    assert (TranscriptSegment.Speaker.CUSTOMER, "Thank you, Jane.") in segments
    # The agent's next request knew what the supervisor told the caller.
    assert any(SPOKEN in text for text in contents(server.requests[-1]))


async def test_the_agent_is_cut_off_and_holds_back_while_the_supervisor_speaks(
    supervisor_speech,
):
    script = [
        Reply(text="Let me read you the whole warranty policy from the start.", delay=3.0),
        Reply(text="Jane has you covered. Is there anything else?"),
    ]
    async with call_with_supervisor(script, [SPOKEN]) as (call, session, agent, server, writer, v):
        speaking = session.generate_reply(instructions="Explain the warranty.")
        hearing = asyncio.create_task(v.hear(frames_of(supervisor_speech, realtime=True)))
        await asyncio.wait_for(speaking.wait_for_playout(), timeout=5)
        assert speaking.interrupted, "the agent kept talking over the supervisor"
        assert agent.supervisor_speaking

        # The caller speaks while the supervisor has the floor: the agent listens only.
        await session.run(user_input="Will the claim cover the gearbox?")
        assert len(server.requests) == 1  # only the interrupted reply's request

        await hearing
        await asyncio.sleep(agent.SUPERVISOR_FLOOR_SECONDS + 0.1)
        assert not agent.holding_back
        await session.run(user_input="Thanks, both of you.")
        await writer.flush()
    assert len(server.requests) == 2
    last = contents(server.requests[-1])
    assert any("Will the claim cover the gearbox?" in text for text in last)
    assert any(SPOKEN in text for text in last)
    agent_lines = [
        s.text async for s in TranscriptSegment.objects.filter(call=call, speaker="agent")
    ]
    assert agent_lines == ["Jane has you covered. Is there anything else?"]


async def test_when_transcription_fails_the_agent_still_yields_the_floor(supervisor_speech):
    async with call_with_supervisor([], [SPOKEN]) as (call, _s, agent, server, writer, voice):
        server.transcription_status = 503
        await voice.hear(frames_of(supervisor_speech, realtime=False))  # does not raise
        await writer.flush()
    assert server.audio, "the utterance was sent to the STT"
    assert agent._supervisor_spoke_at > float("-inf"), "the VAD gave the supervisor the floor"
    assert not await TranscriptSegment.objects.filter(call=call, speaker="supervisor").aexists()


class Participant:
    """What the room hands the handler about who published a track: their identity."""

    def __init__(self, identity):
        self.identity = identity


async def test_a_supervisors_microphone_track_is_heard_and_a_callers_is_left_to_the_session(
    supervisor_speech,
):
    """The room wiring: a subscribed audio track, read through livekit-rtc's AudioStream."""
    async with call_with_supervisor([], [SPOKEN]) as (call, _s, _a, _server, writer, voice):
        voices = SupervisorVoices(voice.job)
        rate = supervisor_speech[0].sample_rate
        microphone = rtc.AudioSource(rate, 1)
        track = rtc.LocalAudioTrack.create_audio_track("microphone", microphone)
        callers = rtc.LocalAudioTrack.create_audio_track("caller", rtc.AudioSource(rate, 1))
        voices.on_track_subscribed(callers, None, Participant("caller-0a1b2c3d4e5f"))
        assert voices._tasks == {}
        voices.on_track_subscribed(track, None, Participant("supervisor-3-9f2c"))
        assert len(voices._tasks) == 1
        for frame in supervisor_speech:
            await microphone.capture_frame(frame)
        said = TranscriptSegment.objects.filter(call=call, speaker="supervisor")
        for _ in range(100):
            await writer.flush()
            if await said.aexists():
                break
            await asyncio.sleep(0.1)
        await voices.stop()
    assert [s.text async for s in said] == [SPOKEN]


def test_only_supervisor_identities_are_heard_as_supervisors(settings, django_user_model):
    settings.LIVEKIT_URL = "wss://voice.example.com"
    settings.LIVEKIT_API_KEY = "APIvoice"
    settings.LIVEKIT_API_SECRET = "voice-secret-0123456789-0123456789-012345"
    call = Call(room_name="call-room", caller=new_caller_identity())
    barging, _token = barge_in_token(call, django_user_model(pk=7, username="sup"))
    assert is_supervisor_participant(Participant(barging))
    assert not is_supervisor_participant(Participant(call.caller))
    assert not is_supervisor_participant(Participant("agent-AJ_x"))


def test_the_session_stays_linked_to_the_caller_when_a_supervisor_joins():
    web = Call(channel=Call.Channel.WEB, caller="caller-5e6f7a8b9c0d")
    assert caller_room_options(web).participant_identity == "caller-5e6f7a8b9c0d"
    phone = Call(channel=Call.Channel.PHONE, caller="unknown")
    options = caller_room_options(phone)
    assert options.participant_kinds == [rtc.ParticipantKind.PARTICIPANT_KIND_SIP]
