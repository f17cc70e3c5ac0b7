from django.contrib import admin

from vehicles.models import Vehicle


@admin.register(Vehicle)
class VehicleAdmin(admin.ModelAdmin):
    list_display = ["vin", "year", "make", "model", "created_at", "created_by_call"]
    list_filter = ["make", "year", "created_at"]
    search_fields = ["vin", "make", "model"]
    readonly_fields = ["decoded_vin", "created_at", "updated_at", "created_by_call"]
    fields = ["vin", "decoded_vin", "make", "model", "year", "created_by_call"]
    list_select_related = ["created_by_call"]
    date_hierarchy = "created_at"

    @admin.display(description="What the VIN says")
    def decoded_vin(self, obj: Vehicle) -> str:
        return obj.decoded.describe() if obj.pk else "—"
