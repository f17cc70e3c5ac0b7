from django.contrib import admin
from django.template.loader import render_to_string

from recordings.models import Recording


@admin.register(Recording)
class RecordingAdmin(admin.ModelAdmin):
    list_display = ["call", "source", "status", "format", "duration_seconds", "created_at"]
    list_filter = ["status", "source", "created_at"]
    search_fields = ["call__room_name", "egress_id", "call__id"]
    raw_id_fields = ["call"]
    readonly_fields = [
        "player",
        "created_at",
        "updated_at",
        "egress_id",
        "size_bytes",
        "duration_seconds",
    ]

    def has_add_permission(self, request) -> bool:
        # Recordings come from the calls (LiveKit egress or the worker), never from the admin.
        return False

    @admin.display(description="Listen")
    def player(self, obj: Recording) -> str:
        return render_to_string("recordings/player.html", {"recording": obj}) if obj.pk else "—"
