"""The desk: people who take the calls the agent hands over, and the handoffs themselves.

A handoff rings one person at a time. Who rings, and that one handoff never rings two people,
is decided by PostgreSQL row locks (``desk.routing``); every change below is one conditional
UPDATE, safe against the other web hosts, the agent jobs and the desk pages doing theirs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from callcenter.models import Call

ANSWER_PERMISSION = "desk.answer_handoffs"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class DeskPerson(models.Model):
    """One person at the desk: whether they take handoffs now, and the one they have."""

    # A desk page renews ``seen_at`` every few seconds; a person whose page has been gone this
    # long is not rung (they closed the tab, lost the network, the laptop slept).
    PRESENCE_LEASE = timedelta(seconds=30)

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="desk_person"
    )
    available = models.BooleanField(
        default=False, help_text="They said they take handoffs (their choice, kept on reload)."
    )
    seen_at = models.DateTimeField(null=True, blank=True, help_text="Their desk page, last.")
    idle_since = models.DateTimeField(
        default=timezone.now, help_text="Since their last handoff ended: longest idle rings first."
    )
    handoff = models.OneToOneField(
        "Handoff", null=True, blank=True, on_delete=models.SET_NULL, related_name="person",
        help_text="The handoff ringing at their desk or on the call with them now.",
    )  # fmt: skip

    class Meta:
        verbose_name = "person at the desk"
        verbose_name_plural = "people at the desk"
        indexes = [models.Index(fields=["available", "idle_since"], name="desk_free_idle")]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        """How the caller hears them introduced: their first name, else their username."""
        return self.user.first_name or self.user.get_username()

    @classmethod
    def of(cls, user) -> DeskPerson:
        person, _ = cls.objects.get_or_create(user=user)
        return person

    @classmethod
    def free(cls, now: datetime | None = None) -> models.QuerySet[DeskPerson]:
        """Who may be rung now: available, their page there, no handoff of theirs."""
        now = now or timezone.now()
        return cls.objects.filter(
            available=True, handoff__isnull=True, seen_at__gte=now - cls.PRESENCE_LEASE
        )

    @classmethod
    def present(cls, now: datetime | None = None) -> models.QuerySet[DeskPerson]:
        """Whose desk page is there now (available, or away with the page open)."""
        now = now or timezone.now()
        return cls.objects.filter(seen_at__gte=now - cls.PRESENCE_LEASE)

    def seen(self) -> None:
        DeskPerson.objects.filter(pk=self.pk).update(seen_at=timezone.now())

    def set_available(self, available: bool) -> None:
        """Available or away. Becoming available counts as the start of being idle."""
        now = timezone.now()
        values: dict[str, Any] = {"available": available, "seen_at": now}
        if available and not self.available:
            values["idle_since"] = now
        DeskPerson.objects.filter(pk=self.pk).update(**values)
        self.refresh_from_db()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "username": self.user.get_username(),
            "available": self.available,
            "busy": self.handoff_id is not None,
            "idle_since": _iso(self.idle_since),
        }


class HandoffQuerySet(models.QuerySet):
    def waiting(self) -> HandoffQuerySet:
        """Handoffs whose caller is waiting for a person: queued or ringing."""
        return self.filter(status__in=Handoff.WAITING)

    def for_desk(self) -> HandoffQuerySet:
        return self.select_related("call", "call__vehicle", "accepted_by", "offered_to")


class Handoff(models.Model):
    """A caller handed by the agent to a person at the desk, with the agent's brief."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting for a person"
        RINGING = "ringing", "Ringing at the desk"
        ACCEPTED = "accepted", "With a person"
        RETURNED = "returned", "Handed back to the agent"
        ENDED = "ended", "Ended with a person"
        CALLBACK = "callback", "To call back: nobody answered in time"
        CALLED_BACK = "called_back", "Called back by the desk"
        ABANDONED = "abandoned", "The caller hung up while waiting"

    WAITING = (Status.QUEUED, Status.RINGING)

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="handoffs")
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    reason = models.CharField(max_length=200, blank=True)
    brief = models.JSONField(
        default=dict, blank=True,
        help_text="What the agent tells the person: caller, vehicle, wants, done, left.",
    )  # fmt: skip
    requested_at = models.DateTimeField(default=timezone.now)
    offered_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", help_text="Who it rings now.",
    )  # fmt: skip
    offer_expires_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="accepted_handoffs",
    )  # fmt: skip
    accepted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    called_back_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
        help_text="For a callback task: who at the desk called the customer back.",
    )  # fmt: skip
    called_back_at = models.DateTimeField(null=True, blank=True)

    objects = HandoffQuerySet.as_manager()

    class Meta:
        ordering = ["requested_at"]
        indexes = [models.Index(fields=["status", "requested_at"], name="handoff_status_asked")]
        constraints = [
            # One handoff waiting or with a person per call at a time.
            models.UniqueConstraint(
                fields=["call"],
                condition=Q(status__in=["queued", "ringing", "accepted"]),
                name="handoff_one_open_per_call",
            )
        ]
        permissions = [("answer_handoffs", "Can take handoffs at the desk")]

    def __str__(self) -> str:
        return f"Handoff of {self.call.caller_shown or 'a caller'} ({self.get_status_display()})"

    def to_dict(self) -> dict[str, Any]:
        """The handoff as desk pages show it (select it ``for_desk``)."""
        call = self.call
        return {
            "id": self.pk,
            "call_id": str(call.pk),
            "status": self.status,
            "status_label": self.get_status_display(),
            "caller": call.caller_shown,
            "channel": call.channel,
            "vehicle_id": call.vehicle_id,
            "reason": self.reason,
            "brief": self.brief,
            "requested_at": _iso(self.requested_at),
            "offered_to": self.offered_to.get_username() if self.offered_to_id else None,
            "offer_expires_at": _iso(self.offer_expires_at),
            "accepted_by": self.accepted_by.get_username() if self.accepted_by_id else None,
            "accepted_at": _iso(self.accepted_at),
        }


class HandoffOffer(models.Model):
    """One ring of a handoff at one person's desk, and how it ended: the next ring skips
    whoever declined or let it ring out, and the dashboard reads time to answer from it."""

    class Answer(models.TextChoices):
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        TIMED_OUT = "timed_out", "Not answered in time"
        WITHDRAWN = "withdrawn", "Withdrawn: the caller left or was told to wait for a callback"

    handoff = models.ForeignKey(Handoff, on_delete=models.CASCADE, related_name="offers")
    person = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    offered_at = models.DateTimeField(default=timezone.now)
    answer = models.CharField(max_length=16, choices=Answer.choices, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["offered_at"]
        constraints = [
            # A ringing offer is the only one of its handoff.
            models.UniqueConstraint(
                fields=["handoff"], condition=Q(answer=""), name="offer_one_ringing_per_handoff"
            )
        ]

    def __str__(self) -> str:
        return f"{self.handoff} offered to {self.person} ({self.answer or 'ringing'})"
