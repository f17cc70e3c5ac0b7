"""Filters of the call history (the API and the pages share them)."""

import django_filters
from django import forms

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
            raise forms.ValidationError(str(error), code="invalid_vin") from error


class VINFilter(django_filters.CharFilter):
    field_class = VINFormField


class CallFilter(django_filters.FilterSet):
    started_after = django_filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="gte")
    started_before = django_filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="lt")
    vin = VINFilter(field_name="vehicle__vin", label="Vehicle VIN")
    status = django_filters.ChoiceFilter(choices=Call.Status.choices)
    outcome = django_filters.ChoiceFilter(choices=Call.Outcome.choices)
    channel = django_filters.ChoiceFilter(choices=Call.Channel.choices)
    needs_human = django_filters.BooleanFilter()

    class Meta:
        model = Call
        fields = ["status", "outcome", "needs_human", "channel"]
