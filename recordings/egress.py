"""LiveKit egress: what its reports mean for a Recording."""

from __future__ import annotations

import logging

from livekit import api

from recordings.models import Recording, recording_path

logger = logging.getLogger(__name__)

FINISHED_OK = {api.EgressStatus.EGRESS_COMPLETE}
FINISHED_FAILED = {
    api.EgressStatus.EGRESS_FAILED,
    api.EgressStatus.EGRESS_ABORTED,
    api.EgressStatus.EGRESS_LIMIT_REACHED,
}


def apply_egress_info(info: api.EgressInfo) -> Recording | None:
    """Bring the Recording of ``info.egress_id`` up to date. Idempotent: a finished recording
    keeps its outcome when LiveKit repeats or reorders its reports."""
    recording = Recording.objects.filter(egress_id=info.egress_id).first()
    if recording is None or recording.status in (Recording.Status.READY, Recording.Status.FAILED):
        return recording
    if recording.status == Recording.Status.DISCARDED:
        # The caller asked mid-call not to be recorded: what LiveKit wrote is deleted (a
        # failed egress may have written part of it).
        if info.status in FINISHED_OK | FINISHED_FAILED and recording.file.name:
            recording.file.delete(save=False)
            recording.save(update_fields=["file", "updated_at"])
        return recording
    if info.status in FINISHED_OK:
        result = info.file_results[0] if info.file_results else info.file
        recording.status = Recording.Status.READY
        recording.file.name = result.filename or recording.file.name
        recording.size_bytes = result.size or None
        # LiveKit reports durations in nanoseconds.
        recording.duration_seconds = result.duration / 1e9 if result.duration else None
    elif info.status in FINISHED_FAILED:
        recording.status = Recording.Status.FAILED
        recording.error = info.error or api.EgressStatus.Name(info.status)
    else:
        return recording
    recording.save()
    return recording


def s3_upload_settings() -> api.S3Upload:
    """Where LiveKit's egress writes: the same bucket Django's storage reads."""
    from django.conf import settings

    return api.S3Upload(
        access_key=settings.S3_ACCESS_KEY_ID,
        secret=settings.S3_SECRET_ACCESS_KEY,
        region=settings.S3_REGION,
        endpoint=settings.S3_ENDPOINT_URL,
        bucket=settings.S3_BUCKET,
        force_path_style=settings.S3_ADDRESSING_STYLE == "path",
    )


async def start_call_egress(call, lkapi: api.LiveKitAPI) -> Recording:
    """Start an audio-only room-composite egress of the call's room, written to S3 by LiveKit.

    The object key names the call (``recordings/YYYY/MM/DD/<call id>/call.ogg``).
    """
    recording = await Recording.objects.acreate(
        call=call, source=Recording.Source.EGRESS, format="ogg"
    )
    key = recording_path(recording, "call.ogg")
    request = api.RoomCompositeEgressRequest(
        room_name=call.room_name,
        audio_only=True,
        file_outputs=[
            api.EncodedFileOutput(
                file_type=api.EncodedFileType.OGG, filepath=key, s3=s3_upload_settings()
            )
        ],
    )
    try:
        info = await lkapi.egress.start_room_composite_egress(request)
    except Exception as exc:
        recording.status = Recording.Status.FAILED
        recording.error = f"egress did not start: {exc}"[:2000]
        await recording.asave(update_fields=["status", "error", "updated_at"])
        raise
    recording.egress_id = info.egress_id
    recording.file.name = key
    await recording.asave(update_fields=["egress_id", "file", "updated_at"])
    return recording


async def stop_discarded_egresses(recordings: list[Recording], lkapi: api.LiveKitAPI) -> None:
    """Stop the egresses of discarded recordings (``discard_call_recordings``); each one's
    file is deleted once LiveKit reports it written (``apply_egress_info``)."""
    for recording in recordings:
        try:
            await lkapi.egress.stop_egress(api.StopEgressRequest(egress_id=recording.egress_id))
        except api.TwirpError as error:  # it had ended meanwhile: its report deletes the file
            logger.info("egress %s not stopped: %s", recording.egress_id, error)


async def stop_call_egress(recording: Recording, lkapi: api.LiveKitAPI) -> None:
    """Stop the egress; its ``egress_ended`` webhook then marks the recording ready or failed."""
    if recording.egress_id and recording.status == Recording.Status.RECORDING:
        await lkapi.egress.stop_egress(api.StopEgressRequest(egress_id=recording.egress_id))
