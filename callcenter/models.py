"""Calls and what happened in them.

A call's transcript segments and events share one per-call sequence: the agent worker, the
only writer of a live call, numbers every item in the order it happened. The numbers make a
write idempotent (``(call, sequence)`` is unique) and let a supervisor's monitor resume after a
reconnect from the last number it saw.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Case, F, Max, Q, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from appointments.models import mask_number
from callcenter.greeting import DEFAULT_GREETING
from recordings.models import RecordingConsent, RecordingPolicy
from vehicles.vin import InvalidVIN, normalize_vin


def new_room_name() -> str:
    """Server-chosen, unguessable LiveKit room name."""
    return f"call-{secrets.token_urlsafe(12)}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class CallQuerySet(models.QuerySet):
    def live(self) -> CallQuerySet:
        """Calls waiting for the agent or in progress."""
        return self.filter(status__in=Call.LIVE_STATUSES)

    def unanswered_for(self, wait: timedelta) -> CallQuerySet:
        """Calls no agent has answered though they started more than ``wait`` ago: they
        will not be (the caller's page never connected, or no worker took the job)."""
        return self.filter(status=Call.Status.WAITING, started_at__lt=timezone.now() - wait)

    def for_messages(self) -> CallQuerySet:
        """With what ``Call.to_message`` reads (the vehicle, the controlling supervisor)."""
        return self.select_related("vehicle", "controller")


class Call(models.Model):
    # The labels of these choices are the product's one vocabulary: the admin, the history
    # pages and the monitor (the live messages carry them) all say them the same way.
    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting for the agent"
        ACTIVE = "active", "In progress"
        ENDED = "ended", "Ended"
        FAILED = "failed", "Failed"

    class Channel(models.TextChoices):
        WEB = "web", "Web"
        PHONE = "phone", "Phone"

    class Origin(models.TextChoices):
        INBOUND = "inbound", "Inbound"  # the customer called
        CALLBACK = "callback", "Callback"  # a supervisor had the desk call back
        CAMPAIGN = "campaign", "Campaign"  # a campaign's dialler placed it

    class Outcome(models.TextChoices):
        RESOLVED = "resolved", "Resolved"
        VEHICLE_REGISTERED = "vehicle_registered", "Vehicle registered"
        HANDED_OFF = "handed_off", "Handed to a person"
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
    dialled_number = models.CharField(
        max_length=32, blank=True, help_text="For a phone call: the number the caller dialled."
    )
    origin = models.CharField(
        max_length=16, choices=Origin.choices, default=Origin.INBOUND, db_index=True,
        db_default=Origin.INBOUND,  # hosts still on the code before the field can insert
        editable=False, help_text="Who started the call: the customer, or the desk.",
    )  # fmt: skip
    callback_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="callbacks",
        help_text="For a callback: the call it returns.",
    )  # fmt: skip
    client_key = models.CharField(
        max_length=64, blank=True, editable=False,
        help_text="For a web call: who started it, as a keyed hash of the client's address "
        "(its IPv6 /64), for the per-address limit; the address itself is not stored.",
    )  # fmt: skip
    callback_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", help_text="For a callback: the supervisor who asked for it.",
    )  # fmt: skip
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
    # When the agent left the live call without ending it (its worker died): a new job is
    # dispatched and resumes the call; cleared when it does.
    agent_lost_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Where the call ran, for operators of a deployment over several hosts: the agent worker's
    # host name and the address of the LiveKit media node that carried its audio.
    worker_host = models.CharField(
        max_length=255, blank=True, help_text="The host of the agent worker that served it."
    )
    media_node = models.CharField(
        max_length=64, blank=True,
        help_text="The address of the LiveKit media node that carried its audio.",
    )  # fmt: skip
    # A supervisor who took the call over from the agent; their monitor renews the lease.
    controller = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="controlled_calls",
    )
    controller_seen_at = models.DateTimeField(null=True, blank=True)
    # Where the recording stands with the caller (recordings.consent): nothing is recorded
    # until the agent answers under the line's policy.
    recording_consent = models.CharField(
        max_length=16, choices=RecordingConsent.choices, default=RecordingConsent.NOT_RECORDED,
        editable=False,
    )  # fmt: skip
    # The post-call review (callcenter.review): each judge's verdict and reasoning, the score,
    # the model and its tokens; a call the review flags waits for a supervisor's look.
    # (Defaults in the database too: hosts still on the code before the review can insert.)
    review = models.JSONField(
        default=dict, db_default=Value({}, models.JSONField()), blank=True, editable=False
    )
    flagged = models.BooleanField(default=False, db_default=False, editable=False)
    flag_reason = models.TextField(blank=True, db_default="", editable=False)
    flag_reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", editable=False, help_text="The supervisor who looked at the flag.",
    )  # fmt: skip
    flag_reviewed_at = models.DateTimeField(null=True, blank=True, editable=False)
    flag_review_note = models.TextField(blank=True, db_default="", editable=False)
    # Counts the changes of the row: a monitor drops a call message older than one it has.
    version = models.PositiveIntegerField(default=0, editable=False)

    objects = CallQuerySet.as_manager()

    # How long a supervisor's control lasts without their monitor renewing it.
    CONTROL_LEASE = timedelta(seconds=30)
    # Why a call that ended before any agent answered it failed (the webhooks, the worker and
    # the sweeper all end calls through mark_ended, which applies it).
    NEVER_ANSWERED = "Never answered: no agent joined the call."

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["status", "-started_at"], name="call_status_started"),
            models.Index(fields=["-started_at"], name="call_started"),
            # The call-start limit counts one client's recent calls.
            models.Index(
                fields=["client_key", "-started_at"],
                condition=~models.Q(client_key=""),
                name="call_client_started",
            ),
            models.Index(
                fields=["-started_at"],
                condition=models.Q(needs_human=True),
                name="call_needs_human_started",
            ),
            models.Index(
                fields=["-started_at"],
                condition=models.Q(flagged=True),
                name="call_flagged_started",
            ),
        ]
        permissions = [
            ("monitor_calls", "Can monitor live calls and listen in"),
            ("view_caller_number", "Can see phone callers' full numbers"),
        ]

    def __str__(self) -> str:
        return f"Call {self.room_shown} ({self.get_status_display()})"

    @staticmethod
    def client_key_of(address: str | None) -> str:
        """The stored stand-in for a client address: a keyed hash, the same for one address
        on every web host, that reveals no address."""
        # No address at all (a test client): one key for all such requests.
        given = (address or "").encode()
        return hmac.new(settings.SECRET_KEY.encode(), given, "sha256").hexdigest()

    @property
    def caller_shown(self) -> str:
        """The caller as supervisors see them: a phone caller's number masked but for its last
        digits (the admin shows it whole to staff with ``view_caller_number``)."""
        return self.hide_number_in(self.caller)

    @property
    def room_shown(self) -> str:
        return self.hide_number_in(self.room_name)

    def hide_number_in(self, text: str) -> str:
        """``text`` with a phone caller's number masked (LiveKit puts it in the room's name
        and the caller's identity)."""
        if self.channel == self.Channel.PHONE and self.caller not in ("", UNKNOWN_CALLER):
            # Whatever its form: +49…, 0151…, or whatever a SIP peer put in its From header.
            return text.replace(self.caller, mask_number(self.caller))
        return text

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
    def waiting_now(cls, within: timedelta) -> CallQuerySet:
        """Calls still waiting for the agent that started within ``within``: older ones
        (``unanswered_for``) will not be answered and count no more."""
        return cls.objects.filter(
            status=cls.Status.WAITING, started_at__gte=timezone.now() - within
        )

    # --- The named changes of a call ---------------------------------------------------------
    # Each is one conditional UPDATE of the row (safe to run twice, safe against a concurrent
    # writer: the agent worker, the webhooks, the sweeper and supervisors all change calls),
    # counts a new version, and refreshes this instance. Each says whether it changed the row.

    def _change(self, only_if: Q | None = None, **values: Any) -> bool:
        rows = Call.objects.filter(pk=self.pk)
        if only_if is not None:
            rows = rows.filter(only_if)
        changed = rows.update(**values, version=F("version") + 1)
        changed_fields = [self._meta.get_field(name).name for name in values]
        self.refresh_from_db(fields=[*changed_fields, "version"])
        return bool(changed)

    def mark_active(self, when: datetime | None = None) -> bool:
        """The agent answered. The first answer time wins."""
        not_yet = Q(status=self.Status.WAITING) | Q(answered_at__isnull=True)
        return self._change(
            Q(status__in=self.LIVE_STATUSES) & not_yet,
            status=self.Status.ACTIVE,
            answered_at=Coalesce("answered_at", Value(when or timezone.now())),
        )

    def mark_ended(self, when: datetime | None = None, *, failed_reason: str = "") -> bool:
        """The call finished, or failed saying why. A call no agent answered has failed as
        NEVER_ANSWERED (decided by the row as it is, not as this instance last read it). The
        first end wins."""
        never_answered = Q(status=self.Status.WAITING)
        if failed_reason:
            status, reason = Value(self.Status.FAILED), Value(failed_reason)
        else:
            status = Case(
                When(never_answered, then=Value(self.Status.FAILED)),
                default=Value(self.Status.ENDED),
            )
            reason = Case(When(never_answered, then=Value(self.NEVER_ANSWERED)), default=Value(""))
        return self._change(
            Q(status__in=self.LIVE_STATUSES),
            status=status,
            ended_at=when or timezone.now(),
            failure_reason=reason,
        )

    def assign_job(self, job_id: str) -> bool:
        """The agent worker's job that serves the call (an ended call keeps its record)."""
        return self._change(Q(status__in=self.LIVE_STATUSES), worker_job_id=job_id)

    def mark_agent_lost(self, when: datetime | None = None) -> bool:
        """The agent left the live call without ending it: a new job is on its way."""
        return self._change(
            Q(status__in=self.LIVE_STATUSES, agent_lost_at__isnull=True),
            agent_lost_at=when or timezone.now(),
        )

    def mark_agent_back(self) -> bool:
        """A new job has taken the call over from the lost one."""
        return self._change(Q(agent_lost_at__isnull=False), agent_lost_at=None)

    def record_placement(self, worker_host: str, media_node: str) -> bool:
        """Which worker host serves the call, and which media node carries its audio."""
        return self._change(worker_host=worker_host[:255], media_node=media_node[:64])

    def set_vehicle(self, vehicle_id: int) -> bool:
        """The vehicle the call is about, once the agent found or registered it."""
        return self._change(vehicle_id=vehicle_id)

    def flag_needs_human(self) -> bool:
        """The agent asked for a person."""
        return self._change(needs_human=True)

    def set_recording_consent(self, consent: str) -> bool:
        """Where the recording stands with the caller (recordings.consent decides)."""
        return self._change(recording_consent=consent)

    def store_metrics(self, metrics: dict[str, Any]) -> bool:
        """Latency samples, their percentiles and usage totals, when the call ends."""
        return self._change(metrics=metrics)

    def store_summary(self, summary: str, outcome: str) -> bool:
        """The post-call summary and outcome."""
        return self._change(summary=summary, outcome=outcome)

    def store_review(self, review: dict[str, Any], flag_reason: str = "") -> bool:
        """The post-call review (``callcenter.review.stored_review``); a ``flag_reason`` flags
        the call for the supervisors. A supervisor's mark on an earlier flag is kept."""
        return self._change(review=review, flagged=bool(flag_reason), flag_reason=flag_reason)

    def mark_flag_reviewed(self, user, note: str = "", when: datetime | None = None) -> bool:
        """A supervisor looked at the flagged call, with a note: the first mark is kept."""
        return self._change(
            Q(flagged=True, flag_reviewed_at__isnull=True),
            flag_reviewed_by=user,
            flag_reviewed_at=when or timezone.now(),
            flag_review_note=note,
        )

    def take_over(self, user, when: datetime | None = None) -> bool:
        """Make ``user`` the call's controller, unless another supervisor holds a live lease:
        of two supervisors at once, one wins (the row update decides)."""
        now = when or timezone.now()
        free = (
            Q(controller__isnull=True)
            | Q(controller=user)
            | Q(controller_seen_at__lt=now - self.CONTROL_LEASE)
        )
        return self._change(
            Q(status__in=self.LIVE_STATUSES) & free, controller=user, controller_seen_at=now
        )

    def release_control(self, controller_id: int | None = None) -> bool:
        """Give the call back to the agent: from ``controller_id`` only, when given."""
        held = Q(controller_id=controller_id) if controller_id else Q(controller__isnull=False)
        return self._change(held, controller=None, controller_seen_at=None)

    @classmethod
    def renew_control(cls, user) -> int:
        """The supervisor's monitor is still there: keep the calls they control (the lease
        is no visible change, so no new version)."""
        return cls.objects.live().filter(controller=user).update(controller_seen_at=timezone.now())

    def control_lapsed(self, now: datetime | None = None) -> bool:
        """A supervisor controls the call, but their monitor stopped renewing the lease."""
        cutoff = (now or timezone.now()) - self.CONTROL_LEASE
        return bool(
            self.controller_id
            and (self.controller_seen_at is None or self.controller_seen_at < cutoff)
        )

    @property
    def placed_by_desk(self) -> bool:
        """A call the desk placed (a callback, a campaign's): it is answered when the customer
        picks up, which its job records, not when the agent joins its room."""
        return self.origin != self.Origin.INBOUND

    # --- On the wire ---------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The call as the live monitor shows it (select it ``for_messages``)."""
        vehicle = self.vehicle
        return {
            "id": str(self.pk),
            "version": self.version,
            "room": self.room_shown,
            "status": self.status,
            "status_label": self.get_status_display(),
            "channel": self.channel,
            "origin": self.origin,
            "caller": self.caller_shown,
            "dialled_number": self.dialled_number,
            "vehicle": {"vin": vehicle.vin, "description": vehicle.title} if vehicle else None,
            "started_at": _iso(self.started_at),
            "answered_at": _iso(self.answered_at),
            "ended_at": _iso(self.ended_at),
            "needs_human": self.needs_human,
            "outcome": self.outcome,
            "outcome_label": self.get_outcome_display() if self.outcome else "",
            "controller": self.controller.get_username() if self.controller_id else None,
            "agent_lost_at": _iso(self.agent_lost_at),
            "recording_consent": self.recording_consent,
            "recording_consent_label": self.get_recording_consent_display(),
        }

    def to_message(self) -> dict[str, Any]:
        """The live message of a change of the call: ``{"kind": "call", "call": {...}}``."""
        return {"kind": "call", "call": self.to_dict()}


