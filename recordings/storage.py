"""Recordings in Django's default storage (S3/MinIO via django-storages, or local media/).

Uploads from the agent worker are retried with backoff and the local file is kept until the
storage has it; playback on S3 uses short-lived presigned URLs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from pathlib import Path

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage

from recordings.models import Recording, recording_path

logger = logging.getLogger(__name__)

UPLOAD_RETRY_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
UPLOAD_MAX_ATTEMPTS = 12


def storage_is_remote() -> bool:
    """Whether files live in an object store that can presign URLs (S3/MinIO)."""
    return hasattr(default_storage, "bucket_name")


def presigned_url(recording: Recording) -> str:
    """A short-lived URL for the recording's object (lifetime: S3_PRESIGNED_URL_SECONDS)."""
    return default_storage.url(recording.file.name)


def spool_recording(path: Path, call_id) -> Path:
    """Move a finished local recording into RECORDING_SPOOL_DIR (kept until uploaded)."""
    spool = Path(settings.RECORDING_SPOOL_DIR)
    spool.mkdir(parents=True, exist_ok=True)
    target = spool / f"{call_id}{path.suffix or '.ogg'}"
    shutil.move(str(path), target)
    return target


def _save_file(name: str, local_path: Path) -> tuple[str, int]:
    """Blocking storage write (no database access, so it may run in any thread)."""
    with local_path.open("rb") as handle:
        stored = default_storage.save(name, File(handle, name=local_path.name))
    return stored, local_path.stat().st_size


def _mark(recording_id: int, status: str, error: str = "") -> None:
    Recording.objects.filter(pk=recording_id).update(status=status, error=error)


async def upload_recording(
    recording_id: int,
    local_path: str | os.PathLike,
    *,
    retry_delays: tuple[float, ...] = UPLOAD_RETRY_DELAYS,
    max_attempts: int = UPLOAD_MAX_ATTEMPTS,
) -> bool:
    """Upload the worker's local recording file; ``recording`` -> ``uploading`` -> ``ready``.

    Safe to await from the worker's event loop (storage calls run in a thread). A failed
    attempt is retried with backoff; the local file is deleted only once the storage has it.
    After ``max_attempts`` the recording is ``failed`` and the local file stays for an operator.
    """
    path = Path(local_path)
    recording = await Recording.objects.aget(pk=recording_id)
    kept = Recording.objects.filter(pk=recording_id).exclude(status=Recording.Status.DISCARDED)
    if not await kept.aupdate(status=Recording.Status.UPLOADING):
        await asyncio.to_thread(path.unlink, missing_ok=True)  # the caller withdrew consent
        return False
    name = recording_path(recording, path.name)
    for attempt in range(max_attempts):
        try:
            stored, size = await sync_to_async(_save_file, thread_sensitive=False)(name, path)
        except FileNotFoundError:
            await sync_to_async(_mark)(
                recording_id, Recording.Status.FAILED, f"the local file {path} is missing"
            )
            return False
        except Exception as exc:
            delay = retry_delays[min(attempt, len(retry_delays) - 1)]
            logger.warning(
                "recording %s: upload attempt %d failed (%s); retrying in %.1fs",
                recording_id,
                attempt + 1,
                exc,
                delay,
            )
            if attempt + 1 < max_attempts:
                await asyncio.sleep(delay)
            continue
        ready = await kept.aupdate(
            file=stored,
            size_bytes=size,
            format=path.suffix.lstrip(".") or recording.format,
            status=Recording.Status.READY,
            error="",
        )
        await asyncio.to_thread(path.unlink, missing_ok=True)
        if not ready:  # discarded while it was uploading: the caller withdrew consent
            await sync_to_async(default_storage.delete, thread_sensitive=False)(stored)
        return bool(ready)
    await sync_to_async(_mark)(
        recording_id,
        Recording.Status.FAILED,
        f"upload failed {max_attempts} times; the file is kept at {path}",
    )
    return False


def discard_call_recordings(call_id) -> list[Recording]:
    """The caller withdrew consent: every recording of the call, whichever job made it, is
    marked discarded and what storage holds of it deleted. Returns the egress recordings
    still running (LiveKit deletes nothing itself: stop them; ``apply_egress_info`` deletes
    their files once written)."""
    running = []
    for recording in Recording.objects.filter(call_id=call_id).exclude(
        status=Recording.Status.DISCARDED
    ):
        if recording.status == Recording.Status.READY and recording.file.name:
            recording.file.delete(save=False)
        elif recording.status == Recording.Status.RECORDING and recording.egress_id:
            running.append(recording)
        recording.status = Recording.Status.DISCARDED
        recording.save(update_fields=["status", "file", "updated_at"])
    return running
