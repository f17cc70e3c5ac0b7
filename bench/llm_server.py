"""The scripted OpenAI-compatible server as a process of its own, so a benchmark's event loop
measures the agent's work only. Every request gets the same short reply after ``--delay``;
every transcription the same ``--transcript``.

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


async def serve(delay: float, transcript: str) -> None:
    from tests.support.scripted_llm import Reply, ScriptedLLMServer

    async with ScriptedLLMServer(lambda _body: Reply(text=REPLY, delay=delay)) as server:
        server.transcripts = _Always(transcript)
        print(server.base_url, flush=True)
        await asyncio.Event().wait()


class _Always(list):
    """A transcript queue that never runs out."""

    def __init__(self, text: str) -> None:
        super().__init__([text])

    def pop(self, index: int = -1) -> str:
        return self[0]


@contextmanager
def llm_server_process(delay: float, transcript: str = TRANSCRIPT):
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
    sys.path.insert(0, str(ROOT))
    args = parser.parse_args()
    asyncio.run(serve(args.delay, args.transcript))


if __name__ == "__main__":
    main()