class WorkerHeartbeat(models.Model):
    """An agent worker registered with LiveKit, as it last said so: the web app tells a caller
    at once that voice calls are unavailable when no worker for its agent name is there,
    instead of letting them wait for an answer that cannot come."""

    worker_id = models.CharField(max_length=64, unique=True, help_text="LiveKit's worker id.")
    agent_name = models.CharField(max_length=128, db_index=True)
    host = models.CharField(max_length=255, blank=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.agent_name} on {self.host or '?'} ({self.worker_id})"

    @staticmethod
    def every() -> timedelta:
        """How often a worker says it is there (``WORKER_HEARTBEAT_SECONDS``)."""
        return timedelta(seconds=settings.WORKER_HEARTBEAT_SECONDS)

    @classmethod
    def believed_for(cls) -> timedelta:
        """How long a worker is counted on without a word: three beats."""
        return 3 * cls.every()

    @classmethod
    def beat(cls, worker_id: str, agent_name: str, host: str) -> None:
        """The worker is there now; heartbeats of workers gone a day are cleared away."""
        now = timezone.now()
        cls.objects.update_or_create(
            worker_id=worker_id, defaults={"agent_name": agent_name, "host": host, "seen_at": now}
        )
        cls.objects.filter(seen_at__lt=now - timedelta(days=1)).delete()

    @classmethod
    def worker_there(cls, agent_name: str) -> bool:
        """Whether a worker for ``agent_name`` has said it is registered lately."""
        recent = timezone.now() - cls.believed_for()
        return cls.objects.filter(agent_name=agent_name, seen_at__gte=recent).exists()


