from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from callcenter.models import Call, CallEvent, TranscriptSegment, WebCallPage


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
    fields = ["sequence", "speaker", "speaker_name", "said", "language", "started_at"]
    readonly_fields = fields
    verbose_name_plural = "Transcript"

    @admin.display(description="Said")
    def said(self, segment: TranscriptSegment) -> str:
        """The words, marked only when the speaker was cut off."""
        return f"{segment.text} (interrupted)" if segment.interrupted else segment.text


class CallEventInline(HistoryInline):
    model = CallEvent
    fields = ["sequence", "type", "describe", "created_at"]
    readonly_fields = fields
    verbose_name_plural = "Events"

    @admin.display(description="What happened")
    def describe(self, event: CallEvent) -> str:
        return event.describe()


@admin.register(Call)
class CallAdmin(admin.ModelAdmin):
    list_display = [
        "room_display",
        "status",
        "channel",
        "caller_display",
        "vehicle",
        "started_at",
        "duration",
        "outcome",
        "needs_human",
    ]
    list_filter = ["status", "channel", "outcome", "needs_human", "flagged", "started_at"]
    search_fields = ["room_name", "caller", "vehicle__vin", "summary", "id"]
    date_hierarchy = "started_at"
    list_select_related = ["vehicle"]
    # The vehicle is chosen by searching vehicles (VIN, make, model), not by its id.
    autocomplete_fields = ["vehicle"]
    # A call's status, times and controller are changed by the system (the worker, LiveKit's
    # webhooks, the sweeper, supervisors' actions: Call's named changes), never by hand.
    readonly_fields = [
        "id",
        "history",
        "room_name",
        "status",
        "channel",
        "started_at",
        "answered_at",
        "ended_at",
        "controller",
        "metrics",
        "worker_job_id",
        "worker_host",
        "media_node",
        "failure_reason",
        "dialled_number",
        "caller_display",
        "room_display",
        "recording_consent",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "id",
                    "history",
                    "room_name",
                    "status",
                    "channel",
                    "caller",
                    "dialled_number",
                    "vehicle",
                ]
            },
        ),
        ("Times", {"fields": ["started_at", "answered_at", "ended_at"]}),
        (
            "Outcome",
            {
                "fields": [
                    "outcome",
                    "needs_human",
                    "summary",
                    "failure_reason",
                    "recording_consent",
                ]
            },
        ),
        (
            "Worker",
            {
                "fields": ["controller", "metrics", "worker_job_id", "worker_host", "media_node"],
                "classes": ["collapse"],
            },
        ),
    ]
    inlines = [TranscriptSegmentInline, CallEventInline]

    def has_add_permission(self, request) -> bool:
        # Calls start from the call page or the phone, never from the admin.
        return False

    @staticmethod
    def _sees_numbers(request) -> bool:
        return request.user.has_perm("callcenter.view_caller_number")

    def get_fieldsets(self, request, obj=None):
        """A phone caller's full number only for staff with ``view_caller_number``."""
        if self._sees_numbers(request):
            return self.fieldsets
        return [
            (name, {**options, "fields": [
                {"caller": "caller_display", "room_name": "room_display"}.get(field, field)
                for field in options["fields"]
            ]})
            for name, options in self.fieldsets
        ]  # fmt: skip

    def get_list_display(self, request):
        fields = super().get_list_display(request)
        if not self._sees_numbers(request):
            return fields
        whole = {"caller_display": "caller", "room_display": "room_name"}
        return [whole.get(field, field) for field in fields]

    @admin.display(description="Caller")
    def caller_display(self, call: Call) -> str:
        return call.caller_shown

    @admin.display(description="Room name")
    def room_display(self, call: Call) -> str:
        return call.room_shown

    @admin.display(description="History page")
    def history(self, call: Call) -> str:
        """The call as supervisors read it: transcript with timings, recording, metrics."""
        if not call.pk:
            return "—"
        return format_html(
            '<a href="{}">Open the call\'s record</a>', reverse("history-call", args=[call.pk])
        )


@admin.register(WebCallPage)
class WebCallPageAdmin(admin.ModelAdmin):
    """The web call page's one row of settings: changed, never added twice or deleted."""

    list_display = ["__str__", "recording_policy", "greeting"]

    def has_add_permission(self, request) -> bool:
        return not WebCallPage.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
