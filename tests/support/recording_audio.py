"""What a stored recording holds: decoded with PyAV, measured with sox."""

from __future__ import annotations

import io
import subprocess
import wave

import numpy as np

RATE = 48000


def stereo_wav(ogg: bytes) -> bytes:
    """A stereo recording (Ogg/Opus) as a 48 kHz 16-bit WAV."""
    import av

    with av.open(io.BytesIO(ogg)) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="s16", layout="stereo", rate=RATE)
        chunks = [
            resampled.to_ndarray()
            for frame in container.decode(stream)
            for resampled in resampler.resample(frame)
        ]
    samples = np.concatenate(chunks, axis=1).reshape(-1) if chunks else np.zeros(0, np.int16)
    wav = io.BytesIO()
    with wave.open(wav, "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(samples.astype(np.int16).tobytes())
    return wav.getvalue()


def sox_rms(wav: bytes, channel: int, start: float | None = None, end: float | None = None):
    """The RMS level (0..1) of one channel (1: the caller, 2: the agent), over ``start`` to
    ``end`` seconds when given."""
    trim = [] if start is None else ["trim", f"{max(start, 0):.3f}", f"={end:.3f}"]
    stats = subprocess.run(
        ["sox", "-t", "wav", "-", "-n", "remix", str(channel), *trim, "stat"],
        input=wav,
        capture_output=True,
        check=True,
    ).stderr.decode()
    return float(stats.split("RMS     amplitude:")[1].split()[0])


def channel_levels(ogg: bytes) -> tuple[float, float, float]:
    """Seconds and the RMS level of each channel of a stereo recording."""
    wav = stereo_wav(ogg)
    with wave.open(io.BytesIO(wav)) as audio:
        seconds = audio.getnframes() / audio.getframerate()
    return seconds, sox_rms(wav, 1), sox_rms(wav, 2)
