"""``manage.py runagent dev|start|console``: the LiveKit agent worker that answers calls."""

import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

MODES = ("dev", "start", "console")


def call_load(server) -> float:
    """The worker's load as LiveKit sees it: its live calls over ``AGENT_MAX_CALLS``.

    livekit-agents' default is the machine's CPU, which other programs move: on a busy host
    (or one machine running everything) a spike made LiveKit find no worker for a call.
    LiveKit sends a call to the registered worker with the most room under its target load.
    """
    return len(server.active_jobs) / settings.AGENT_MAX_CALLS


def missing_settings(mode: str) -> list[str]:
    """Settings the worker cannot run without, by name."""
    needed = ["OPENAI_API_KEY"] if not settings.OPENAI_BASE_URL else []
    if mode != "console":
        needed += ["LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"]
    return [name for name in needed if not getattr(settings, name)]


class Command(BaseCommand):
    help = "Run the LiveKit agent worker (dev: reload and debug logs; start: production)."

    def add_arguments(self, parser):
        parser.add_argument("mode", choices=MODES)
        parser.add_argument(
            "worker_args",
            nargs="*",
            help="passed on to the livekit-agents CLI (e.g. --log-level debug)",
        )

    def handle(self, *args, mode: str, worker_args: list[str], **options):
        missing = missing_settings(mode)
        if missing:
            raise CommandError(f"cannot start the agent worker: set {', '.join(missing)}")

        from livekit.agents import AgentServer, cli

        from agentworker.job import entrypoint, prewarm

        server = AgentServer(
            ws_url=settings.LIVEKIT_URL,
            api_key=settings.LIVEKIT_API_KEY,
            api_secret=settings.LIVEKIT_API_SECRET,
            setup_fnc=prewarm,
            load_fnc=call_load,
            # Its health endpoint: reachable by an orchestrator's probes in production (start),
            # on loopback only on a developer's machine.
            host="" if mode == "start" else "127.0.0.1",
        )
        # Explicit dispatch: only calls whose token names this agent get a job.
        server.rtc_session(entrypoint, agent_name=settings.LIVEKIT_AGENT_NAME)
        sys.argv = ["runagent", mode, *worker_args]
        cli.run_app(server)
