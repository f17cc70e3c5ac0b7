"""The service desk's appointment book: what the shop offers, when it is open, how much it
can take at once, and the appointments themselves. Times are stored in UTC; the shop's time
zone (``settings.SHOP_TIME_ZONE``) is how they are read and spoken."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q

# How far ahead a shop may open its book: bounds every slot search (a caller's "any time
# before the year 9999" walks at most this many days).
BOOKING_DAYS_AHEAD_MAX = 730


class Shop(models.Model):
    """The workshop's capacity: one row (``Shop.current()``), edited in the admin. Booking
    locks this row, so two calls can never both take the last place in a slot."""

    bays = models.PositiveSmallIntegerField(
        default=4, help_text="Lifts: a service that needs a lift takes one for its duration."
    )
    technicians = models.PositiveSmallIntegerField(
        default=4, help_text="Every service takes one technician for its duration."
    )
    loan_cars = models.PositiveSmallIntegerField(
        default=2, help_text="Loan cars for services that need one."
    )
    slot_minutes = models.PositiveSmallIntegerField(
        default=30,
        choices=[(15, "15 minutes"), (30, "30 minutes"), (60, "1 hour")],
        help_text="Appointments start on these steps from opening time.",
    )
    booking_days_ahead = models.PositiveSmallIntegerField(
        default=60,
        validators=[MaxValueValidator(BOOKING_DAYS_AHEAD_MAX)],
        help_text="How far ahead callers may book (at most two years).",
    )
    minimum_notice_minutes = models.PositiveSmallIntegerField(
        default=60, help_text="The earliest an appointment may start, from now."
    )

    class Meta:
        verbose_name = "shop capacity"
        verbose_name_plural = "shop capacity"

    def __str__(self) -> str:
        return f"{self.bays} bays, {self.technicians} technicians, {self.loan_cars} loan cars"

    @classmethod
    def current(cls) -> Shop:
        shop, _ = cls.objects.get_or_create(pk=1)
        return shop


class ServiceType(models.Model):
    name = models.CharField(max_length=80, unique=True)
    duration_minutes = models.PositiveSmallIntegerField(default=60)
    needs_lift = models.BooleanField(default=True)
    needs_loan_car = models.BooleanField(default=False)
    active = models.BooleanField(default=True, help_text="Offered to callers.")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(duration_minutes__gt=0), name="service_duration_positive"
            )
        ]

    def __str__(self) -> str:
        return self.name


class OpeningHours(models.Model):
    class Weekday(models.IntegerChoices):
        MONDAY = 0, "Monday"
        TUESDAY = 1, "Tuesday"
        WEDNESDAY = 2, "Wednesday"
        THURSDAY = 3, "Thursday"
        FRIDAY = 4, "Friday"
        SATURDAY = 5, "Saturday"
        SUNDAY = 6, "Sunday"

    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices, unique=True)
    opens = models.TimeField()
    closes = models.TimeField()

    class Meta:
        ordering = ["weekday"]
        verbose_name_plural = "opening hours"
        constraints = [
            models.CheckConstraint(condition=Q(closes__gt=models.F("opens")), name="opens_first")
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}-{self.closes:%H:%M}"


class ClosedDay(models.Model):
    date = models.DateField(unique=True)
    reason = models.CharField(max_length=120, blank=True)

    class Meta:
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d}{f' ({self.reason})' if self.reason else ''}"


# Letters and digits that cannot be misheard for one another when read out.
REFERENCE_ALPHABET = "ACDEFHJKMNPRTUVWXY34679"
REFERENCE_LENGTH = 6


def new_reference() -> str:
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


class AppointmentQuerySet(models.QuerySet):
    def active(self) -> AppointmentQuerySet:
        """Appointments that hold their place in the book."""
        return self.filter(status__in=Appointment.HOLDING)

    def overlapping(self, start, end) -> AppointmentQuerySet:
        return self.filter(start__lt=end, end__gt=start)


class Appointment(models.Model):
    class Status(models.TextChoices):
        BOOKED = "booked", "Booked"
        MOVED = "moved", "Moved"
        CANCELLED = "cancelled", "Cancelled"
        DONE = "done", "Done"
        NO_SHOW = "no_show", "No-show"

    HOLDING = (Status.BOOKED, Status.MOVED)

    reference = models.CharField(
        max_length=REFERENCE_LENGTH, unique=True, default=new_reference, editable=False
    )
    service = models.ForeignKey(ServiceType, on_delete=models.PROTECT, related_name="appointments")
    vehicle = models.ForeignKey(
        "vehicles.Vehicle", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="appointments",
    )  # fmt: skip
    customer_name = models.CharField(max_length=120)
    contact = models.CharField(max_length=120, help_text="Phone number or e-mail address.")
    start = models.DateTimeField()
    end = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.BOOKED)
    notes = models.TextField(blank=True)
    call = models.ForeignKey(
        "callcenter.Call", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="appointments", help_text="The call that made it.",
    )  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AppointmentQuerySet.as_manager()

    class Meta:
        ordering = ["start"]
        indexes = [models.Index(fields=["start", "end"], name="appointment_time")]
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=models.F("start")), name="ends_after_start")
        ]

    def __str__(self) -> str:
        return f"{self.reference}: {self.service} at {self.start:%Y-%m-%d %H:%M}"

    @property
    def holds_place(self) -> bool:
        return self.status in self.HOLDING


def shop_time_zone():
    from zoneinfo import ZoneInfo

    return ZoneInfo(settings.SHOP_TIME_ZONE)


# Whose phone numbers people see whole: staff holding this permission (the admin grants it);
# everyone else sees the last digits only (callers on the monitor and history, contacts in
# the book's API and in tool events).
VIEW_NUMBER_PERMISSION = "callcenter.view_caller_number"


def mask_number(number: str, shown: int = 3) -> str:
    """``+4915112345678`` as ``•••••••••••678``: only the last digits."""
    if len(number) <= shown:
        return number
    return "•" * (len(number) - shown) + number[-shown:]


def masked_if_phone(value):
    """A phone number (seven digits or more) masked but for its last digits; else as given
    (an e-mail address, a name)."""
    if isinstance(value, str) and sum(ch.isdigit() for ch in value) >= 7:
        return mask_number(value)
    return value
