"""Appointments in the API: the book's own rules (appointments.booking) validate every
booking and every new time, exactly as they do for the agent's tools."""

from rest_framework import serializers

from appointments import booking
from appointments.models import (
    VIEW_NUMBER_PERMISSION,
    Appointment,
    ServiceType,
    masked_if_phone,
)


class ServiceTypeSerializer(serializers.ModelSerializer):
    class Meta:
        model = ServiceType
        fields = ["id", "name", "duration_minutes", "needs_lift", "needs_loan_car", "active"]


class AppointmentSerializer(serializers.ModelSerializer):
    service_name = serializers.CharField(source="service.name", read_only=True)

    class Meta:
        model = Appointment
        fields = [
            "id", "reference", "service", "service_name", "vehicle", "customer_name", "contact",
            "start", "end", "status", "notes", "call", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["reference", "end", "call", "created_at", "updated_at"]

    def to_representation(self, appointment):
        """The contact as the masking rule allows: whole only for staff who may see callers'
        numbers (the book's advisors get that permission to phone customers)."""
        shown = super().to_representation(appointment)
        request = self.context.get("request")
        if request is None or not request.user.has_perm(VIEW_NUMBER_PERMISSION):
            shown["contact"] = masked_if_phone(shown["contact"])
        return shown

    def validate_status(self, status: str) -> str:
        creating = self.instance is None
        if creating and status not in Appointment.HOLDING:
            raise serializers.ValidationError("A new appointment is booked; set its status later.")
        if status == Appointment.Status.MOVED:
            raise serializers.ValidationError("An appointment is moved by giving it a new start.")
        return status

    def validate(self, data):
        instance = self.instance
        if instance is not None:
            try:
                booking.check_edit(
                    instance,
                    status=data.get("status", instance.status),
                    service=data.get("service", instance.service),
                )
            except booking.BookingRefused as error:
                raise serializers.ValidationError(str(error)) from error
        return data

    def create(self, data):
        try:
            return booking.book(
                data["service"], data["start"], customer_name=data["customer_name"],
                contact=data["contact"],
                vehicle_id=data["vehicle"].pk if data.get("vehicle") else None,
                notes=data.get("notes", ""),
            )  # fmt: skip
        except booking.BookingRefused as error:
            raise _as_validation_error(error) from error

    def update(self, appointment, data):
        try:
            if "start" in data and data["start"] != appointment.start:
                appointment = booking.move(appointment, data.pop("start"))
            if data.get("status") == Appointment.Status.CANCELLED:
                appointment = booking.cancel(appointment)
                data.pop("status")
        except booking.BookingRefused as error:
            raise _as_validation_error(error) from error
        data.pop("start", None)
        return super().update(appointment, data)


def _as_validation_error(error: booking.BookingRefused) -> serializers.ValidationError:
    return serializers.ValidationError(
        {"start": [str(error)], "free_starts": [a.isoformat() for a in error.alternatives]}
    )


class CallAppointmentSerializer(serializers.ModelSerializer):
    """An appointment as a call's record shows it."""

    service_name = serializers.CharField(source="service.name", read_only=True)

    class Meta:
        model = Appointment
        fields = ["id", "reference", "service_name", "start", "end", "status"]
