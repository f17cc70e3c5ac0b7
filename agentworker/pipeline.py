"""The voice pipeline of a call: the models it uses, and what is loaded once per process."""

from __future__ import annotations

from django.conf import settings
from livekit.agents import AgentSession, JobProcess, inference, llm
from livekit.plugins import openai


def build_llm() -> llm.LLM:
    """The OpenAI (or OpenAI-compatible) LLM named in settings."""
    return openai.LLM(
        model=settings.LLM_MODEL,
        base_url=settings.OPENAI_BASE_URL or None,
        api_key=settings.OPENAI_API_KEY or None,
    )


def azure_configured() -> bool:
    return bool(settings.AZURE_SPEECH_KEY and settings.AZURE_SPEECH_REGION)


def build_stt(languages: list[str]):
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
        **({"model": settings.STT_MODEL} if settings.STT_MODEL else {}),
    )


def build_tts(language: str):
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
        **{name: value for name, value in chosen.items() if value},
    )


def build_session(vad=None, languages: list[str] | None = None) -> AgentSession:
    """The voice session: Azure (or OpenAI) speech in ``languages`` (a phone line's, else
    CALL_LANGUAGES; the first is the agent's voice), the LLM, the bundled VAD and turn
    detector."""
    languages = languages or settings.CALL_LANGUAGES
    return AgentSession(
        stt=build_stt(languages),
        llm=build_llm(),
        tts=build_tts(languages[0]),
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
    """Load once per worker process what is slow to load: the VAD shipped in livekit-agents."""
    proc.userdata["vad"] = inference.VAD()
