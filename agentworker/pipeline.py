"""The voice pipeline of a call: the models it uses, and what is loaded once per process."""

from __future__ import annotations

import logging

import httpx2 as httpx
import openai as openai_sdk
from django.conf import settings
from livekit.agents import AgentSession, JobProcess, inference, llm
from livekit.plugins import openai

logger = logging.getLogger(__name__)


def build_llm(client: openai_sdk.AsyncClient | None = None, model: str = "") -> llm.LLM:
    """The OpenAI (or OpenAI-compatible) LLM named in settings (``model``: another model of
    the same server)."""
    return openai.LLM(
        model=model or settings.LLM_MODEL,
        base_url=settings.OPENAI_BASE_URL or None,
        api_key=settings.OPENAI_API_KEY or None,
        client=client,
    )


def openai_clients() -> dict[str, openai_sdk.AsyncClient]:
    """The OpenAI clients of a job's LLM, and of its STT and TTS when they are OpenAI's (or
    compatible), by role: one per server, made as the plugins make their own. Each plugin
    would otherwise make one as the session is built, about 20 ms each (an HTTP client and its
    TLS context) on the way to the caller's greeting; ``prewarm`` makes them ahead."""
    servers = {"llm": settings.OPENAI_BASE_URL}
    if not azure_configured():
        servers["stt"] = settings.STT_BASE_URL or settings.OPENAI_BASE_URL
        servers["tts"] = settings.TTS_BASE_URL or settings.OPENAI_BASE_URL
    made: dict[str, openai_sdk.AsyncClient] = {}
    for server in set(servers.values()):
        made[server] = openai_sdk.AsyncClient(
            max_retries=0,
            api_key=settings.OPENAI_API_KEY or None,
            base_url=server or None,
            http_client=httpx.AsyncClient(
                timeout=httpx.Timeout(connect=15.0, read=5.0, write=5.0, pool=5.0),
                follow_redirects=True,
                limits=httpx.Limits(
                    max_connections=50, max_keepalive_connections=50, keepalive_expiry=120
                ),
            ),
        )
    return {role: made[server] for role, server in servers.items()}


def azure_configured() -> bool:
    return bool(settings.AZURE_SPEECH_KEY and settings.AZURE_SPEECH_REGION)


def build_stt(languages: list[str], client: openai_sdk.AsyncClient | None = None):
    """Azure speech-to-text when configured (auto-detecting among ``languages``), else
    OpenAI's or a compatible server's (STT_BASE_URL, STT_MODEL), told the language or
    detecting it among several."""
    if azure_configured():
        from livekit.plugins import azure

        return azure.STT(
            speech_key=settings.AZURE_SPEECH_KEY,
            speech_region=settings.AZURE_SPEECH_REGION,
            language=languages if len(languages) > 1 else languages[0],
        )
    return openai.STT(
        language=languages[0].split("-")[0],
        detect_language=len(languages) > 1,
        base_url=settings.STT_BASE_URL or settings.OPENAI_BASE_URL or None,
        api_key=settings.OPENAI_API_KEY or None,
        client=client,
        **({"model": settings.STT_MODEL} if settings.STT_MODEL else {}),
    )


def build_tts(language: str, client: openai_sdk.AsyncClient | None = None):
    """Azure text-to-speech with ``language``'s voice (AZURE_VOICES), else OpenAI's or a
    compatible server's (TTS_BASE_URL, TTS_MODEL, TTS_VOICE)."""
    if azure_configured():
        from livekit.plugins import azure

        return azure.TTS(
            speech_key=settings.AZURE_SPEECH_KEY,
            speech_region=settings.AZURE_SPEECH_REGION,
            language=language,
            voice=settings.AZURE_VOICES.get(language, "en-US-JennyNeural"),
        )
    chosen = {"model": settings.TTS_MODEL, "voice": settings.TTS_VOICE}
    return openai.TTS(
        base_url=settings.TTS_BASE_URL or settings.OPENAI_BASE_URL or None,
        api_key=settings.OPENAI_API_KEY or None,
        client=client,
        **{name: value for name, value in chosen.items() if value},
    )


def voice_of(language: str) -> str:
    """What makes ``build_tts(language)``'s audio what it is: the service, model, voice and
    language (kept audio of fixed sentences is kept per voice, agentworker.fixed_speech)."""
    if azure_configured():
        voice = settings.AZURE_VOICES.get(language, "en-US-JennyNeural")
        return f"azure {settings.AZURE_SPEECH_REGION} {voice} {language}"
    from livekit.plugins.openai import tts as openai_tts

    server = settings.TTS_BASE_URL or settings.OPENAI_BASE_URL or "openai"
    model = settings.TTS_MODEL or openai_tts.DEFAULT_MODEL  # the plugin's, as it uses them
    return f"openai {server} {model} {settings.TTS_VOICE or openai_tts.DEFAULT_VOICE}"


def build_session(
    vad=None, languages: list[str] | None = None,
    clients: dict[str, openai_sdk.AsyncClient] | None = None,
) -> AgentSession:  # fmt: skip
    """The voice session: Azure (or OpenAI) speech in ``languages`` (a phone line's, else
    CALL_LANGUAGES; the first is the agent's voice), the LLM, the bundled VAD and turn
    detector; through ``clients`` (``openai_clients``) when given."""
    languages = languages or settings.CALL_LANGUAGES
    clients = clients or {}
    return AgentSession(
        stt=build_stt(languages, clients.get("stt")),
        llm=build_llm(clients.get("llm")),
        tts=build_tts(languages[0], clients.get("tts")),
        vad=vad or inference.VAD(),
        turn_handling={
            "turn_detection": (
                inference.TurnDetector(version="v1-mini")
                if settings.TURN_DETECTION == "model"
                else "vad"
            ),
            # "vad": interruptions told by the local VAD. Left unset, livekit-agents picks
            # "adaptive" in dev mode, which streams the caller's audio to LiveKit's cloud
            # inference gateway with the deployment's key.
            "interruption": {"enabled": True, "mode": "vad"},
        },
    )


def prewarm(proc: JobProcess) -> None:
    """Make ahead in each job process what is slow to make: the VAD shipped in livekit-agents,
    and the OpenAI clients."""
    proc.userdata["vad"] = inference.VAD()
    try:
        proc.userdata["openai_clients"] = openai_clients()
    except openai_sdk.OpenAIError:  # no API key: the plugins say so as the session is built
        logger.warning("OpenAI clients not made ahead", exc_info=True)
