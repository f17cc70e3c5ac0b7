"""LiveKit's basic voice agent, written as the framework's published example is (livekit-agents'
``examples/voice_agents/basic_agent.py``): an STT-LLM-TTS pipeline with the VAD loaded per
process and the turn detector, a greeting the model words, no tools, no database, no
recording. ``bench.voice_turn --bare`` runs it against the same stand-ins and callers as the
product's worker, so that our job's CPU, memory and response time read as ratios to it.

What differs from the example, and why: the models are the OpenAI plugins pointed at the
stand-in (the example names LiveKit Cloud's inference, unreachable here), the VAD and turn
detector are the ones livekit-agents bundles (as the product's), interruptions are told by the
VAD (the example's default streams audio to LiveKit's cloud), and there is no noise
cancellation (a LiveKit Cloud plugin).

    BARE_AGENT_NAME=… OPENAI_BASE_URL=… LIVEKIT_URL=… LIVEKIT_API_KEY=… LIVEKIT_API_SECRET=… \\
        .venv/bin/python -m bench.bare_agent start
"""

from __future__ import annotations

import os

from livekit.agents import (
    Agent,
    AgentServer,
    AgentSession,
    JobContext,
    JobProcess,
    cli,
    inference,
)
from livekit.plugins import openai


class MyAgent(Agent):
    def __init__(self) -> None:
        super().__init__(
            instructions="Your name is Kelly. You would interact with users via voice. "
            "With that in mind keep your responses concise and to the point."
        )

    async def on_enter(self) -> None:
        self.session.generate_reply()


# As many prewarmed processes as the product's worker keeps when the benchmark sets it.
idle = os.environ.get("AGENT_IDLE_PROCESSES")
server = AgentServer(**({"num_idle_processes": int(idle)} if idle else {}))


def prewarm(proc: JobProcess) -> None:
    proc.userdata["vad"] = inference.VAD()


server.setup_fnc = prewarm


@server.rtc_session(agent_name=os.environ.get("BARE_AGENT_NAME", "bench-bare-agent"))
async def entrypoint(ctx: JobContext) -> None:
    models = os.environ["OPENAI_BASE_URL"]
    session = AgentSession(
        stt=openai.STT(base_url=models),
        llm=openai.LLM(model="scripted", base_url=models),
        tts=openai.TTS(base_url=models),
        vad=ctx.proc.userdata["vad"],
        turn_handling={
            "turn_detection": inference.TurnDetector(version="v1-mini"),
            "interruption": {"enabled": True, "mode": "vad"},
        },
    )
    await session.start(agent=MyAgent(), room=ctx.room)


if __name__ == "__main__":
    cli.run_app(server)
