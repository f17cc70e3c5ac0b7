"""What LiveKit's job processes import: Django set up first, then the session code.

Job processes are started by livekit-agents (forkserver), not by ``manage.py``, so they must
configure Django themselves before any model is imported. The worker hands the job process
``entrypoint`` and ``prewarm`` by reference (pickled as module + name): they are defined here,
not imported, so that unpickling them imports this module, and Django is set up before the
session code and its models load.
"""

import logging
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

# livekit-agents writes the worker's logs itself (colours in dev, JSON in production) and
# forwards the job processes' to the worker: Django's console handler would print each twice.
for handler in list(logging.getLogger().handlers):
    if handler.get_name() == "console":
        logging.getLogger().removeHandler(handler)

from livekit.agents import JobContext, JobProcess  # noqa: E402

from agentworker import session  # noqa: E402


def prewarm(proc: JobProcess) -> None:
    """Load what is slow to load once per job process (see ``session.prewarm``)."""
    session.prewarm(proc)


async def entrypoint(ctx: JobContext) -> None:
    """Serve one call (see ``session.entrypoint``)."""
    await session.entrypoint(ctx)
