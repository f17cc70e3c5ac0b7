"""``manage.py runagent dev|start|console``: the LiveKit agent worker that answers calls."""

import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from callcenter.livekit_server import missing_livekit_settings
from callcenter.review import UnknownJudge, configured_judges

MODES = ("dev", "start", "console")

# Imported once in the worker's forkserver (Django set up, models, plugins, and what a call
# imports on its way), so that every job process forked from it shares them copy-on-write
# instead of importing them privately.
PRELOADED_MODULES = ["agentworker.entrypoint", "agentworker.preload"]


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
    missing = [name for name in needed if not getattr(settings, name)]
    return missing if mode == "console" else missing + missing_livekit_settings()


def console_audio_problem() -> str | None:
    """Why ``console`` cannot talk through this machine's sound (no PortAudio library, no
    microphone), or None."""
    try:
        import sounddevice

        sounddevice.query_devices(kind="input")
    # OSError: no PortAudio library (PortAudioError is one too); ValueError: no input device.
    except Exception as error:
        return str(error) or type(error).__name__
    return None


class Command(BaseCommand):
    help = (
        "Run the LiveKit agent worker that answers calls. "
        "dev: for development (reloads on code changes, debug logs, health endpoint on "
        "loopback); start: for production; console: talk to the agent in this terminal with "
        "your microphone and speakers, without a LiveKit server (needs an audio device and "
        "the PortAudio library, e.g. Debian's libportaudio2, and an LLM setting)."
    )

    def add_arguments(self, parser):
        parser.add_argument("mode", choices=MODES, help="dev, start or console (see above)")
        parser.add_argument(
            "worker_args",
            nargs="*",
            help="passed on to the livekit-agents CLI (e.g. --log-level debug)",
        )

    def handle(self, *args, mode: str, worker_args: list[str], **options):
        missing = missing_settings(mode)
        if missing:
            raise CommandError(f"cannot start the agent worker: set {', '.join(missing)}")
        try:
            configured_judges()
        except UnknownJudge as error:
            raise CommandError(f"cannot start the agent worker: {error}") from error
        if mode == "console":
            problem = console_audio_problem()
            if problem:
                raise CommandError(
                    "console needs an audio device and the PortAudio library (Debian: "
                    f"apt-get install libportaudio2); here: {problem}"
                )

        from livekit.agents import AgentServer, cli

        from agentworker.entrypoint import entrypoint, prewarm
        from agentworker.heartbeat import Heartbeat

        idle = {}
        if settings.AGENT_IDLE_PROCESSES is not None:
            idle["num_idle_processes"] = settings.AGENT_IDLE_PROCESSES
        server = AgentServer(
            **idle,
            ws_url=settings.LIVEKIT_URL,
            api_key=settings.LIVEKIT_API_KEY,
            api_secret=settings.LIVEKIT_API_SECRET,
            setup_fnc=prewarm,
            preload_modules=PRELOADED_MODULES,
            load_fnc=call_load,
            # Its health endpoint: reachable by an orchestrator's probes in production (start),
            # on loopback only on a developer's machine.
            host="" if mode == "start" else "127.0.0.1",
        )
        # Explicit dispatch: only calls whose token names this agent get a job.
        server.rtc_session(entrypoint, agent_name=settings.LIVEKIT_AGENT_NAME)
        # Once registered, the web app hears it is there (callers are told when none is).
        Heartbeat(settings.LIVEKIT_AGENT_NAME).attach(server)
        sys.argv = ["runagent", mode, *worker_args]
        cli.run_app(server)
