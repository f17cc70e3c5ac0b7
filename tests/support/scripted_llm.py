"""A scripted OpenAI-compatible chat-completions server for tests and benchmarks.

It speaks the real wire protocol (streamed server-sent events with text and tool calls), so
livekit-plugins-openai talks to it exactly as it would to OpenAI. Each request takes the next
reply of the script; every request body is kept for assertions.

    async with ScriptedLLMServer([Reply(tool_calls=[ToolCall("lookup_vehicle", {...})]),
                                  Reply(text="It is a 2003 Honda Accord.")]) as server:
        llm = openai.LLM(model="scripted", base_url=server.base_url, api_key="test")

It also answers the transcriptions endpoint (``openai.STT(use_realtime=False)``) with the
next of ``transcripts``, keeping each uploaded WAV in ``audio``. A transcript given as
``ExpectedSpeech`` is answered only when the upload is the speech a test played (its length
and level within bounds); anything else is answered with no words and noted in
``unexpected_audio``. The speech endpoint (``openai.TTS``) speaks ``input`` with espeak-ng.

The end-to-end tests run it in a thread of its own (``running_in_thread``) so that a worker in
another process can reach it while the test drives a browser.
"""

from __future__ import annotations

import asyncio
import functools
import io
import itertools
import json
import subprocess
import tempfile
import threading
import time
import wave
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import web


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any]


@dataclass
class Reply:
    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    status: int = 200  # anything else answers with an OpenAI-style error body
    delay: float = 0.0  # seconds before the first chunk


Script = list[Reply] | Callable[[dict[str, Any]], Reply]


@dataclass
class ExpectedSpeech:
    """What the transcription endpoint answers for speech of this length and level."""

    text: str
    min_seconds: float
    max_seconds: float
    min_rms: float = 300.0  # 16-bit samples; silence and comfort noise stay far below

    def mismatch(self, wav: bytes) -> str | None:
        """Why ``wav`` is not this speech, or None when it is."""
        seconds, rms = wav_length_and_level(wav)
        if not self.min_seconds <= seconds <= self.max_seconds:
            return f"{seconds:.2f} s of audio, expected {self.min_seconds}-{self.max_seconds} s"
        if rms < self.min_rms:
            return f"level {rms:.0f} RMS, expected speech (at least {self.min_rms:.0f})"
        return None


def wav_length_and_level(wav: bytes) -> tuple[float, float]:
    """Seconds and RMS level (16-bit units) of a mono or stereo 16-bit WAV."""
    with wave.open(io.BytesIO(wav)) as audio:
        frames = audio.readframes(audio.getnframes())
        seconds = audio.getnframes() / audio.getframerate()
    samples = np.frombuffer(frames, dtype=np.int16).astype(np.float64)
    rms = float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0
    return seconds, rms


def espeak_wav(text: str, *, rate: int = 24000) -> bytes:
    """``text`` spoken by espeak-ng, as a mono 16-bit WAV at ``rate`` Hz.

    Through files, not pipes: a WAV written to a pipe has no length in its header."""
    with tempfile.TemporaryDirectory() as folder:
        spoken, resampled = Path(folder) / "spoken.wav", Path(folder) / "resampled.wav"
        subprocess.run(["espeak-ng", "-w", str(spoken), text], check=True, capture_output=True)
        subprocess.run(
            ["sox", str(spoken), "-r", str(rate), "-b", "16", str(resampled)],
            check=True,
            capture_output=True,
        )
        return resampled.read_bytes()


@functools.lru_cache(maxsize=64)
def _spoken(text: str) -> bytes:
    """espeak-ng's speech of ``text``, made once per text (a benchmark's replies repeat)."""
    return espeak_wav(text)


