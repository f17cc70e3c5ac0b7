"""The agent's brief spoken to the person who took the call, and to nobody else.

The job joins the caller's room a second time, as a participant that publishes one audio
track and allows only that person to subscribe to it (LiveKit's track subscription
permissions): the caller's browser, a SIP bridge, egress and listening supervisors are all
refused it by the server. The words are the brief's text, synthesised with the call's TTS;
they are no transcript segment and no part of the recording.
"""

from __future__ import annotations

import asyncio
import logging

from django.conf import settings
from livekit import rtc
from livekit.agents import tts as agents_tts

from callcenter.livekit_tokens import brief_token
from callcenter.models import Call

logger = logging.getLogger(__name__)

# How long the person's page may take to subscribe to the brief before it is skipped.
SUBSCRIBE_WITHIN_SECONDS = 5.0


async def speak_privately(call: Call, tts: agents_tts.TTS, text: str, listener: str) -> bool:
    """Say ``text`` on a track only ``listener`` (an identity in ``call``'s room) receives;
    False when it could not be said (they never subscribed, LiveKit refused)."""
    _identity, token = brief_token(call)
    room = rtc.Room()
    try:
        await room.connect(settings.LIVEKIT_URL, token, rtc.RoomOptions(auto_subscribe=False))
        room.local_participant.set_track_subscription_permissions(
            allow_all_participants=False,
            participant_permissions=[
                rtc.ParticipantTrackPermission(participant_identity=listener, allow_all=True)
            ],
        )
        source = rtc.AudioSource(tts.sample_rate, tts.num_channels)
        track = rtc.LocalAudioTrack.create_audio_track("brief", source)
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        publication = await room.local_participant.publish_track(track, options)
        await asyncio.wait_for(publication.wait_for_subscription(), SUBSCRIBE_WITHIN_SECONDS)
        async with tts.synthesize(text) as stream:
            async for audio in stream:
                await source.capture_frame(audio.frame)
        await source.wait_for_playout()
        return True
    except Exception:
        logger.warning("call %s: the brief could not be spoken", call.pk, exc_info=True)
        return False
    finally:
        await room.disconnect()
