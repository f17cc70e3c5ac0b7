"""Calls and what happened in them.

A call's transcript segments and events share one per-call sequence: the agent worker, the
only writer of a live call, numbers every item in the order it happened. The numbers make a
write idempotent (``(call, sequence)`` is unique) and let a supervisor's monitor resume after a
reconnect from the last number it saw.
"""

import secrets
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Max
from django.utils import timezone

from vehicles.vin import InvalidVIN, normalize_vin


def new_room_name() -> str:
    """Server-chosen, unguessable LiveKit room name."""
    return f"call-{secrets.token_urlsafe(12)}"


class Call(models.Model):
    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting for the agent"
        ACTIVE = "active", "In progress"
        ENDED = "ended", "Ended"
        FAILED = "failed", "Failed"

    class Channel(models.TextChoices):
        WEB = "web", "Web"
        PHONE = "phone", "Phone"

    class Outcome(models.TextChoices):
        RESOLVED = "resolved", "Resolved"
        VEHICLE_REGISTERED = "vehicle_registered", "Vehicle registered"
        HANDED_OFF = "handed_off", "Handed to a human"
        ABANDONED = "abandoned", "Abandoned"
        UNRESOLVED = "unresolved", "Unresolved"

    LIVE_STATUSES = (Status.WAITING, Status.ACTIVE)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    room_name = models.CharField(max_length=64, unique=True, default=new_room_name)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.WAITING)
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.WEB)
    caller = models.CharField(
        max_length=128, blank=True, help_text="Who called: a name, a phone number, or blank."
    )
    vehicle = models.ForeignKey(
        "vehicles.Vehicle",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="calls",
        help_text="The vehicle the call is about.",
    )
    started_at = models.DateTimeField(default=timezone.now)
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    summary = models.TextField(blank=True)
    outcome = models.CharField(max_length=32, choices=Outcome.choices, blank=True)
    needs_human = models.BooleanField(default=False)
    failure_reason = models.TextField(blank=True)
    metrics = models.JSONField(
        default=dict, blank=True, help_text="Latency, token and usage figures of the call."
    )
    worker_job_id = models.CharField(max_length=128, blank=True)
    # A supervisor who took the call over from the agent; their monitor renews the lease.
    controller = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="controlled_calls",
    )
    controller_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["status", "-started_at"], name="call_status_started"),
            models.Index(fields=["-started_at"], name="call_started"),
            models.Index(
                fields=["-started_at"],
                condition=models.Q(needs_human=True),
                name="call_needs_human_started",
            ),
        ]
        permissions = [("monitor_calls", "Can monitor live calls and listen in")]

    def __str__(self) -> str:
        return f"Call {self.room_name} ({self.get_status_display()})"

    @property
    def is_live(self) -> bool:
        return self.status in self.LIVE_STATUSES

    @property
    def duration(self) -> timedelta | None:
        """Time from answer (or start) to end, or to now while the call is live."""
        begin = self.answered_at or self.started_at
        end = self.ended_at or (timezone.now() if self.is_live else None)
        if begin is None or end is None:
            return None
        return max(end - begin, timedelta(0))

    def last_sequence(self) -> int:
        """Highest sequence number used by the call's segments and events (0 when none)."""
        seg = self.segments.aggregate(m=Max("sequence"))["m"] or 0
        evt = self.events.aggregate(m=Max("sequence"))["m"] or 0
        return max(seg, evt)

    @classmethod
    def waiting_now(cls, within: timedelta) -> models.QuerySet:
        """Calls still waiting for the agent that started within ``within``: older ones were
        never answered and count no more."""
        return cls.objects.filter(
            status=cls.Status.WAITING, started_at__gte=timezone.now() - within
        )

    def mark_active(self, when=None) -> None:
        """The agent answered."""
        when = when or timezone.now()
        Call.objects.filter(pk=self.pk, answered_at__isnull=True).update(answered_at=when)
        Call.objects.filter(pk=self.pk, status=self.Status.WAITING).update(
            status=self.Status.ACTIVE
        )
        self.refresh_from_db(fields=["status", "answered_at"])

    def mark_ended(self, when=None, *, failed_reason: str = "") -> None:
        """The call finished (or failed). Idempotent: the first end time wins."""
        when = when or timezone.now()
        status = self.Status.FAILED if failed_reason else self.Status.ENDED
        live = Call.objects.filter(pk=self.pk, status__in=self.LIVE_STATUSES)
        live.update(status=status, ended_at=when, failure_reason=failed_reason)
        self.refresh_from_db(fields=["status", "ended_at", "failure_reason"])


