"""Vehicles over the API, validated by the model (and so by the VIN module)."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from vehicles.models import Vehicle


class VehicleSerializer(serializers.ModelSerializer):
    """A vehicle; the VIN may be typed with spaces or dashes and is stored canonical."""

    decoded = serializers.SerializerMethodField()
    warnings = serializers.SerializerMethodField(
        help_text="What the make or model year say against the VIN; saved all the same."
    )
    vin = serializers.CharField(max_length=64)

    class Meta:
        model = Vehicle
        fields = [
            "id", "vin", "make", "model", "year", "created_at", "updated_at", "decoded",
            "warnings",
        ]  # fmt: skip
        read_only_fields = ["created_at", "updated_at"]

    def get_decoded(self, vehicle: Vehicle) -> str:
        return vehicle.decoded.describe()

    def get_warnings(self, vehicle: Vehicle) -> list[str]:
        return vehicle.vin_disagreements()

    def validate(self, attrs):
        # Run the model's own validation (VIN module, year range, uniqueness) for its messages.
        instance = self.instance or Vehicle()
        for name, value in attrs.items():
            setattr(instance, name, value)
        try:
            instance.full_clean()
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.message_dict) from error
        return {name: getattr(instance, name) for name in attrs}
