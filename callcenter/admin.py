from django.contrib import admin

from callcenter.models import Call, CallEvent, TranscriptSegment


class HistoryInline(admin.TabularInline):
    """Transcripts and events are the record of what happened: shown, never edited."""

    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class TranscriptSegmentInline(HistoryInline):
    model = TranscriptSegment
    fields = ["sequence", "speaker", "text", "language", "interrupted", "started_at"]
    readonly_fields = fields


class CallEventInline(HistoryInline):
    model = CallEvent
    fields = ["sequence", "type", "payload", "created_at"]
    readonly_fields = fields


@admin.register(Call)
class CallAdmin(admin.ModelAdmin):
    list_display = [
        "room_name",
        "status",
        "channel",
        "caller",
        "vehicle",
        "started_at",
        "duration",
        "outcome",
        "needs_human",
    ]
    list_filter = ["status", "channel", "outcome", "needs_human", "started_at"]
    search_fields = ["room_name", "caller", "vehicle__vin", "summary", "id"]
    date_hierarchy = "started_at"
    list_select_related = ["vehicle"]
    raw_id_fields = ["vehicle"]
    readonly_fields = [
        "id",
        "room_name",
        "channel",
        "started_at",
        "answered_at",
        "ended_at",
        "metrics",
        "worker_job_id",
        "failure_reason",
    ]
    fieldsets = [
        (None, {"fields": ["id", "room_name", "status", "channel", "caller", "vehicle"]}),
        ("Times", {"fields": ["started_at", "answered_at", "ended_at"]}),
        ("Outcome", {"fields": ["outcome", "needs_human", "summary", "failure_reason"]}),
        ("Worker", {"fields": ["metrics", "worker_job_id"], "classes": ["collapse"]}),
    ]
    inlines = [TranscriptSegmentInline, CallEventInline]

    def has_add_permission(self, request) -> bool:
        # Calls start from the call page or the phone, never from the admin.
        return False
