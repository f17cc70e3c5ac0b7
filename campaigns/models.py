"""Outbound campaigns: the desk calls its customers about service due, recalls and reminders.

A Campaign says why it calls, from which line, when (the line's hours and a legal window in
each contact's own time zone), how fast (calls at once, calls a minute) and how often (retries
after busy, no answer, voicemail). Its Contacts are the people it calls, each with where their
consent came from; each dial of a contact is an Attempt linked to the call's record. Numbers on
the DoNotCall list are never dialled. The dialler (``campaigns.dialler``) places the calls.
"""

from __future__ import annotations

from datetime import time, timedelta
from zoneinfo import ZoneInfo, available_timezones

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from callcenter.models import Call
from telephony.models import PhoneLine, validate_e164
from vehicles.models import Vehicle


def shop_time_zone() -> str:
    return settings.SHOP_TIME_ZONE


def validate_time_zone(name: str) -> None:
    if name not in available_timezones():
        raise ValidationError(f"“{name}” is no time zone: give one like Europe/Berlin.")


class Campaign(models.Model):
    class Purpose(models.TextChoices):
        SERVICE_DUE = "service_due", "Service due"
        RECALL = "recall", "Recall"
        REMINDER = "reminder", "Appointment reminder"
        CUSTOM = "custom", "Custom"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        STOPPED = "stopped", "Stopped"

    name = models.CharField(max_length=120)
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    brief = models.TextField(
        max_length=2000,
        help_text="What the agent should say and achieve on these calls, e.g. “The vehicle is "
        "due for its annual service; offer a slot next week.”",
    )
    line = models.ForeignKey(
        PhoneLine, on_delete=models.PROTECT, related_name="campaigns",
        help_text="The line it calls from: its outbound trunk and its opening hours.",
    )  # fmt: skip
    calling_from = models.TimeField(
        default=time(8), help_text="Earliest time to call, in the contact's own time zone."
    )
    calling_until = models.TimeField(
        default=time(21), help_text="Latest time to call, in the contact's own time zone."
    )
    max_concurrent_calls = models.PositiveSmallIntegerField(
        default=2, validators=[MinValueValidator(1), MaxValueValidator(50)]
    )
    calls_per_minute = models.PositiveSmallIntegerField(
        default=6, validators=[MinValueValidator(1), MaxValueValidator(120)]
    )
    max_attempts = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(10)],
        help_text="Dials per contact at most: busy, no answer and voicemail are tried again.",
    )  # fmt: skip
    retry_after_minutes = models.PositiveIntegerField(
        default=120, validators=[MinValueValidator(5), MaxValueValidator(7 * 24 * 60)]
    )
    voicemail_message = models.TextField(
        max_length=1000, blank=True,
        help_text="Left on a voicemail box. Empty: who called, why, and the line's number.",
    )  # fmt: skip
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip

    class Meta:
        ordering = ["-created_at"]
        permissions = [("run_campaign", "Can start, pause, resume and stop campaigns")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.calling_from >= self.calling_until:
            raise ValidationError({"calling_until": "The window must end after it starts."})

    def in_window(self, contact: Contact, at=None) -> bool:
        """Whether ``contact`` may be called at ``at`` (now): within the legal window in their
        own time zone and the line's opening hours."""
        at = at or timezone.now()
        local = timezone.localtime(at, ZoneInfo(contact.time_zone)).time()
        return self.calling_from <= local < self.calling_until and self.line.is_open(at)


class Contact(models.Model):
    class State(models.TextChoices):
        WAITING = "waiting", "Waiting to be called"
        DIALLING = "dialling", "On a call"
        DONE = "done", "Done"

    class Outcome(models.TextChoices):
        BOOKED = "booked", "Booked"
        TALKED = "talked", "Talked, nothing booked"
        DECLINED = "declined", "Declined"
        CALL_LATER = "call_later", "Call later"
        VOICEMAIL = "voicemail", "Voicemail left"
        NO_ANSWER = "no_answer", "No answer"
        BUSY = "busy", "Busy"
        WRONG_PERSON = "wrong_person", "Wrong person"
        DO_NOT_CALL = "do_not_call", "Do not call"
        FAILED = "failed", "Failed"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(max_length=120)
    phone = models.CharField(max_length=16, validators=[validate_e164])
    vehicle = models.ForeignKey(Vehicle, null=True, blank=True, on_delete=models.SET_NULL)
    time_zone = models.CharField(
        max_length=64, default=shop_time_zone, validators=[validate_time_zone]
    )
    consent_source = models.CharField(
        max_length=200, help_text="Where the consent to call came from, e.g. “service contract "
        "2025, clause 7” or “asked at the counter”.",
    )  # fmt: skip
    state = models.CharField(max_length=16, choices=State.choices, default=State.WAITING)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    note = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    later_asked = models.PositiveSmallIntegerField(
        default=0, help_text="How often the contact asked to be called at another time."
    )
    updated_at = models.DateTimeField(auto_now=True)

    # What the person answering may decide on a call (the agent's tools record it while the
    # call is on; the dialler applies it once the call has ended, ``settle``).
    DECIDED_ON_CALL = (
        Outcome.DO_NOT_CALL, Outcome.DECLINED, Outcome.WRONG_PERSON, Outcome.CALL_LATER
    )  # fmt: skip
    # A contact may put the call off this often; after that, the desk stops calling.
    MAX_LATER = 3

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "phone"], name="one_contact_per_number")
        ]
        indexes = [models.Index(fields=["campaign", "state", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.campaign})"

    def decide(self, outcome: str, note: str = "", call_at=None) -> None:
        """What the person answering decided on the call: applied when the call has ended."""
        if outcome not in self.DECIDED_ON_CALL:
            raise ValueError(f"{outcome} is not decided on a call")
        fields = ["outcome", "note", "updated_at"]
        if outcome == self.Outcome.CALL_LATER:
            if self.outcome != outcome:  # "Thursday… no, Friday" is one put-off
                self.later_asked += 1
            self.next_attempt_at = call_at
            fields += ["next_attempt_at", "later_asked"]
        self.outcome, self.note = outcome, note[:200]
        self.save(update_fields=fields)

    def settle(self, result: str, booked: bool, now) -> None:
        """The contact after its call ended with ``result`` (``agentworker.dial_out``):
        closed with an outcome, or waiting for its next attempt."""
        campaign = self.campaign
        if self.outcome == self.Outcome.DO_NOT_CALL:
            self.close(self.outcome, self.note)
        elif booked:
            self.close(self.Outcome.BOOKED)
        elif self.outcome == self.Outcome.CALL_LATER:
            self._wait(self.outcome, self.next_attempt_at)  # the time they asked for
        elif self.outcome in self.DECIDED_ON_CALL:
            self.close(self.outcome, self.note)
        elif result == "answered":
            self.close(self.Outcome.TALKED)
        elif self.attempts < campaign.max_attempts:
            later = now + timedelta(minutes=campaign.retry_after_minutes)
            self._wait(RETRIED.get(result, self.Outcome.FAILED), later)
        else:
            self.close(RETRIED.get(result, self.Outcome.FAILED))

    def close(self, outcome: str, note: str = "") -> None:
        self.state, self.outcome, self.note = self.State.DONE, outcome, note
        self.save(update_fields=["state", "outcome", "note", "updated_at"])

    def _wait(self, outcome: str, until) -> None:
        self.state, self.outcome, self.next_attempt_at = self.State.WAITING, outcome, until
        self.save(update_fields=["state", "outcome", "next_attempt_at", "updated_at"])


# Dial results (``agentworker.dial_out``) tried again while attempts remain.
RETRIED = {
    "busy": Contact.Outcome.BUSY,
    "no answer": Contact.Outcome.NO_ANSWER,
    "voicemail": Contact.Outcome.VOICEMAIL,
}


class Attempt(models.Model):
    """One dial of a contact, and the call's record it made."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="attempts_made")
    call = models.OneToOneField(Call, on_delete=models.PROTECT, related_name="campaign_attempt")
    number = models.PositiveSmallIntegerField()
    result = models.CharField(max_length=32, blank=True)  # as the dial ended; "" while on
    started_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["started_at"]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.contact}"


class DoNotCall(models.Model):
    """A number no campaign ever dials."""

    number = models.CharField(max_length=16, unique=True, validators=[validate_e164])
    reason = models.CharField(max_length=200, blank=True)
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "do-not-call number"

    def __str__(self) -> str:
        return self.number
