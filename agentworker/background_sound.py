"""What a caller hears while the agent works: keyboard typing while it thinks or a tool runs
(``THINKING_SOUND``), and optionally an office in the background (``AMBIENT_SOUND``).

livekit-agents' ``BackgroundAudioPlayer`` plays its bundled clips on a track of its own beside
the agent's voice: the agent-side recording (the session's audio only) and the transcript
never contain it. LiveKit's egress records the whole room, so there it is heard.
"""

from __future__ import annotations

import asyncio
import logging

from django.conf import settings
from livekit import rtc
from livekit.agents import AgentSession, AudioConfig, BackgroundAudioPlayer, BuiltinAudioClip

logger = logging.getLogger(__name__)

THINKING = {
    "keyboard": [
        AudioConfig(BuiltinAudioClip.KEYBOARD_TYPING, volume=0.8),
        AudioConfig(BuiltinAudioClip.KEYBOARD_TYPING2, volume=0.7),
    ],
    "off": None,
}
AMBIENT = {"office": AudioConfig(BuiltinAudioClip.OFFICE_AMBIENCE, volume=0.4), "off": None}


async def start_background_sound(
    room: rtc.Room, session: AgentSession
) -> BackgroundAudioPlayer | None:
    """The call's background player, started; None when both sounds are off."""
    thinking, ambient = THINKING[settings.THINKING_SOUND], AMBIENT[settings.AMBIENT_SOUND]
    if thinking is None and ambient is None:
        return None
    player = BackgroundAudioPlayer(thinking_sound=thinking, ambient_sound=ambient)
    try:
        await player.start(room=room, agent_session=session)
    except Exception:  # the call goes on without its sounds
        logger.exception("the background sound did not start")
        return None
    return player


# Closing unpublishes the player's track, which waits for a room that may be gone already.
CLOSE_SECONDS = 2.0


async def stop_background_sound(player: BackgroundAudioPlayer | None) -> None:
    """Stop playing; the track goes with the room when the room is gone."""
    if player is None:
        return
    try:
        await asyncio.wait_for(player.aclose(), CLOSE_SECONDS)
    except TimeoutError:
        logger.info("the background sound's track was not unpublished: the room is gone")
