"""A scripted OpenAI-compatible chat-completions server for tests and benchmarks.

It speaks the real wire protocol (streamed server-sent events with text and tool calls), so
livekit-plugins-openai talks to it exactly as it would to OpenAI. Each request takes the next
reply of the script; every request body is kept for assertions.

    async with ScriptedLLMServer([Reply(tool_calls=[ToolCall("lookup_vehicle", {...})]),
                                  Reply(text="It is a 2003 Honda Accord.")]) as server:
        llm = openai.LLM(model="scripted", base_url=server.base_url, api_key="test")

It also answers the transcriptions endpoint (``openai.STT(use_realtime=False)``) with the
next of ``transcripts``, keeping each uploaded WAV in ``audio``.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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


class ScriptedLLMServer:
    def __init__(
        self, script: Script, *, chunk_words: int = 3, transcripts: list[str] | None = None
    ) -> None:
        self.script = script
        self.requests: list[dict[str, Any]] = []
        self.transcripts = list(transcripts or [])
        self.transcription_status = 200  # anything else fails every transcription
        self.audio: list[bytes] = []
        self.chunk_words = chunk_words
        self._replies = iter(script) if isinstance(script, list) else None
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def __aenter__(self) -> ScriptedLLMServer:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/audio/transcriptions", self._transcribe)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
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
        if self.transcription_status != 200:
            return web.json_response(
                {"error": {"message": "scripted failure", "type": "server_error"}},
                status=self.transcription_status,
            )
        text = self.transcripts.pop(0) if self.transcripts else ""
        return web.json_response({"text": text})

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
