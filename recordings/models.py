"""Audio recordings of calls, kept in the configured storage (local media/ or S3/MinIO)."""

from django.db import models
from django.utils import timezone


def recording_path(recording: "Recording", filename: str) -> str:
    """Storage key that names the call, e.g. ``recordings/2026/11/24/<call uuid>/<file>``."""
    day = (recording.created_at or timezone.now()).strftime("%Y/%m/%d")
    return f"recordings/{day}/{recording.call_id}/{filename}"


class Recording(models.Model):
    class Source(models.TextChoices):
        EGRESS = "egress", "LiveKit egress"
        AGENT = "agent", "Agent worker"

    class Status(models.TextChoices):
        RECORDING = "recording", "Recording"
        UPLOADING = "uploading", "Uploading"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        DISCARDED = "discarded", "Deleted at the caller's request"

    call = models.ForeignKey("callcenter.Call", on_delete=models.CASCADE, related_name="recordings")
    source = models.CharField(max_length=16, choices=Source.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECORDING)
    file = models.FileField(upload_to=recording_path, max_length=255, blank=True)
    format = models.CharField(max_length=16, blank=True, help_text="ogg, mp4, wav…")
    duration_seconds = models.FloatField(null=True, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    egress_id = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"], name="recording_status_created")]
        constraints = [
            models.UniqueConstraint(
                fields=["egress_id"],
                condition=~models.Q(egress_id=""),
                name="recording_unique_egress_id",
            )
        ]

    def __str__(self) -> str:
        return f"Recording of {self.call_id} ({self.get_status_display()})"


class RecordingPolicy(models.TextChoices):
    """How a phone line, or the web call page, records its calls (``RECORDING_MODE`` on)."""

    ANNOUNCE = "announce", "Recorded: the greeting says so"
    ASK = "ask", "Recorded only if the caller agrees"
    OFF = "off", "Not recorded"


class RecordingConsent(models.TextChoices):
    """Where a call's recording stands with its caller. Only ANNOUNCED and GRANTED calls keep
    audio; every other state stores none (``recordings.consent``)."""

    NOT_RECORDED = "not_recorded", "Not recorded"
    ANNOUNCED = "announced", "Recorded; the caller was told"
    ASKED = "asked", "Not recorded: the caller did not answer whether it may be"
    GRANTED = "granted", "Recorded with the caller's consent"
    DECLINED = "declined", "Recording declined by the caller"
    WITHDRAWN = "withdrawn", "Recording stopped at the caller's request; nothing kept"
