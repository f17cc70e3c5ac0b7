from django import forms
from django.contrib import admin

from vehicles.models import Vehicle
from vehicles.vin import disagreements


class VehicleForm(forms.ModelForm):
    """A make or model year that contradicts the VIN is shown as a warning the user confirms;
    never saved unseen, never refused (the decoding tables are not complete)."""

    confirm_disagreement = forms.BooleanField(
        required=False,
        label="Save anyway",
        help_text="The make or model year differs from what the VIN says; tick to keep them.",
    )

    class Meta:
        model = Vehicle
        fields = ["vin", "make", "model", "year"]

    def clean(self):
        data = super().clean()
        if self.errors or data.get("confirm_disagreement"):
            return data
        found = disagreements(data.get("vin") or "", data.get("make") or "", data.get("year"))
        if found:
            raise forms.ValidationError([*found, "Correct it, or tick “Save anyway”."])
        return data


@admin.register(Vehicle)
class VehicleAdmin(admin.ModelAdmin):
    form = VehicleForm
    list_display = ["vin", "year", "make", "model", "created_at", "created_by_call"]
    list_filter = ["make", "year", "created_at"]
    search_fields = ["vin", "make", "model"]
    readonly_fields = ["decoded_vin", "created_at", "updated_at", "created_by_call"]
    fields = [
        "vin", "decoded_vin", "make", "model", "year", "confirm_disagreement", "created_by_call",
    ]  # fmt: skip
    list_select_related = ["created_by_call"]
    date_hierarchy = "created_at"

    @admin.display(description="What the VIN says")
    def decoded_vin(self, obj: Vehicle) -> str:
        return obj.decoded.describe() if obj.pk else "—"
