"""LiveKit egress: what its reports mean for a Recording."""

from __future__ import annotations

from livekit import api

from recordings.models import Recording

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
