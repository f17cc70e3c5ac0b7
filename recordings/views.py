"""Supervisors' playback of recordings: presigned redirect on S3, ranged streaming on local
storage. The URL conf serves it behind ``supervisor_required`` (config/urls.py), as the admin
serves its views behind ``admin_view``: the access rule is the calls app's, above this one.

The recording is found by its id only; no part of the request ever names a file.
"""

from __future__ import annotations

import re

from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from recordings.models import Recording
from recordings.storage import presigned_url, storage_is_remote

CHUNK = 64 * 1024
CONTENT_TYPES = {"ogg": "audio/ogg", "mp4": "audio/mp4", "m4a": "audio/mp4", "wav": "audio/wav"}
RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str, size: int) -> tuple[int, int] | str | None:
    """``(first, last)`` for one satisfiable byte range, None for no (or an ignored multi-)
    range, or ``"unsatisfiable"``."""
    if not header:
        return None
    match = RANGE.match(header.strip())
    if not match:
        return None if "," in header else "unsatisfiable"
    first, last = match.groups()
    if not first and not last:
        return "unsatisfiable"
    if not first:  # suffix: the last N bytes
        length = int(last)
        if length == 0:
            return "unsatisfiable"
        return max(0, size - length), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        return "unsatisfiable"
    return start, end


def _stream(handle, start: int, length: int):
    handle.seek(start)
    remaining = length
    try:
        while remaining > 0:
            chunk = handle.read(min(CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk
    finally:
        handle.close()


@require_GET
def recording_audio(request: HttpRequest, pk: int) -> HttpResponse:
    """The audio of a ready recording."""
    recording = get_object_or_404(Recording, pk=pk, status=Recording.Status.READY)
    if not recording.file.name:
        raise Http404("This recording has no file.")
    if storage_is_remote():
        return HttpResponseRedirect(presigned_url(recording))
    storage = recording.file.storage
    try:
        size = storage.size(recording.file.name)
        handle = storage.open(recording.file.name, "rb")
    except FileNotFoundError as exc:
        raise Http404("The recording's file is missing.") from exc
    content_type = CONTENT_TYPES.get(recording.format, "application/octet-stream")
    wanted = parse_range(request.headers.get("Range", ""), size)
    if wanted == "unsatisfiable":
        handle.close()
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    start, end = wanted if wanted else (0, size - 1)
    length = max(0, end - start + 1)
    response = StreamingHttpResponse(
        _stream(handle, start, length), status=206 if wanted else 200, content_type=content_type
    )
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, no-store"
    if wanted:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    return response
