"""The demo seeder fills an empty database once and is safe to run again."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from callcenter.models import Call
from vehicles.models import Vehicle
from vehicles.vin import is_valid_vin


@pytest.mark.django_db
def test_seed_demo_is_idempotent_and_creates_valid_vehicles(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "demo pass 123")
    out = StringIO()
    call_command("seed_demo", "--no-input", verbosity=0, stdout=out)
    vehicles, calls = Vehicle.objects.count(), Call.objects.count()
    assert vehicles >= 20
    assert calls >= 2
    assert all(is_valid_vin(vin) for vin in Vehicle.objects.values_list("vin", flat=True))
    admin = get_user_model().objects.get(username="admin")
    assert admin.check_password("demo pass 123")
    assert "demo pass 123" not in out.getvalue()

    call_command("seed_demo", "--no-input", verbosity=0, stdout=StringIO())
    assert (Vehicle.objects.count(), Call.objects.count()) == (vehicles, calls)
    assert get_user_model().objects.filter(is_superuser=True).count() == 1


@pytest.mark.django_db
def test_a_made_up_admin_password_is_written_to_a_private_file_not_to_the_log(
    monkeypatch, tmp_path
):
    from callcenter.management.commands import seed_demo

    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    monkeypatch.setattr(seed_demo, "ADMIN_PASSWORD_FILE", tmp_path / "var" / "admin_password")
    monkeypatch.setattr(seed_demo.settings, "BASE_DIR", tmp_path)
    out = StringIO()  # not a terminal, as under a process manager or in CI
    call_command("seed_demo", verbosity=0, stdout=out)
    password = (tmp_path / "var" / "admin_password").read_text().strip()
    assert get_user_model().objects.get(username="admin").check_password(password)
    assert password not in out.getvalue() and "var/admin_password" in out.getvalue()
    assert (tmp_path / "var" / "admin_password").stat().st_mode & 0o777 == 0o600
