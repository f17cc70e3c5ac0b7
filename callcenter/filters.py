"""Filters of the call history (the API and the pages share them)."""

from datetime import UTC

import django_filters
from django import forms
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


class CallFilter(django_filters.FilterSet):
    started_after = UTCDateTimeFilter(field_name="started_at", lookup_expr="gte")
    started_before = UTCDateTimeFilter(field_name="started_at", lookup_expr="lt")
    vin = VINFilter(field_name="vehicle__vin", label="Vehicle VIN")
    status = django_filters.ChoiceFilter(choices=Call.Status.choices)
    outcome = django_filters.ChoiceFilter(choices=Call.Outcome.choices)
    channel = django_filters.ChoiceFilter(choices=Call.Channel.choices)
    needs_human = django_filters.BooleanFilter()

    class Meta:
        model = Call
        fields = ["status", "outcome", "needs_human", "channel"]
