"""The demo seeder fills an empty database once and is safe to run again."""

import shutil
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from appointments.models import Appointment
from callcenter.models import Call, CallEvent
from callcenter.permissions import is_supervisor
from recordings.models import Recording
from tests.services import IN_CI
from vehicles.models import Vehicle
from vehicles.vin import is_valid_vin


@pytest.mark.django_db
def test_seed_demo_is_idempotent_and_creates_valid_vehicles(monkeypatch, private_var, settings):
    settings.MEDIA_ROOT = str(private_var / "media")
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

    again = StringIO()
    call_command("seed_demo", "--no-input", verbosity=0, stdout=again)
    assert (Vehicle.objects.count(), Call.objects.count()) == (vehicles, calls)
    assert get_user_model().objects.filter(is_superuser=True).count() == 1
    # A second run reminds how to log in and how to set a new password.
    assert "Log in at /admin/ as 'admin'" in again.getvalue()
    assert "python manage.py changepassword supervisor" in again.getvalue()


@pytest.mark.django_db
def test_the_demo_is_two_weeks_of_calls_that_agree_with_their_vehicles(private_var, settings):
    settings.MEDIA_ROOT = str(private_var / "media")
    call_command("seed_demo", "--no-input", verbosity=0, stdout=StringIO())
    calls = Call.objects.all()
    days = {call.started_at.date() for call in calls}
    assert len(days) >= 14 and (timezone.now().date() - min(days)).days >= 14
    booked = Appointment.objects.filter(call__isnull=False).select_related("call", "vehicle")
    assert booked.exists() and all(a.vehicle == a.call.vehicle for a in booked)
    assert all(a.reference in a.call.segments.last().text for a in booked)
    outcomes = set(calls.values_list("outcome", flat=True))
    assert {"resolved", "vehicle_registered", "handed_off", "abandoned"} <= outcomes
    assert calls.filter(status=Call.Status.FAILED, answered_at__isnull=True).exists()
    assert CallEvent.objects.filter(type=CallEvent.Type.HANDOFF_REQUESTED).exists()
    answered = calls.filter(status=Call.Status.ENDED)
    assert all(call.summary and call.metrics.get("llm_ttft_ms_p50") for call in answered)
    lookups = CallEvent.objects.filter(
        type=CallEvent.Type.TOOL_CALL, payload__name="lookup_vehicle"
    )
    for event in lookups.select_related("call"):
        vehicle = event.call.vehicle
        assert event.payload["arguments"]["vin"] == vehicle.vin
        spoken = " ".join(event.call.segments.values_list("text", flat=True))
        assert vehicle.title in spoken and vehicle.title in event.call.summary


@pytest.mark.django_db
def test_the_demo_has_a_supervisor_who_can_watch_and_a_recording_that_plays(private_var, settings):
    if not shutil.which("espeak-ng"):
        message = "the demo recording needs espeak-ng (make test-tools installs it)"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    settings.MEDIA_ROOT = str(private_var / "media")
    out = StringIO()
    call_command("seed_demo", "--no-input", verbosity=0, stdout=out)
    supervisor = get_user_model().objects.get(username="supervisor")
    assert is_supervisor(supervisor)
    assert supervisor.groups.filter(name="Supervisors").exists()
    desk = Group.objects.get(name="Desk staff")
    assert desk.permissions.filter(codename="answer_handoffs").exists()
    password = (private_var / "supervisor_password").read_text().strip()
    assert password not in out.getvalue()
    client = Client()
    assert supervisor.check_password(password)
    client.force_login(supervisor)
    recording = Recording.objects.get()
    assert recording.call == Call.objects.order_by("-started_at").first()
    audio = client.get(f"/recordings/{recording.pk}/audio")
    assert audio.status_code == 200 and audio["Content-Type"] == "audio/wav"
    body = b"".join(audio.streaming_content)
    assert body[:4] == b"RIFF" and len(body) > 100_000  # seconds of speech, not silence
    page = client.get(f"/history/{recording.call_id}/").content.decode()
    assert f"/recordings/{recording.pk}/audio" in page


@pytest.mark.django_db
def test_a_made_up_admin_password_is_written_to_a_private_file_not_to_the_log(
    monkeypatch, tmp_path, private_var, settings
):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    out = StringIO()  # not a terminal, as under a process manager or in CI
    call_command("seed_demo", verbosity=0, stdout=out)
    password = (tmp_path / "var" / "admin_password").read_text().strip()
    assert get_user_model().objects.get(username="admin").check_password(password)
    assert password not in out.getvalue() and "var/admin_password" in out.getvalue()
    assert (tmp_path / "var" / "admin_password").stat().st_mode & 0o777 == 0o600


@pytest.mark.django_db
def test_seeding_into_a_log_draws_no_progress_bar(private_var, settings, capfd):
    settings.MEDIA_ROOT = str(private_var / "media")
    call_command("seed_demo", "--no-input", stdout=StringIO())
    assert "vehicles:" not in capfd.readouterr().err


@pytest.mark.django_db
def test_the_demo_book_looks_like_a_working_shops(private_var, settings):
    from appointments.calendar import local

    settings.MEDIA_ROOT = str(private_var / "media")
    call_command("seed_demo", "--no-input", verbosity=0, stdout=StringIO())
    book = list(Appointment.objects.all())
    today = local(timezone.now()).date()
    coming = [a for a in book if local(a.start).date() > today]
    assert len({local(a.start).date() for a in coming}) >= 4  # the coming days have bookings
    assert len({a.customer_name for a in book}) >= 4
    assert len({local(a.start).time() for a in book}) >= 4  # not all at 9:00
    assert len({a.service_id for a in book}) >= 3
    statuses = {a.status for a in book}
    assert {Appointment.Status.BOOKED, Appointment.Status.CANCELLED} <= statuses
