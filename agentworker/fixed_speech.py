"""Sentences the agent always says the same way (the greeting, the recording announcement or
question), synthesised once per voice and kept, so that a caller hears them the moment the
agent speaks instead of after speech synthesis.

The audio is kept as a WAV file per voice and sentence in SPEECH_CACHE_DIR, named by a hash of
both: a changed greeting or voice is another file. A sentence not kept yet is said through the
session's TTS as any other, and synthesised for the next calls meanwhile. Files are written
whole or not at all (renamed into place), so job processes and hosts sharing the directory
never read half a file.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import tempfile
import wave
from collections.abc import AsyncIterator
from pathlib import Path

from django.conf import settings
from livekit import rtc
from livekit.agents import AgentSession, APIConnectOptions, tts

logger = logging.getLogger(__name__)

FRAME_MS = 20  # the kept audio is played in frames of this length, as TTS plugins push them
ONE_ATTEMPT = APIConnectOptions(max_retry=0)
CLOSE_SECONDS = 10.0


class FixedSpeech:
    """The kept audio of one voice's fixed sentences (``voice``: what makes the audio differ:
    provider, model, voice, language); synthesises what is missing with ``synthesizer``."""

    def __init__(self, voice: str, synthesizer: tts.TTS, directory: Path | None = None) -> None:
        """``synthesizer``: a TTS of the voice's own, not the session's (the session reports
        its TTS's errors on the call; a sentence that could not be kept is no error of it)."""
        self.voice = voice
        self.synthesizer = synthesizer
        self.directory = Path(directory or settings.SPEECH_CACHE_DIR)
        self.kept: dict[str, rtc.AudioFrame] = {}
        self._filling: set[asyncio.Task] = set()

    def path_of(self, text: str) -> Path:
        digest = hashlib.sha256(f"{self.voice}\n{text}".encode()).hexdigest()
        return self.directory / f"{digest[:32]}.wav"

    async def load(self, *texts: str) -> None:
        """Read the kept audio of ``texts`` (before the call needs it: file reads are not
        free on a busy event loop); a text without any is synthesised in the background."""
        for text in filter(None, texts):
            frame = await asyncio.to_thread(read_wav, self.path_of(text))
            if frame is not None:
                self.kept[text] = frame
            else:
                self._fill(text)

    def say(self, session: AgentSession, text: str, **options):
        """``session.say(text)``, played from the kept audio when there is some."""
        frame = self.kept.get(text)
        if frame is None:
            return session.say(text, **options)
        return session.say(text, audio=frames_of(frame), **options)

    def _fill(self, text: str) -> None:
        task = asyncio.get_running_loop().create_task(self.synthesize(text))
        self._filling.add(task)
        task.add_done_callback(self._filling.discard)

    async def synthesize(self, text: str) -> None:
        """Synthesise ``text`` and keep it for the next calls (a failure only logs: the
        sentence is then synthesised when said, as any other). One attempt: a retried
        synthesis would keep the audio of the failed attempt too, a stutter on every call."""
        try:
            stream = self.synthesizer.synthesize(text, conn_options=ONE_ATTEMPT)
            frame = await stream.collect()
            await asyncio.to_thread(write_wav, self.path_of(text), frame)
        except Exception:
            logger.warning("could not keep the audio of %r", text, exc_info=True)

    async def aclose(self) -> None:
        """Let the syntheses under way finish (a job ending right after its greeting), for
        at most CLOSE_SECONDS."""
        if not self._filling:
            return
        _done, pending = await asyncio.wait(set(self._filling), timeout=CLOSE_SECONDS)
        for task in pending:
            task.cancel()


async def frames_of(frame: rtc.AudioFrame) -> AsyncIterator[rtc.AudioFrame]:
    """``frame`` cut into FRAME_MS frames (the audio output paces them in real time), with
    the event loop's turn between two: the first frame is on its way to the caller while the
    rest is handed over. Without the turn the whole sentence went through the session's
    stages in one go (its transcript's speaking-rate analysis alone ~40 ms for a greeting)
    before the output sent the first frame."""
    samples_per_frame = frame.sample_rate * FRAME_MS // 1000 * frame.num_channels
    data = frame.data  # int16 samples, channels interleaved
    for start in range(0, len(data), samples_per_frame):
        chunk = data[start : start + samples_per_frame]
        yield rtc.AudioFrame(
            chunk.tobytes(), frame.sample_rate, frame.num_channels,
            len(chunk) // frame.num_channels,
        )  # fmt: skip
        await asyncio.sleep(0)


def read_wav(path: Path) -> rtc.AudioFrame | None:
    """The audio kept at ``path``, or None when there is none or it cannot be played (cut
    short, unreadable, another format): the sentence is then synthesised anew."""
    try:
        with wave.open(str(path), "rb") as kept:
            channels, rate = kept.getnchannels(), kept.getframerate()
            data = kept.readframes(kept.getnframes())
            whole = kept.getsampwidth() == 2 and len(data) == kept.getnframes() * 2 * channels
    except FileNotFoundError:
        return None
    except (OSError, EOFError, wave.Error) as error:
        logger.warning("kept audio %s cannot be read: %s", path.name, error)
        return None
    if not whole or not data:
        logger.warning("kept audio %s is cut short or not 16-bit: synthesised anew", path.name)
        return None
    return rtc.AudioFrame(data, rate, channels, len(data) // (2 * channels))


def write_wav(path: Path, frame: rtc.AudioFrame) -> None:
    """Keep ``frame`` at ``path``, whole: written beside it, then renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, partial = tempfile.mkstemp(dir=path.parent, suffix=".partial")
    try:
        os.fchmod(descriptor, 0o644)  # workers of other users may share the folder
        with os.fdopen(descriptor, "wb") as file:
            with wave.open(file, "wb") as kept:
                kept.setnchannels(frame.num_channels)
                kept.setsampwidth(2)
                kept.setframerate(frame.sample_rate)
                kept.writeframes(frame.data.tobytes())
            file.flush()
            os.fsync(file.fileno())  # on disk before its name: never a short file after a crash
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