class ScriptedLLMServer:
    def __init__(
        self, script: Script, *, chunk_words: int = 3, transcripts: list[str] | None = None,
        host: str = "127.0.0.1",
    ) -> None:  # fmt: skip
        self.host = host  # the address it listens on
        self.script = script
        self.requests: list[dict[str, Any]] = []
        self.transcripts: list[str | ExpectedSpeech] = list(transcripts or [])
        self.transcription_status = 200  # anything else fails every transcription
        self.audio: list[bytes] = []
        self.unexpected_audio: list[str] = []
        self.spoken: list[str] = []  # what the speech endpoint was asked to say
        self.speech_delay = 0.0  # seconds before the speech endpoint answers (its first byte)
        self.speech_status = 200  # anything else fails every speech request
        self.speech_requests: list[dict[str, Any]] = []  # their bodies (model, voice, …)
        self.transcription_models: list[str] = []  # the model each transcription asked for
        self.chunk_words = chunk_words
        self._replies = iter(script) if isinstance(script, list) else None
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    async def __aenter__(self) -> ScriptedLLMServer:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/audio/transcriptions", self._transcribe)
        app.router.add_post("/v1/audio/speech", self._speak)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        if self._runner:
            await self._runner.cleanup()

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        if self._replies is None:
            return self.script(body)
        try:
            return next(self._replies)
        except StopIteration:
            return Reply(text="(the script has no more replies)")

    def audio_seconds(self, index: int) -> float:
        """The length of the ``index``-th uploaded WAV."""
        with wave.open(io.BytesIO(self.audio[index])) as audio:
            return audio.getnframes() / audio.getframerate()

    async def _transcribe(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.audio.append(form["file"].file.read())
        self.transcription_models.append(str(form.get("model", "")))
        if self.transcription_status != 200:
            return web.json_response(
                {"error": {"message": "scripted failure", "type": "server_error"}},
                status=self.transcription_status,
            )
        expected = self.transcripts.pop(0) if self.transcripts else ""
        if isinstance(expected, ExpectedSpeech):
            problem = expected.mismatch(self.audio[-1])
            if problem:
                self.unexpected_audio.append(problem)
                self.transcripts.insert(0, expected)  # still waiting for that speech
                return web.json_response({"text": ""})
            expected = expected.text
        return web.json_response({"text": expected})

    async def _speak(self, request: web.Request) -> web.Response:
        body = await request.json()
        text = str(body.get("input", ""))
        self.spoken.append(text)
        self.speech_requests.append(body)
        if self.speech_status != 200:
            return web.json_response(
                {"error": {"message": "scripted failure", "type": "server_error"}},
                status=self.speech_status,
            )
        wav = await asyncio.to_thread(_spoken, text)
        await asyncio.sleep(self.speech_delay)
        return web.Response(body=wav, content_type="audio/wav")

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        reply = self._next_reply(body)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.status != 200:
            return web.json_response(
                {"error": {"message": "scripted failure", "type": "server_error"}},
                status=reply.status,
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        completion_id = f"chatcmpl-{next(self._ids)}"

        async def send(delta: dict[str, Any] | None, finish: str | None = None, **extra) -> None:
            chunk = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": body.get("model", "scripted"),
                "choices": (
                    [{"index": 0, "delta": delta or {}, "finish_reason": finish}]
                    if delta is not None or finish
                    else []
                ),
                **extra,
            }
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())

        await send({"role": "assistant", "content": ""})
        words = reply.text.split(" ") if reply.text else []
        for start in range(0, len(words), self.chunk_words):
            piece = " ".join(words[start : start + self.chunk_words])
            await send({"content": piece if start == 0 else " " + piece})
        for index, call in enumerate(reply.tool_calls):
            await send(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": f"call_{completion_id}_{index}",
                            "type": "function",
                            "function": {
                                "name": call.name,
                                "arguments": json.dumps(call.arguments),
                            },
                        }
                    ]
                }
            )
        await send(None, finish="tool_calls" if reply.tool_calls else "stop")
        prompt_tokens = sum(len(str(m.get("content", ""))) // 4 for m in body.get("messages", []))
        await send(
            None,
            usage={
                "prompt_tokens": prompt_tokens,
                "completion_tokens": max(1, len(words)),
                "total_tokens": prompt_tokens + max(1, len(words)),
            },
        )
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


@contextmanager
def running_in_thread(server: ScriptedLLMServer) -> Iterator[ScriptedLLMServer]:
    """Serve ``server`` from an event loop in a thread of its own, for other processes."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="scripted-llm", daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.__aenter__(), loop).result(timeout=10)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.__aexit__(None, None, None), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
