"""Campaigns in the admin: staff write a campaign, import its contacts from CSV, and start,
pause, resume or stop it (with the ``run_campaign`` permission); the do-not-call list."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.html import format_html

from campaigns.contacts_csv import BadContacts, import_contacts
from campaigns.models import Attempt, Campaign, Contact, DoNotCall

MAX_UPLOAD = 10 * 1024 * 1024


class ContactsFileForm(forms.Form):
    file = forms.FileField(help_text="CSV with the columns name, phone, consent_source, and "
                           "optionally time_zone and vin.")  # fmt: skip


def _change_status(request, queryset, status, allowed_from, said):
    if not request.user.has_perm("campaigns.run_campaign"):
        raise PermissionDenied
    if status == Campaign.Status.RUNNING:
        # Every dial of such a campaign would fail: said now, not after its attempts ran out.
        mute = queryset.filter(line__outbound_trunk_id="")
        for campaign in mute:
            messages.error(
                request,
                f"“{campaign}” was not started: its line {campaign.line.number} cannot call "
                "out. Add the provider's outbound address to the phone line first.",
            )
        queryset = queryset.exclude(pk__in=mute.values("pk"))
    changed = queryset.filter(status__in=allowed_from).update(status=status)
    messages.info(request, f"{changed} campaign(s) {said}.")


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "purpose", "line", "status", "created_at"]
    list_filter = ["status", "purpose"]
    readonly_fields = ["status", "contacts", "created_at", "created_by"]
    actions = ["start", "pause", "resume", "stop"]

    @admin.display(description="Contacts")
    def contacts(self, campaign):
        if campaign.pk is None:
            return "Save the campaign first, then import its contacts."
        url = reverse("admin:campaigns_campaign_import", args=[campaign.pk])
        return format_html(
            '{} · <a href="{}">Import contacts from CSV</a>', campaign.contacts.count(), url
        )

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.action(description="Start the selected campaigns", permissions=["run"])
    def start(self, request, queryset):
        _change_status(request, queryset, Campaign.Status.RUNNING, [Campaign.Status.DRAFT],
                       "started")  # fmt: skip

    @admin.action(description="Pause the selected campaigns", permissions=["run"])
    def pause(self, request, queryset):
        _change_status(request, queryset, Campaign.Status.PAUSED, [Campaign.Status.RUNNING],
                       "paused")  # fmt: skip

    @admin.action(description="Resume the selected campaigns", permissions=["run"])
    def resume(self, request, queryset):
        _change_status(request, queryset, Campaign.Status.RUNNING, [Campaign.Status.PAUSED],
                       "resumed")  # fmt: skip

    @admin.action(description="Stop the selected campaigns for good", permissions=["run"])
    def stop(self, request, queryset):
        running = [Campaign.Status.DRAFT, Campaign.Status.RUNNING, Campaign.Status.PAUSED]
        _change_status(request, queryset, Campaign.Status.STOPPED, running, "stopped")

    def has_run_permission(self, request):
        return request.user.has_perm("campaigns.run_campaign")

    def get_urls(self):
        import_view = self.admin_site.admin_view(self.import_contacts_view)
        return [
            path("<int:pk>/import/", import_view, name="campaigns_campaign_import"),
            *super().get_urls(),
        ]

    def import_contacts_view(self, request, pk):
        campaign = get_object_or_404(Campaign, pk=pk)
        if not self.has_change_permission(request, campaign):
            raise PermissionDenied
        form = ContactsFileForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            if upload.size > MAX_UPLOAD:
                form.add_error("file", "The file is larger than 10 MB: split it.")
            else:
                try:
                    added = import_contacts(campaign, upload.read())
                except BadContacts as error:
                    form.add_error("file", f"{error} Nothing was imported.")
                else:
                    messages.success(request, f"{added} contacts imported.")
                    return redirect("admin:campaigns_campaign_change", campaign.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Import contacts into “{campaign}”",
            "form": form,
            "campaign": campaign,
            "opts": self.model._meta,
        }
        return render(request, "admin/campaigns/import_contacts.html", context)


class AttemptInline(admin.TabularInline):
    model = Attempt
    extra = 0
    fields = ["number", "started_at", "result", "call"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["name", "phone", "campaign", "state", "outcome", "attempts", "next_attempt_at"]
    list_filter = ["campaign", "state", "outcome"]
    search_fields = ["name", "phone"]
    readonly_fields = ["state", "outcome", "note", "attempts", "next_attempt_at"]
    autocomplete_fields = ["vehicle"]
    inlines = [AttemptInline]


@admin.register(DoNotCall)
class DoNotCallAdmin(admin.ModelAdmin):
    list_display = ["number", "reason", "added_at"]
    search_fields = ["number"]