class TranscriptSegment(models.Model):
    class Speaker(models.TextChoices):
        CUSTOMER = "customer", "Caller"
        AGENT = "agent", "Agent"
        SUPERVISOR = "supervisor", "Supervisor"
        DESK = "desk", "Desk"  # a person at the desk who took the call (``speaker_name``)
        SYSTEM = "system", "System"

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="segments")
    sequence = models.PositiveIntegerField()
    speaker = models.CharField(max_length=16, choices=Speaker.choices)
    speaker_name = models.CharField(
        max_length=150, blank=True, help_text="Who spoke, for a person at the desk: their name."
    )
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
        return f"#{self.sequence} {self.speaker_label}: {self.text[:60]}"

    @property
    def speaker_label(self) -> str:
        """Who spoke as pages say it: "Caller", "Agent", or a desk person's name ("Jane
        (desk)")."""
        if self.speaker_name:
            return f"{self.speaker_name} ({self.get_speaker_display().lower()})"
        return self.get_speaker_display()

    def to_message(self) -> dict[str, Any]:
        """The live message of one committed segment."""
        return {
            "kind": "segment",
            "call_id": str(self.call_id),
            "sequence": self.sequence,
            "speaker": self.speaker,
            "speaker_label": self.speaker_label,
            "text": self.text,
            "language": self.language,
            "interrupted": self.interrupted,
            "started_at": _iso(self.started_at),
            "ended_at": _iso(self.ended_at),
        }


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
        KEY_PRESSED = "key_pressed", "Keys pressed"
        TRANSFER = "transfer", "Transferred to a person"
        CALLBACK = "callback", "Callback dialled"
        BOOKING_REFUSED = "booking_refused", "Booking access refused"
        AGENT_BACK = "agent_back", "Agent back after an interruption"
        HANDOFF_ANSWERED = "handoff_answered", "A person at the desk took the call"
        HANDOFF_UNANSWERED = "handoff_unanswered", "Nobody at the desk took the call in time"
        RECORDING_CONSENT = "recording_consent", "Recording consent"
        RECORDING_PAUSED = "recording_paused", "Recording paused"

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
        # The appointment tools' answers say what happened ("Booked: …", "Not booked: …").
        "find_appointment_slots": "Free slots asked",
        "book_appointment": "Appointment",
        "recording_consent": "Recording",
        "list_appointments": "Appointments listed",
        "move_appointment": "Appointment",
        "cancel_appointment": "Appointment",
    }
    # Events a supervisor should not miss (the monitor and the history page mark them).
    IMPORTANT = {
        Type.HANDOFF_REQUESTED, Type.ERROR, Type.TRANSFER, Type.BOOKING_REFUSED, Type.AGENT_BACK,
        Type.HANDOFF_UNANSWERED,
    }  # fmt: skip

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
            case self.Type.TRANSFER:
                who = payload.get("by") or "The agent"
                return f"{who} transferred the caller to {payload.get('to', '?')}: " + (
                    payload.get("result") or "no result"
                )
            case self.Type.CALLBACK:
                return f"Called back {payload.get('to', '')}: {payload.get('result', '?')}"
            case self.Type.BOOKING_REFUSED:
                return f"Refused the caller a booking: {payload.get('reason') or 'no reason'}"
            case self.Type.AGENT_BACK:
                seconds = payload.get("seconds")
                return (
                    f"The agent was cut off (its worker stopped) and is back after {seconds} s"
                    f" on {payload.get('worker') or 'another worker'}"
                )
            case self.Type.HANDOFF_ANSWERED:
                return f"{payload.get('name') or 'A person'} from the desk took the call"
            case self.Type.HANDOFF_UNANSWERED:
                return f"Nobody at the desk took the call: {payload.get('why') or 'no reason'}"
            case self.Type.RECORDING_CONSENT:
                consent = payload.get("consent")
                return RecordingConsent(consent).label if consent in RecordingConsent else "?"
            case self.Type.RECORDING_PAUSED:
                return (
                    f"Recording paused {payload.get('seconds', '?')} s: "
                    f"{payload.get('reason') or 'no reason'}"
                )
            case self.Type.KEY_PRESSED:
                return f"The caller pressed {' '.join(payload.get('digits', ''))} on the keypad"
        return self.get_type_display()

    @property
    def important(self) -> bool:
        return self.type in self.IMPORTANT or bool((self.payload or {}).get("is_error"))

    def to_message(self) -> dict[str, Any]:
        """The live message of one event, with its sentence (``describe``)."""
        return {
            "kind": "event",
            "call_id": str(self.call_id),
            "sequence": self.sequence,
            "type": self.type,
            "payload": self.payload,
            "text": self.describe(),
            "important": self.important,
            "created_at": _iso(self.created_at),
        }


