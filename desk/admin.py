"""The desk in the admin: who is there, and the record of every handoff. Both are changed by
the desk itself (its pages and the routing), so the admin shows them and changes nothing but
a person's availability."""

from django.contrib import admin

from desk.models import DeskPerson, Handoff, HandoffOffer


@admin.register(DeskPerson)
class DeskPersonAdmin(admin.ModelAdmin):
    list_display = ["user", "available", "handoff", "seen_at", "idle_since"]
    list_filter = ["available"]
    fields = ["user", "available", "handoff", "seen_at", "idle_since"]
    readonly_fields = ["user", "handoff", "seen_at", "idle_since"]

    def has_add_permission(self, request) -> bool:
        return False  # a person is added when they first open the desk page


class HandoffOfferInline(admin.TabularInline):
    model = HandoffOffer
    fields = ["person", "offered_at", "answer", "answered_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Handoff)
class HandoffAdmin(admin.ModelAdmin):
    list_display = ["call", "status", "reason", "requested_at", "accepted_by", "accepted_at"]
    list_filter = ["status", "requested_at"]
    fields = [
        "call", "status", "reason", "brief", "requested_at", "offered_to",
        "offer_expires_at", "accepted_by", "accepted_at", "finished_at",
    ]  # fmt: skip
    readonly_fields = fields
    inlines = [HandoffOfferInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
