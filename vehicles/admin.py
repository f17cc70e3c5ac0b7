from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, JsonResponse
from django.urls import path, reverse

from vehicles.models import Vehicle
from vehicles.vin import InvalidVIN, decode_vin, disagreements


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

    class Media:
        # Decodes the VIN as it is typed and flags a make or year that contradicts it.
        js = ["vehicles/admin/vin_decode.js"]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # A refused save has put the refused VIN on ``obj``: the heading and the breadcrumb
        # name the vehicle as it is stored.
        if (
            obj is not None
            and obj.pk
            and context.get("adminform")
            and context["adminform"].form.errors
        ):
            stored = Vehicle.objects.get(pk=obj.pk)
            context.update(original=stored, subtitle=str(stored))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        form.base_fields["vin"].widget.attrs["data-decode-url"] = reverse(
            "admin:vehicles_vehicle_decode_vin"
        )
        return form

    def get_urls(self):
        decode = path(
            "decode-vin/",
            self.admin_site.admin_view(self.decode_vin_view),
            name="vehicles_vehicle_decode_vin",
        )
        return [decode, *super().get_urls()]

    def decode_vin_view(self, request: HttpRequest) -> JsonResponse:
        """What a VIN typed in the form says (maker, model year, country) and what the typed
        make and year say against it; 400 with the reason for something that is no VIN."""
        if not (self.has_add_permission(request) or self.has_change_permission(request)):
            raise PermissionDenied
        try:
            info = decode_vin(request.GET.get("vin", ""))
        except InvalidVIN as error:
            return JsonResponse({"error": str(error)}, status=400)
        try:
            year = int(request.GET.get("year") or 0) or None
        except ValueError:
            year = None
        make = request.GET.get("make", "")[:100]
        return JsonResponse(
            {
                "vin": info.vin,
                "says": info.describe(),
                "manufacturer": info.manufacturer,
                "model_year": info.model_year,
                "country": info.country or info.region,
                "warnings": disagreements(info.vin, make, year),
            }
        )
