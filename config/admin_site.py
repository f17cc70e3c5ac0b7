"""The project's admin site: the service desk's name, calls and vehicles first, and "View
site" leading supervisors to the live monitor rather than the customers' call page."""

from django.conf import settings
from django.contrib import admin
from django.shortcuts import redirect
from django.urls import reverse

from callcenter.permissions import is_supervisor

# The apps staff use most come first on the admin index; the rest keep Django's order.
FIRST_APPS = ("callcenter", "vehicles", "recordings")


class ServiceDeskAdminSite(admin.AdminSite):
    @property
    def site_header(self) -> str:
        return settings.SERVICE_DESK_NAME

    @property
    def site_title(self) -> str:
        return f"{settings.SERVICE_DESK_NAME} admin"

    def each_context(self, request):
        context = super().each_context(request)
        if is_supervisor(request.user):
            context["site_url"] = reverse("monitor")
        return context

    def login(self, request, extra_context=None):
        """Supervisors land on the monitor after logging in, unless ``next`` names a page."""
        response = super().login(request, extra_context)
        asked_for = request.POST.get("next") or request.GET.get("next")
        if (
            request.method == "POST"
            and response.status_code == 302
            and not asked_for
            and is_supervisor(request.user)
        ):
            return redirect("monitor")
        return response

    def get_app_list(self, request, app_label=None):
        apps = super().get_app_list(request, app_label)

        def rank(app: dict) -> int:
            label = app["app_label"]
            return FIRST_APPS.index(label) if label in FIRST_APPS else len(FIRST_APPS)

        return sorted(apps, key=rank)  # stable: the rest keep Django's order
