"""Staff manage the appointment book: service types, opening hours, closed days, capacity,
and the appointments (changed through appointments.booking, so the admin keeps the same
rules as the agent and the API)."""

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from appointments import booking
from appointments.models import (
    Appointment,
    ClosedDay,
    OpeningHours,
    ServiceType,
    Shop,
    shop_time_zone,
)


@admin.register(Shop)
class ShopAdmin(admin.ModelAdmin):
    list_display = ["__str__", "slot_minutes", "booking_days_ahead", "minimum_notice_minutes"]

    def has_add_permission(self, request) -> bool:
        return not Shop.objects.exists()  # one row: the shop

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ServiceType)
class ServiceTypeAdmin(admin.ModelAdmin):
    list_display = ["name", "duration_minutes", "needs_lift", "needs_loan_car", "active"]
    list_editable = ["active"]


@admin.register(OpeningHours)
class OpeningHoursAdmin(admin.ModelAdmin):
    list_display = ["weekday", "opens", "closes"]


@admin.register(ClosedDay)
class ClosedDayAdmin(admin.ModelAdmin):
    list_display = ["date", "reason"]
    date_hierarchy = "date"


class AppointmentForm(forms.ModelForm):
    """New appointments and new times go through the book's rules (capacity, hours, closed
    days); a refusal is a form error with the reason and the nearest free times."""

    class Meta:
        model = Appointment
        fields = ["service", "start", "customer_name", "contact", "vehicle", "notes", "status"]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        instance = self.instance
        changes_time = instance.pk is None or "start" in self.changed_data
        try:
            if instance.pk is not None:
                booking.check_edit(instance, status=data["status"], service=data["service"])
            if changes_time and data.get("status") in Appointment.HOLDING:
                if instance.pk is None:
                    self.booked = booking.book(
                        data["service"], data["start"], customer_name=data["customer_name"],
                        contact=data["contact"],
                        vehicle_id=data["vehicle"].pk if data.get("vehicle") else None,
                        notes=data.get("notes", ""),
                    )  # fmt: skip
                else:
                    self.booked = booking.move(instance, data["start"])
        except booking.BookingRefused as error:
            nearest = ", ".join(f"{a:%Y-%m-%d %H:%M}" for a in error.alternatives)
            raise forms.ValidationError(
                f"{error}{f' Free: {nearest}.' if nearest else ''}"
            ) from error
        return data


@admin.register(Appointment)
class AppointmentAdmin(admin.ModelAdmin):
    form = AppointmentForm
    list_display = [
        "reference",
        "start",
        "service",
        "customer_name",
        "vehicle",
        "status",
        "made_by",
    ]
    list_filter = ["status", "service", "start"]
    search_fields = ["reference", "customer_name", "contact", "vehicle__vin"]
    date_hierarchy = "start"
    autocomplete_fields = ["vehicle"]
    readonly_fields = ["reference", "end", "made_by", "created_at", "updated_at"]
    list_select_related = ["service", "vehicle", "call"]

    def get_readonly_fields(self, request, obj=None):
        # A new appointment's reference is drawn when it is booked: the add form would show a
        # made-up one (the field's default) that the booking never gets.
        fields = super().get_readonly_fields(request, obj)
        return fields if obj is not None else [f for f in fields if f != "reference"]

    # Staff read and type appointment times in the shop's time zone, as callers hear them.
    def changeform_view(self, request, *args, **kwargs):
        with timezone.override(shop_time_zone()):
            return super().changeform_view(request, *args, **kwargs)

    def changelist_view(self, request, *args, **kwargs):
        with timezone.override(shop_time_zone()):
            return super().changelist_view(request, *args, **kwargs)

    @admin.display(description="Made by")
    def made_by(self, appointment: Appointment) -> str:
        if not appointment.call_id:
            return "Staff"
        url = reverse("history-call", args=[appointment.call_id])
        # format_html turns every argument into text first: format the time before it does.
        started = timezone.localtime(appointment.call.started_at)
        return format_html('<a href="{}">the call of {}</a>', url, f"{started:%Y-%m-%d %H:%M}")

    def save_model(self, request, obj, form, change):
        booked = getattr(form, "booked", None)
        if booked is None:
            super().save_model(request, obj, form, change)
            return
        # The booking stored the row (under the shop's lock); keep the form's other fields.
        obj.pk, obj.reference, obj.start, obj.end = (
            booked.pk,
            booked.reference,
            booked.start,
            booked.end,
        )
        obj.status, obj.created_at = booked.status, booked.created_at
        super().save_model(request, obj, form, True)
