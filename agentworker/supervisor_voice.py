"""Staff on the call, heard by the agent job: a supervisor who barged in, or the person at
the desk who took the caller's handoff.

The session's RoomIO listens to the caller only. When a supervisor (identity
``supervisor-…``, see ``callcenter.livekit_tokens.barge_in_token``) or a person at the desk
(``desk-…``, ``desk_token``) joins with a microphone, the job also subscribes to their track and
runs it through the bundled VAD and the call's STT:

- while they speak (and for ``ServiceDeskAgent.SUPERVISOR_FLOOR_SECONDS`` after), the agent
  is interrupted and does not answer; it keeps listening to the caller;
- every finished utterance becomes a transcript segment (speaker ``supervisor``, or ``desk``
  with the person's name) and a note in the agent's context, so it knows what was said when
  it speaks again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterable, AsyncIterator
from datetime import UTC, datetime, timedelta

from livekit import rtc
from livekit.agents import stt as agents_stt
from livekit.agents import vad as agents_vad

from agentworker.call_job import CallJob
from callcenter.livekit_tokens import DESK_IDENTITY_PREFIX, SUPERVISOR_IDENTITY_PREFIX
from callcenter.models import TranscriptSegment

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000


def is_supervisor_participant(participant: rtc.RemoteParticipant) -> bool:
    return participant.identity.startswith(SUPERVISOR_IDENTITY_PREFIX)


def is_desk_participant(participant: rtc.RemoteParticipant) -> bool:
    return participant.identity.startswith(DESK_IDENTITY_PREFIX)


def streaming_stt(stt: agents_stt.STT, vad: agents_vad.VAD) -> agents_stt.STT:
    """The STT itself when it streams (Azure), else wrapped to cut utterances with the VAD."""
    if stt.capabilities.streaming:
        return stt
    return agents_stt.StreamAdapter(stt=stt, vad=vad)


class SupervisorVoice:
    """Hears one staff member's audio: floor control for the agent, and their transcript.
    ``name``: a person at the desk's, whose words are theirs (speaker ``desk``); without it
    the words are a supervisor's."""

    def __init__(self, identity: str, job: CallJob, name: str = "") -> None:
        self.identity = identity
        self.name = name
        self.job = job
        self.agent = job.agent
        self.writer = job.writer
        self.vad = job.session.vad
        self.stt = streaming_stt(job.session.stt, self.vad)

    async def hear(self, frames: AsyncIterable[rtc.AudioFrame]) -> None:
        """Consume the supervisor's audio until it ends."""
        vad_stream = self.vad.stream()
        stt_stream = self.stt.stream()
        started = datetime.now(UTC)

        transcribing = True

        async def feed() -> None:
            try:
                async for frame in frames:
                    vad_stream.push_frame(frame)
                    if transcribing:
                        stt_stream.push_frame(frame)
            finally:
                vad_stream.end_input()
                with contextlib.suppress(Exception):
                    stt_stream.end_input()

        async def floor() -> None:
            async for event in vad_stream:
                if event.type == agents_vad.VADEventType.START_OF_SPEECH:
                    self.agent.supervisor_started_speaking()
                elif event.type == agents_vad.VADEventType.END_OF_SPEECH:
                    self.agent.supervisor_stopped_speaking()

        async def transcribe() -> None:
            nonlocal transcribing
            try:
                async for event in stt_stream:
                    if event.type != agents_stt.SpeechEventType.FINAL_TRANSCRIPT:
                        continue
                    text = event.alternatives[0].text.strip() if event.alternatives else ""
                    if text:
                        await self._said(text, event, started)
            except Exception:
                # Speech-to-text gave up: the agent still yields the floor to the supervisor.
                transcribing = False
                logger.exception("supervisor %s: transcription failed", self.identity)

        tasks = [asyncio.create_task(job()) for job in (feed, floor, transcribe)]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.agent.supervisor_stopped_speaking()
            await asyncio.gather(vad_stream.aclose(), stt_stream.aclose(), return_exceptions=True)

    async def _said(self, text: str, event: agents_stt.SpeechEvent, started: datetime) -> None:
        data = event.alternatives[0]
        start = started + timedelta(seconds=data.start_time) if data.start_time else None
        end = started + timedelta(seconds=data.end_time) if data.end_time else None
        speaker = (
            TranscriptSegment.Speaker.DESK if self.name else TranscriptSegment.Speaker.SUPERVISOR
        )
        self.writer.segment(
            speaker,
            text,
            started_at=start,
            ended_at=end or datetime.now(UTC),
            language=str(data.language or "")[:16],
            speaker_name=self.name,
        )
        await self.agent.add_supervisor_words(text, colleague=self.name)


async def audio_frames(track: rtc.Track) -> AsyncIterator[rtc.AudioFrame]:
    """A subscribed audio track as mono 16 kHz frames."""
    stream = rtc.AudioStream.from_track(track=track, sample_rate=SAMPLE_RATE, num_channels=1)
    try:
        async for event in stream:
            yield event.frame
    finally:
        await stream.aclose()


class SupervisorVoices:
    """Starts a ``SupervisorVoice`` for every supervisor's or desk person's microphone
    subscribed in the room."""

    def __init__(self, job: CallJob) -> None:
        self.job = job
        self._tasks: dict[str, asyncio.Task] = {}

    def attach(self, room: rtc.Room) -> None:
        room.on("track_subscribed", self.on_track_subscribed)

    def on_track_subscribed(
        self,
        track: rtc.Track,
        publication: rtc.RemoteTrackPublication,
        participant: rtc.RemoteParticipant,
    ) -> None:
        if track.kind != rtc.TrackKind.KIND_AUDIO:
            return
        if is_desk_participant(participant):
            voice = SupervisorVoice(participant.identity, self.job, participant.name or "Desk")
        elif is_supervisor_participant(participant):
            voice = SupervisorVoice(participant.identity, self.job)
        else:
            return
        task = asyncio.create_task(voice.hear(audio_frames(track)), name=f"supervisor-{track.sid}")
        task.add_done_callback(self._finished)
        self._tasks[track.sid] = task

    def _finished(self, task: asyncio.Task) -> None:
        self._tasks = {sid: t for sid, t in self._tasks.items() if t is not task}
        if not task.cancelled() and task.exception() is not None:
            logger.error("supervisor audio failed", exc_info=task.exception())

    async def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
