"""Every admin page answers 200 on the demo data: each model's list, the change page of its
first row and, where adding is allowed, its add form."""

from io import StringIO

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.urls import reverse

from appointments.models import Appointment


@pytest.fixture
def demo_data(private_var, settings):
    settings.MEDIA_ROOT = str(private_var / "media")
    call_command("seed_demo", "--no-input", verbosity=0, stdout=StringIO())


def admin_pages(request) -> list[str]:
    pages = []
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        name = f"admin:{meta.app_label}_{meta.model_name}"
        pages.append(reverse(f"{name}_changelist"))
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            pages.append(reverse(f"{name}_change", args=[first.pk]))
        if model_admin.has_add_permission(request):
            pages.append(reverse(f"{name}_add"))
    return pages


@pytest.mark.django_db
def test_every_admin_page_answers_200_with_the_demo_data(
    admin_client_logged_in, superuser, demo_data, rf
):
    assert Appointment.objects.filter(call__isnull=False).exists()  # the "Made by" column
    request = rf.get("/admin/")
    request.user = superuser
    failed = {}
    for url in admin_pages(request):
        status = admin_client_logged_in.get(url).status_code
        if status != 200:
            failed[url] = status
    assert failed == {}