class TranscriptSegment(models.Model):
    class Speaker(models.TextChoices):
        CUSTOMER = "customer", "Customer"
        AGENT = "agent", "Agent"
        SUPERVISOR = "supervisor", "Supervisor"
        SYSTEM = "system", "System"

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="segments")
    sequence = models.PositiveIntegerField()
    speaker = models.CharField(max_length=16, choices=Speaker.choices)
    text = models.TextField()
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    language = models.CharField(max_length=16, blank=True)
    interrupted = models.BooleanField(
        default=False, help_text="The speaker was cut off before finishing."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["call", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["call", "sequence"], name="segment_unique_sequence")
        ]
        # Newest-first transcript search walks this index (scanned backwards) and stops at a
        # page of matches; see callcenter.history.search_segments.
        indexes = [models.Index(fields=["created_at", "id"], name="segment_created")]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.get_speaker_display()}: {self.text[:60]}"


class CallEvent(models.Model):
    class Type(models.TextChoices):
        PARTICIPANT_JOINED = "participant_joined", "Participant joined"
        PARTICIPANT_LEFT = "participant_left", "Participant left"
        TOOL_CALL = "tool_call", "Tool call"
        HANDOFF_REQUESTED = "handoff_requested", "Handoff requested"
        ERROR = "error", "Error"
        WHISPER = "whisper", "Supervisor note"
        TAKE_OVER = "take_over", "Supervisor took over"
        HAND_BACK = "hand_back", "Handed back to the agent"
        BARGE_IN = "barge_in", "Supervisor joined"

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="events")
    sequence = models.PositiveIntegerField()
    type = models.CharField(max_length=32, choices=Type.choices)
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["call", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["call", "sequence"], name="event_unique_sequence")
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.get_type_display()}"

    # How a tool call reads: "Looked up 1HGCM82633A004352: Found on file: 2003 Honda Accord."
    TOOL_VERBS = {
        "lookup_vehicle": "Looked up",
        "create_vehicle": "Registered",
        "get_vehicle_details": "Read the vehicle record",
        "request_human": "Asked for a person",
    }
    # Events a supervisor should not miss (the monitor and the history page mark them).
    IMPORTANT = {Type.HANDOFF_REQUESTED, Type.ERROR}

    def describe(self) -> str:
        """The event as one sentence with who and what, the same on the monitor (it travels
        in the live message) and on the call's history page."""
        payload = self.payload or {}
        by = payload.get("by") or "A supervisor"
        match self.type:
            case self.Type.TOOL_CALL:
                name = payload.get("name", "")
                verb = self.TOOL_VERBS.get(name, f"Used {name}")
                vin = _readable_vin((payload.get("arguments") or {}).get("vin"))
                return f"{verb}{f' {vin}' if vin else ''}: {_first_sentence(payload.get('output'))}"
            case self.Type.HANDOFF_REQUESTED:
                return f"Handoff requested: {payload.get('reason') or 'no reason given'}"
            case self.Type.PARTICIPANT_JOINED:
                return f"{payload.get('identity') or 'Someone'} joined"
            case self.Type.PARTICIPANT_LEFT:
                return f"{payload.get('identity') or 'Someone'} left"
            case self.Type.ERROR:
                return f"Error: {payload.get('message') or 'unknown'}"
            case self.Type.WHISPER:
                return f"{by} whispered: {payload.get('text', '')}"
            case self.Type.TAKE_OVER:
                return f"{by} took over"
            case self.Type.HAND_BACK:
                if payload.get("by") == "timeout":
                    return "The agent took the call back: the supervisor's page stopped answering"
                return f"{by} handed back to the agent"
            case self.Type.BARGE_IN:
                return f"{by} joined the call"
        return self.get_type_display()

    @property
    def important(self) -> bool:
        return self.type in self.IMPORTANT or bool((self.payload or {}).get("is_error"))


def _readable_vin(said) -> str:
    """The VIN a tool was given, as 17 characters when it reads as one (the model passes it
    as the caller spoke it: "one H G C, m as in mike, …"), else as given."""
    if not said:
        return ""
    try:
        return normalize_vin(str(said))
    except InvalidVIN:
        return str(said)


def _first_sentence(text) -> str:
    clean = " ".join(str(text or "").split())
    end = clean.find(". ")
    return clean[: end + 1] if end > 0 else clean
