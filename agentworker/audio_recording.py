"""The call's audio recording, in the mode settings choose (``RECORDING_MODE``):

- ``egress``: LiveKit records the room and writes it to S3 itself;
- ``agent``: livekit-agents' RecorderIO records both sides into the job's directory; the file
  is spooled and uploaded through Django's storage when the session closes;
- ``off``.
"""

from __future__ import annotations

import asyncio
import logging

from django.conf import settings
from livekit import api
from livekit.agents import JobContext

from agentworker.call_job import CallJob
from callcenter.livekit_server import livekit_api
from callcenter.models import CallEvent
from recordings.egress import start_call_egress, stop_call_egress
from recordings.models import Recording
from recordings.storage import spool_recording, upload_recording

logger = logging.getLogger(__name__)

# Both sides of the call, recorded by RecorderIO as audio.ogg; nothing goes to LiveKit Cloud
# (traces, logs and transcripts stay off).
AGENT_RECORDING = {"audio": True, "traces": False, "logs": False, "transcript": False}


def session_record_option() -> bool | dict:
    """What ``AgentSession.start(record=...)`` takes in the configured mode."""
    return AGENT_RECORDING if settings.RECORDING_MODE == "agent" else False


class AudioRecording:
    """Starts and finishes one call's recording."""

    def __init__(self, job: CallJob, ctx: JobContext) -> None:
        self.job = job
        self.ctx = ctx
        self.mode = settings.RECORDING_MODE
        self.recording: Recording | None = None
        self._lkapi: api.LiveKitAPI | None = None

    async def start(self) -> None:
        call = self.job.call
        try:
            if self.mode == "egress":
                self._lkapi = livekit_api()
                self.recording = await start_call_egress(call, self._lkapi)
            elif self.mode == "agent":
                self.recording = await Recording.objects.acreate(
                    call=call, source=Recording.Source.AGENT, format="ogg"
                )
        except Exception as exc:
            logger.exception("call %s: recording did not start", call.pk)
            self.job.writer.event(
                CallEvent.Type.ERROR, {"source": "recording", "message": str(exc)}
            )

    async def finish(self) -> None:
        if self.recording is None:
            return
        call_id = self.job.call_id
        try:
            if self.mode == "egress" and self._lkapi is not None:
                await stop_call_egress(self.recording, self._lkapi)
            elif self.mode == "agent":
                await self.job.session.aclose()  # RecorderIO writes the file on close
                # The job's directory is removed when the job ends: keep the file in the spool
                # until the storage has it, whatever happens to this process.
                spooled = await asyncio.to_thread(
                    spool_recording, self.ctx.session_directory / "audio.ogg", call_id
                )
                await upload_recording(self.recording.pk, spooled)
        except Exception:
            logger.exception("call %s: finishing the recording failed", call_id)
        finally:
            if self._lkapi is not None:
                await self._lkapi.aclose()
