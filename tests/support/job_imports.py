"""What a call's job process imports for itself after the worker's forkserver preloaded it.

    OPENAI_BASE_URL=<scripted models> python -m tests.support.job_imports

Imports what ``runagent`` preloads, then runs one call as a job does, in text mode: the
worker's prewarm, the production session (``build_session``: STT, LLM and TTS clients, VAD,
turn detector), a caller's turn answered with a tool call on the database and then words, every
write stored and published to the channel layer. Prints the modules of installed packages and
of the project that the call imported, one per line (the standard library's are left out).
"""

import asyncio
import importlib
import sys
import sysconfig
from pathlib import Path
from types import SimpleNamespace

STANDARD_LIBRARY = Path(sysconfig.get_paths()["stdlib"]).resolve()


def outside_the_standard_library(name: str) -> bool:
    module = sys.modules.get(name)
    origin = getattr(getattr(module, "__spec__", None), "origin", None)
    if not origin or origin in {"built-in", "frozen"}:
        return False
    path = Path(origin).resolve()
    in_stdlib = STANDARD_LIBRARY in path.parents and "site-packages" not in path.parts
    return not in_stdlib


async def one_call() -> None:
    from agentworker.entrypoint import prewarm
    from agentworker.pipeline import build_session
    from agentworker.writer import CallWriter
    from callcenter.models import Call
    from tests.support.agent_job import text_mode_job

    process = SimpleNamespace(userdata={})
    prewarm(process)
    call = await Call.objects.acreate()
    writer = await CallWriter.open(call.pk)
    async with build_session(process.userdata["vad"]) as session:
        job, _recorder = text_mode_job(call, writer, session)
        await session.start(job.agent)
        await session.run(user_input="My VIN is 1HGCM82633A004352")
    await writer.close()


def main() -> None:
    from agentworker.management.commands.runagent import PRELOADED_MODULES

    for name in PRELOADED_MODULES:
        importlib.import_module(name)
    preloaded = set(sys.modules)
    asyncio.run(one_call())
    for name in sorted(set(sys.modules) - preloaded):
        if outside_the_standard_library(name) and not name.startswith("tests."):
            print(name)


if __name__ == "__main__":
    main()
