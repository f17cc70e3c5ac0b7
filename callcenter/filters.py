"""Filters of the call history (the API and the pages share them)."""

from datetime import UTC

import django_filters
from django import forms
from django.db import models
from django_filters.fields import IsoDateTimeField

from callcenter.models import Call
from vehicles.vin import InvalidVIN, normalize_vin


class VINFormField(forms.CharField):
    """A VIN typed any way; refused with the VIN module's sentence."""

    def clean(self, value):
        value = super().clean(value)
        if not value:
            return value
        try:
            return normalize_vin(value)
        except InvalidVIN as error:
            # The sentence may quote the input; a % in it must not read as a format directive.
            raise forms.ValidationError(
                "%(sentence)s", code="invalid_vin", params={"sentence": str(error)}
            ) from error


class VINFilter(django_filters.CharFilter):
    field_class = VINFormField


class UTCDateTimeFormField(IsoDateTimeField):
    """An ISO 8601 date-time, handed to the database in UTC (any offset a client sends)."""

    def clean(self, value):
        value = super().clean(value)
        if value is None:
            return value
        try:
            return value.astimezone(UTC)
        except (OverflowError, ValueError) as error:
            raise forms.ValidationError("That date-time is out of range.") from error


class UTCDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UTCDateTimeFormField


# A date the history page's picker sends (2026-11-29: midnight in TIME_ZONE), or an ISO 8601
# date-time with its offset as API clients send; anything else is refused with the formats.
DATE_HINT = "Enter a date as YYYY-MM-DD (or a date-time as 2026-11-29T14:30:00Z)."


def date_filter(lookup: str, label: str) -> UTCDateTimeFilter:
    return UTCDateTimeFilter(
        field_name="started_at",
        lookup_expr=lookup,
        label=label,
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": DATE_HINT},
    )


class AnyYesNo(forms.NullBooleanSelect):
    """Yes / No / Any, rather than Django's Unknown."""

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.choices = (("unknown", "Any"), ("true", "Yes"), ("false", "No"))


def choice_filter(choices, label: str) -> django_filters.ChoiceFilter:
    return django_filters.ChoiceFilter(choices=choices, label=label, empty_label="Any")


# The post-call review's flags, as supervisors work through them.
FLAGGED = {
    "yes": ("Flagged", models.Q(flagged=True)),
    "open": ("Flagged, not yet reviewed", models.Q(flagged=True, flag_reviewed_at__isnull=True)),
    "reviewed": ("Flagged and reviewed", models.Q(flagged=True, flag_reviewed_at__isnull=False)),
    "no": ("Not flagged", models.Q(flagged=False)),
}


class CallFilter(django_filters.FilterSet):
    started_after = date_filter("gte", "Started after")
    started_before = date_filter("lt", "Started before")
    vin = VINFilter(field_name="vehicle__vin", label="Vehicle VIN")
    status = choice_filter(Call.Status.choices, "Status")
    outcome = choice_filter(Call.Outcome.choices, "Outcome")
    channel = choice_filter(Call.Channel.choices, "Channel")
    needs_human = django_filters.BooleanFilter(label="Asked for a person", widget=AnyYesNo)
    flagged = django_filters.ChoiceFilter(
        choices=[(key, label) for key, (label, _) in FLAGGED.items()],
        label="Flagged",
        empty_label="Any",
        method="filter_flagged",
    )

    class Meta:
        model = Call
        fields = [
            "started_after", "started_before", "status", "outcome", "channel", "needs_human",
            "flagged", "vin",
        ]  # fmt: skip

    def filter_flagged(self, calls, name, value):
        return calls.filter(FLAGGED[value][1]) if value else calls