def in_sequence(
    segments: Iterable[TranscriptSegment], events: Iterable[CallEvent]
) -> list[TranscriptSegment | CallEvent]:
    """A call's segments and events as one timeline, in the order they happened (they share
    the call's sequence): the monitor's snapshot and the history page read it so."""
    return sorted([*segments, *events], key=attrgetter("sequence"))


def _readable_vin(said) -> str:
    """The VIN a tool was given, as 17 characters when it reads as one (the model passes it
    as the caller spoke it: "one H G C, m as in mike, …"), else as given."""
    if not said:
        return ""
    try:
        return normalize_vin(str(said))
    except InvalidVIN:
        return str(said)


# What the worker stores as a phone caller when the bridge gave no number.
UNKNOWN_CALLER = "unknown"


def _first_sentence(text) -> str:
    clean = " ".join(str(text or "").split())
    end = clean.find(". ")
    return clean[: end + 1] if end > 0 else clean


GREETING_HELP = (
    "What the agent says first, always the same: played at once, its audio kept per voice. "
    "Empty: the agent words its own greeting (the caller waits for the model and speech "
    "synthesis)."
)


class WebCallPage(models.Model):
    """The web call page's settings, kept in the admin: one row (``current()``)."""

    recording_policy = models.CharField(
        max_length=16, choices=RecordingPolicy.choices, default=RecordingPolicy.ANNOUNCE,
        help_text="How calls from the web page are recorded, when RECORDING_MODE is on.",
    )  # fmt: skip
    greeting = models.CharField(
        max_length=300, blank=True, default=DEFAULT_GREETING, help_text=GREETING_HELP
    )

    class Meta:
        verbose_name = verbose_name_plural = "web call page"

    def __str__(self) -> str:
        return "Web call page"

    def save(self, *args, **kwargs) -> None:
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def current(cls) -> WebCallPage:
        return cls.objects.get_or_create(pk=1)[0]
