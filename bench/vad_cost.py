"""What voice adds per call on the worker: the bundled Silero VAD listening to the caller.

In a voice call the worker runs the VAD on every 10 ms frame of the caller's audio for the
whole call (STT and TTS are remote services). This runs ``--streams`` VAD streams in one
process, each fed synthetic speech (espeak-ng) and silence in real time, and reports the CPU
the process used per stream, so one can see how many calls' VADs two cores hold.

    .venv/bin/python -m bench.vad_cost --streams 1,8,16 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import tempfile
import time
import wave
from pathlib import Path

import numpy as np
import psutil

from bench.common import report

SAMPLE_RATE = 16000
FRAME = SAMPLE_RATE // 100  # 10 ms


def caller_audio() -> np.ndarray:
    """About 5 s of speech followed by 3 s of silence, at 16 kHz."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "caller.wav"
        subprocess.run(
            ["espeak-ng", "-w", str(path), "My VIN is one H G C M eight two six three three."],
            check=True,
        )
        with wave.open(str(path)) as audio:
            rate = audio.getframerate()
            samples = np.frombuffer(audio.readframes(audio.getnframes()), dtype=np.int16)
    positions = np.linspace(0, len(samples) - 1, int(len(samples) * SAMPLE_RATE / rate))
    speech = np.interp(positions, np.arange(len(samples)), samples).astype(np.int16)
    return np.concatenate([speech, np.zeros(SAMPLE_RATE * 3, dtype=np.int16)])


async def listen(vad, audio: np.ndarray, seconds: float, events: list) -> None:
    from livekit import rtc
    from livekit.agents import vad as agents_vad

    stream = vad.stream()

    async def feed() -> None:
        started = time.monotonic()
        for index in range(int(seconds * 100)):
            start = (index * FRAME) % (len(audio) - FRAME)
            chunk = audio[start : start + FRAME]
            stream.push_frame(rtc.AudioFrame(chunk.tobytes(), SAMPLE_RATE, 1, FRAME))
            await asyncio.sleep(max(0, started + (index + 1) / 100 - time.monotonic()))
        stream.end_input()

    async def read() -> None:
        async for event in stream:
            if event.type == agents_vad.VADEventType.START_OF_SPEECH:
                events.append(event)

    await asyncio.gather(feed(), read())
    await stream.aclose()


async def measure(streams: int, seconds: float, audio: np.ndarray) -> dict:
    from livekit.agents import inference

    vad = inference.VAD()
    process = psutil.Process()
    before = process.cpu_times()
    started = time.monotonic()
    speech_starts: list = []
    await asyncio.gather(*(listen(vad, audio, seconds, speech_starts) for _ in range(streams)))
    elapsed = time.monotonic() - started
    after = process.cpu_times()
    used = (after.user - before.user) + (after.system - before.system)
    return {
        "streams": streams,
        "seconds": round(elapsed, 1),
        "cpu_cores_used": round(used / elapsed, 3),
        "cpu_cores_per_stream": round(used / elapsed / streams, 4),
        "kept_real_time": elapsed < seconds * 1.05,
        "speech_starts_detected": len(speech_starts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", default="1,8,16")
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    audio = caller_audio()
    levels = [asyncio.run(measure(int(n), args.seconds, audio)) for n in args.streams.split(",")]
    report("vad_cost", {"levels": levels})


if __name__ == "__main__":
    main()
