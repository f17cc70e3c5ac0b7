"""What voice adds per call on the worker: the bundled local models.

In a voice call the worker runs the Silero VAD on every 10 ms frame of the caller's audio for
the whole call, and the end-of-turn model (turn-detector v1-mini) on the last 1.2 s of audio
each time the caller stops speaking (STT and TTS are remote services). This runs ``--streams``
VAD streams in one process, each fed synthetic speech (espeak-ng) and silence in real time,
and reports the CPU used per stream; then times the end-of-turn prediction (wall and CPU).

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

from bench.common import percentiles, report

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


def end_of_turn_cost(audio: np.ndarray, repeats: int = 50) -> dict:
    """Wall and CPU milliseconds of one end-of-turn prediction on 1.2 s of speech."""
    from livekit.local_inference import EOT

    model = EOT()
    window = audio[: int(1.2 * SAMPLE_RATE)]
    model.predict(window)  # warm
    wall, cpu = [], []
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        model.predict(window)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    return {"end_of_turn_wall_ms": percentiles(wall), "end_of_turn_cpu_ms": percentiles(cpu)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", default="1,8,16")
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    audio = caller_audio()
    levels = [asyncio.run(measure(int(n), args.seconds, audio)) for n in args.streams.split(",")]
    report("vad_cost", {"levels": levels, **end_of_turn_cost(audio)})


if __name__ == "__main__":
    main()
