"""The call's audio recording, in the mode settings choose (``RECORDING_MODE``), as far as the
caller consents (``recordings.consent``):

- ``egress``: LiveKit records the room and writes it to S3 itself;
- ``agent``: livekit-agents' recorder records both sides into the job's directory, silent
  wherever the caller read a card number (``agentworker.card_pause``); the file is spooled
  and uploaded through Django's storage when the session closes;
- ``off``.

The phone line's recording policy (or the web call page's) decides whether the greeting
announces the recording or the agent asks first; a caller who declines has nothing recorded,
and one who says mid-call not to be recorded has the recording stopped and deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from asgiref.sync import sync_to_async
from django.conf import settings
from livekit import api
from livekit.agents import JobContext

from agentworker.call_job import CallJob
from agentworker.card_pause import CardSafeRecorder, RecordingPauses
from callcenter.livekit_server import livekit_api
from callcenter.models import Call, CallEvent, WebCallPage
from recordings.consent import ANNOUNCEMENT, KEEPS_AUDIO, QUESTION, consent_after, consent_at_start
from recordings.egress import start_call_egress, stop_call_egress, stop_discarded_egresses
from recordings.models import Recording, RecordingConsent
from recordings.storage import discard_call_recordings, spool_recording, upload_recording
from telephony.models import PhoneLine

logger = logging.getLogger(__name__)

AUDIO_FILE = "audio.ogg"


async def consent_for(call: Call, line: PhoneLine | None, resuming: bool) -> RecordingConsent:
    """The consent a job starts with: the call's own when it resumes, else what the line's
    (or the web call page's) policy asks for."""
    if resuming:
        return RecordingConsent(call.recording_consent)
    if line is not None:
        policy = line.recording_policy
    else:
        policy = (await sync_to_async(WebCallPage.current)()).recording_policy
    return consent_at_start(policy, settings.RECORDING_MODE != "off")


def first_words(consent: RecordingConsent) -> str:
    """What the agent says before its greeting: that the call is recorded, or the question."""
    return {RecordingConsent.ANNOUNCED: ANNOUNCEMENT, RecordingConsent.ASKED: QUESTION}.get(
        consent, ""
    )


class AudioRecording:
    """Starts, stops and finishes one call's recording, as the caller consents."""

    def __init__(
        self, job: CallJob, ctx: JobContext, consent: RecordingConsent, *,
        from_the_greeting: bool = False,
    ) -> None:  # fmt: skip
        """``from_the_greeting``: a call the desk places is recorded once the customer has
        answered and is greeted (told), not while it rings or a voicemail speaks."""
        self.job = job
        self.ctx = ctx
        self.from_the_greeting = from_the_greeting
        self.mode = settings.RECORDING_MODE
        self.consent = consent
        self.recording: Recording | None = None
        self.recorder: CardSafeRecorder | None = None
        self.pauses: RecordingPauses | None = None
        self._lkapi: api.LiveKitAPI | None = None
        self._changing = asyncio.Lock()

    def note_consent(self) -> None:
        self.job.writer.change_call(Call.set_recording_consent, self.consent)
        self.job.writer.event(CallEvent.Type.RECORDING_CONSENT, {"consent": self.consent})

    async def attach(self) -> None:
        """As the agent enters, before it says a word: the agent-side recorder joins the
        session's audio (where ``record=`` would place it; joined later, it would confuse the
        transcript's timing of a sentence already playing), and records at once if the caller
        is told or agreed before."""
        if self.mode != "agent" or self.recorder is not None:
            return
        session = self.job.session
        self.pauses = RecordingPauses(session, self._note_pause)
        self.recorder = CardSafeRecorder(agent_session=session, pause=self.pauses.pause)
        session.input.audio = self.recorder.record_input(session.input.audio)
        session.output.audio = self.recorder.record_output(session.output.audio)
        if not self.from_the_greeting:
            await self.start()

    async def start(self) -> None:
        """Record now if the caller was told or agreed; else wait for their answer."""
        async with self._changing:
            if self.consent in KEEPS_AUDIO and self.recording is None:
                await self._record()

    async def caller_answered(self, agrees: bool) -> str:
        """The caller said whether they agree to be recorded (the agent's tool): what the
        agent is told."""
        async with self._changing:
            before = self.consent
            self.consent = consent_after(before, agrees)
            if self.consent == before:
                return {
                    RecordingConsent.NOT_RECORDED: "This call is not recorded.",
                    RecordingConsent.DECLINED: "This call is not recorded, as the caller asked.",
                    RecordingConsent.WITHDRAWN: "Recording was stopped, as the caller asked.",
                }.get(before, "Nothing changed: the call is recorded as the caller agreed.")
            self.note_consent()
            if self.consent == RecordingConsent.GRANTED:
                await self._record()
                return "The caller agreed: the call is recorded from now on."
            if self.consent == RecordingConsent.WITHDRAWN:
                await self._discard()
                return (
                    "The recording has stopped and what was recorded is deleted, as the caller "
                    "asked. Tell them so."
                )
            return "The call is not recorded, as the caller wishes. Tell them so."

    async def _record(self) -> None:
        call = self.job.call
        try:
            if self.mode == "egress":
                self._lkapi = self._lkapi or livekit_api()
                self.recording = await start_call_egress(call, self._lkapi)
            elif self.mode == "agent" and self.recorder is not None:
                self.recording = await Recording.objects.acreate(
                    call=call, source=Recording.Source.AGENT, format="ogg"
                )
                await self.recorder.start(output_path=self.ctx.session_directory / AUDIO_FILE)
        except Exception as exc:
            logger.exception("call %s: recording did not start", call.pk)
            self.job.writer.event(
                CallEvent.Type.ERROR, {"source": "recording", "message": str(exc)}
            )

    def _note_pause(self, seconds: float, reason: str) -> None:
        self.job.writer.event(
            CallEvent.Type.RECORDING_PAUSED, {"seconds": seconds, "reason": reason}
        )

    async def _discard(self) -> None:
        """The caller withdrew: stop recording and delete what was recorded of the call, by
        this job or an earlier one. Shielded: a tool cancelled by a barge-in or a hang-up
        must not leave half of it done."""
        await asyncio.shield(self._discard_all())

    async def _discard_all(self) -> None:
        try:
            await self._close_recorder()
            await asyncio.to_thread(
                (self.ctx.session_directory / AUDIO_FILE).unlink, missing_ok=True
            )
            running = await sync_to_async(discard_call_recordings)(self.job.call_id)
            if running:
                self._lkapi = self._lkapi or livekit_api()
                await stop_discarded_egresses(running, self._lkapi)
        except Exception:
            logger.exception("call %s: discarding the recording failed", self.job.call_id)

    async def _close_recorder(self) -> None:
        if self.recorder is not None:
            await self.recorder.aclose()
        if self.pauses is not None:
            self.pauses.finish()

    async def finish(self) -> None:
        async with self._changing:
            try:
                await self._finish()
            finally:
                await self._close_lkapi()

    async def _finish(self) -> None:
        if self.recording is None:
            return
        if self.consent not in KEEPS_AUDIO:  # withdrawn, whatever became of the tool's call
            await self._discard()
            return
        call_id = self.job.call_id
        try:
            if self.mode == "egress" and self._lkapi is not None:
                await stop_call_egress(self.recording, self._lkapi)
            elif self.mode == "agent":
                await self.job.session.aclose()  # the caller's last words reach the recorder
                await self._close_recorder()
                # The job's directory is removed when the job ends: keep the file in the spool
                # until the storage has it, whatever happens to this process.
                spooled = await asyncio.to_thread(
                    spool_recording, self.ctx.session_directory / AUDIO_FILE, call_id
                )
                await upload_recording(self.recording.pk, spooled)
        except Exception:
            logger.exception("call %s: finishing the recording failed", call_id)

    async def _close_lkapi(self) -> None:
        if self._lkapi is not None:
            with contextlib.suppress(Exception):
                await self._lkapi.aclose()
            self._lkapi = None
