"""Campaigns in the admin: staff write a campaign, import its contacts from CSV, and start,
pause, resume or stop it (with the ``run_campaign`` permission); the do-not-call list."""

import csv
from functools import wraps

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.html import format_html

from appointments.models import VIEW_NUMBER_PERMISSION
from callcenter.history_views import spreadsheet_safe
from campaigns import results
from campaigns.contacts_csv import BadContacts, import_contacts
from campaigns.contacts_from_vehicles import (
    MAX_NAMES,
    MAX_VINS,
    VehicleFilter,
    add_contacts_from_vehicles,
    vins_given,
)
from campaigns.models import Attempt, Campaign, Contact, DoNotCall

MAX_UPLOAD = 10 * 1024 * 1024
# Contacts listed on the results page; the CSV export has them all.
RESULTS_SHOWN = 500


class ContactsFileForm(forms.Form):
    file = forms.FileField(help_text="CSV with the columns name, phone, consent_source, and "
                           "optionally time_zone and vin.")  # fmt: skip


def bad_filter_is_400(view):
    """A results view that answers a filter it cannot apply with a 400 and the sentence."""

    @wraps(view)
    def answer(admin_, request, *args, **kwargs):
        try:
            return view(admin_, request, *args, **kwargs)
        except results.BadFilter as error:
            return HttpResponse(str(error), status=400, content_type="text/plain")

    return answer


class VehicleChoiceForm(forms.Form):
    consent_source = forms.CharField(
        max_length=200, help_text="Where the consent to call these customers came from, e.g. "
        "“service contract, clause 7”: recorded on each contact.",
    )  # fmt: skip
    last_service_before = forms.DateField(
        required=False, help_text="Vehicles whose last service (an appointment done) was "
        "before this day, YYYY-MM-DD.",
    )  # fmt: skip
    vins = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 4}), label="VINs",
        help_text=f"A recall's VINs, one per line (at most {MAX_VINS}).",
    )  # fmt: skip
    vin_from = forms.CharField(required=False, max_length=17, label="VINs from")
    vin_to = forms.CharField(
        required=False, max_length=17, label="VINs to", help_text="A recall's range, inclusive."
    )
    makes = forms.CharField(required=False, help_text="Comma-separated, e.g. “Honda, Acura”.")
    models = forms.CharField(required=False, help_text="Comma-separated, e.g. “Accord”.")
    year_from = forms.IntegerField(required=False, min_value=1900, max_value=2100)
    year_to = forms.IntegerField(required=False, min_value=1900, max_value=2100)
    skip_booked = forms.BooleanField(
        required=False, initial=True, label="Skip vehicles with an appointment ahead"
    )

    def clean(self):
        data = super().clean()
        if len(vins_given(data.get("vins", ""))) > MAX_VINS:
            self.add_error("vins", f"At most {MAX_VINS} VINs at once.")
        for name in ("makes", "models"):
            if len(_listed(data.get(name, ""))) > MAX_NAMES:
                self.add_error(name, f"At most {MAX_NAMES} at once.")
        for name in ("vin_from", "vin_to"):
            data[name] = (data.get(name) or "").strip().upper()
        for first, last, what in [
            ("year_from", "year_to", "years"),
            ("vin_from", "vin_to", "VINs"),
        ]:
            if data.get(first) and data.get(last) and data[first] > data[last]:
                self.add_error(last, f"The {what} must end after they start.")
        return data

    def chosen(self) -> VehicleFilter:
        data = self.cleaned_data
        return VehicleFilter(
            last_service_before=data["last_service_before"], vins=vins_given(data["vins"]),
            vin_from=data["vin_from"], vin_to=data["vin_to"], makes=_listed(data["makes"]),
            models=_listed(data["models"]), year_from=data["year_from"],
            year_to=data["year_to"], skip_booked=data["skip_booked"],
        )  # fmt: skip


