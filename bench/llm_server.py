"""The scripted OpenAI-compatible server as a process of its own, so a benchmark's event loop
measures the agent's work only. Every request gets the same short reply after ``--delay``;
every transcription the same ``--transcript``; speech comes after ``--speech-delay``.

    .venv/bin/python -m bench.llm_server --delay 0.3      # prints its base URL, serves until killed
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
from contextlib import contextmanager

from bench.common import ROOT

REPLY = "Thanks. Your 2003 Honda Accord is due for its timing belt soon."


TRANSCRIPT = "When is my timing belt due?"


ASKS_FOR_A_PERSON = "person"  # a caller's line with this word asks for one (--desk)


def _answers(delay: float, desk: bool):
    """What the server answers: always REPLY; with ``desk``, a request_human tool call to a
    caller's line that asks for a person, and a short sentence after any tool's output."""
    from tests.support.scripted_llm import Reply, ToolCall

    def answer(body: dict) -> Reply:
        last = body["messages"][-1]
        if desk and last["role"] == "tool":
            return Reply(text="Let me get a colleague for you.", delay=delay)
        if desk and last["role"] == "user" and ASKS_FOR_A_PERSON in str(last.get("content")):
            reason = {"reason": "caller asked for a person"}
            return Reply(tool_calls=[ToolCall("request_human", reason)], delay=delay)
        return Reply(text=REPLY, delay=delay)

    return answer


async def serve(
    delay: float, transcript: str, desk: bool = False, speech_delay: float = 0.0
) -> None:
    from tests.support.scripted_llm import ScriptedLLMServer

    async with ScriptedLLMServer(_answers(delay, desk)) as server:
        server.transcripts = _Always(transcript)
        server.speech_delay = speech_delay
        print(server.base_url, flush=True)
        await asyncio.Event().wait()


class _Always(list):
    """A transcript queue that never runs out."""

    def __init__(self, text: str) -> None:
        super().__init__([text])

    def pop(self, index: int = -1) -> str:
        return self[0]


@contextmanager
def llm_server_process(
    delay: float, transcript: str = TRANSCRIPT, *, desk: bool = False, speech_delay: float = 0.0
):
    """Run the server in a child process; yields its base URL."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.llm_server",
            "--delay",
            str(delay),
            "--transcript",
            transcript,
            *(["--desk"] if desk else []),
            "--speech-delay",
            str(speech_delay),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--transcript", default=TRANSCRIPT)
    parser.add_argument("--desk", action="store_true", help="ask for a person when told to")
    parser.add_argument("--speech-delay", type=float, default=0.0, help="TTS first byte, s")
    sys.path.insert(0, str(ROOT))
    args = parser.parse_args()
    asyncio.run(serve(args.delay, args.transcript, args.desk, args.speech_delay))


if __name__ == "__main__":
    main()