def _listed(text: str) -> tuple[str, ...]:
    """Comma-separated names, e.g. “Honda, Acura”."""
    return tuple(v.strip() for v in (text or "").split(",") if v.strip())


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
        return format_html(
            '{} · <a href="{}">Results</a> · <a href="{}">Import contacts from CSV</a> · '
            '<a href="{}">Add contacts from vehicles</a>',
            campaign.contacts.count(),
            reverse("admin:campaigns_campaign_results", args=[campaign.pk]),
            reverse("admin:campaigns_campaign_import", args=[campaign.pk]),
            reverse("admin:campaigns_campaign_from_vehicles", args=[campaign.pk]),
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
        def view(method):
            return self.admin_site.admin_view(method)

        return [
            path("<int:pk>/import/", view(self.import_contacts_view),
                 name="campaigns_campaign_import"),
            path("<int:pk>/from-vehicles/", view(self.from_vehicles_view),
                 name="campaigns_campaign_from_vehicles"),
            path("<int:pk>/results/", view(self.results_view), name="campaigns_campaign_results"),
            path("<int:pk>/results.csv", view(self.results_csv),
                 name="campaigns_campaign_results_csv"),
            *super().get_urls(),
        ]  # fmt: skip

    def _results_of(self, request, pk):
        """The campaign, the contacts its results' filters select and the filters applied, and
        whether the user sees numbers whole; ``BadFilter`` for a filter it cannot apply."""
        campaign = get_object_or_404(Campaign, pk=pk)
        if not self.has_view_permission(request, campaign):
            raise PermissionDenied
        contacts, applied = results.selected(campaign, request.GET)
        return campaign, contacts, applied, request.user.has_perm(VIEW_NUMBER_PERMISSION)

    @bad_filter_is_400
    def results_view(self, request, pk):
        """Progress and figures, and the contacts under the page's filters with their calls."""
        campaign, contacts, applied, show_numbers = self._results_of(request, pk)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Results of “{campaign}”",
            "campaign": campaign,
            "figures": results.figures(campaign),
            "rows": [(c, results.row(c, show_numbers)) for c in contacts[:RESULTS_SHOWN]],
            "shown": RESULTS_SHOWN,
            "filters": [
                (name, choices.choices, applied.get(name, ""))
                for name, choices in results.FILTERS.items()
            ],
            "query": request.GET.urlencode(),
            "opts": self.model._meta,
        }
        return render(request, "admin/campaigns/results.html", context)

    @bad_filter_is_400
    def results_csv(self, request, pk):
        """The contacts the results page shows, all of them, as CSV (the page's filters)."""
        campaign, contacts, _applied, show_numbers = self._results_of(request, pk)
        response = HttpResponse(content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.pk}.csv"'
        writer = csv.writer(response, quoting=csv.QUOTE_ALL)
        writer.writerow(results.HEADER)
        for contact in contacts.iterator(chunk_size=2000):
            writer.writerow(spreadsheet_safe(v) for v in results.row(contact, show_numbers))
        return response

    def _changed(self, request, pk) -> Campaign:
        campaign = get_object_or_404(Campaign, pk=pk)
        if not self.has_change_permission(request, campaign):
            raise PermissionDenied
        return campaign

    def _contacts_form(self, request, campaign, form, title, submit):
        context = {
            **self.admin_site.each_context(request),
            "title": f"{title} “{campaign}”",
            "form": form,
            "submit": submit,
            "campaign": campaign,
            "opts": self.model._meta,
        }
        return render(request, "admin/campaigns/add_contacts.html", context)

    def import_contacts_view(self, request, pk):
        campaign = self._changed(request, pk)
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
        return self._contacts_form(request, campaign, form, "Import contacts into", "Import")

    def from_vehicles_view(self, request, pk):
        """Contacts for the customers of the vehicles a filter chooses."""
        campaign = self._changed(request, pk)
        form = VehicleChoiceForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                added = add_contacts_from_vehicles(
                    campaign, form.chosen(), form.cleaned_data["consent_source"]
                )
            except BadContacts as error:
                form.add_error(None, f"{error} Nothing was added.")
            else:
                said = f"{added.contacts} contacts added."
                if added.no_phone:
                    said += (
                        f" {added.no_phone} vehicles skipped: no customer phone number in the "
                        f"appointment book ({', '.join(added.skipped_vins[:5])}…)."
                    )
                if added.already:
                    said += f" {added.already} numbers were in the campaign already."
                messages.success(request, said)
                return redirect("admin:campaigns_campaign_change", campaign.pk)
        return self._contacts_form(
            request, campaign, form, "Add contacts from vehicles to", "Add contacts"
        )


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
