"""Staff manage the book through the API (the same rules as the agent), the admin and the book
page; supervisors see a call's appointments in its record, the API and the dashboard."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from playwright.sync_api import expect

from appointments import booking
from appointments.models import Appointment, ServiceType
from callcenter.models import Call
from tests.support.workshop import at, next_weekday, open_workshop


@pytest.fixture
def workshop(db, settings):
    open_workshop(settings, technicians=1, bays=1)
    return SimpleNamespace(
        oil=ServiceType.objects.create(name="Oil change", duration_minutes=60),
        tyres=ServiceType.objects.create(name="Tyre change", duration_minutes=30),
        tuesday=next_weekday(1),
    )


@pytest.fixture
def clerk(django_user_model):
    """Service-desk staff who keep the book: the appointment permissions, not the monitor."""
    user = django_user_model.objects.create_user("clerk", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="appointments"))
    return user


def api_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_staff_book_move_and_cancel_through_the_api_with_the_books_rules(workshop, clerk):
    api = api_client(clerk)
    start = at(workshop.tuesday, 8).isoformat()
    made = api.post(
        "/api/appointments/",
        {"service": workshop.oil.pk, "start": start, "customer_name": "Ana", "contact": "555"},
        content_type="application/json",
    )
    assert made.status_code == 201, made.content
    body = made.json()
    assert len(body["reference"]) == 6 and body["status"] == "booked"
    assert body["end"].startswith(at(workshop.tuesday, 9).astimezone().date().isoformat())
    full = api.post(
        "/api/appointments/",
        {"service": workshop.oil.pk, "start": start, "customer_name": "Ben", "contact": "556"},
        content_type="application/json",
    )
    assert full.status_code == 400
    assert "has just been taken" in full.json()["start"][0]
    assert full.json()["free_starts"][0] == at(workshop.tuesday, 9).isoformat()
    closed_day = api.post(
        "/api/appointments/",
        {"service": workshop.oil.pk, "start": at(next_weekday(6), 9).isoformat(),
         "customer_name": "Cy", "contact": "557"},
        content_type="application/json",
    )  # fmt: skip
    assert closed_day.status_code == 400 and "closed on Sundays" in closed_day.json()["start"][0]
    url = f"/api/appointments/{body['id']}/"
    moved = api.patch(
        url, {"start": at(workshop.tuesday, 10).isoformat()}, content_type="application/json"
    )
    assert moved.status_code == 200 and moved.json()["status"] == "moved"
    cancelled = api.patch(url, {"status": "cancelled"}, content_type="application/json")
    assert cancelled.json()["status"] == "cancelled"
    assert api.delete(url).status_code == 405  # cancelled ones stay on record
    assert Appointment.objects.count() == 1
    # A released place is not taken back by reopening: someone may hold it now.
    api.post(
        "/api/appointments/",
        {"service": workshop.oil.pk, "start": at(workshop.tuesday, 10).isoformat(),
         "customer_name": "Di", "contact": "558"},
        content_type="application/json",
    )  # fmt: skip
    reopened = api.patch(url, {"status": "booked"}, content_type="application/json")
    assert reopened.status_code == 400 and "Book a new appointment" in str(reopened.json())
    other = api.patch(url, {"service": workshop.tyres.pk}, content_type="application/json")
    assert other.status_code == 400 and "another service" in str(other.json())
    assert Appointment.objects.get(pk=body["id"]).status == "cancelled"


def test_the_appointment_api_is_for_staff_with_the_permission(workshop, django_user_model):
    visitor = Client()
    assert visitor.get("/api/appointments/").status_code in (401, 403)
    customer = django_user_model.objects.create_user("customer")
    assert api_client(customer).get("/api/appointments/").status_code == 403
    bare_staff = django_user_model.objects.create_user("bare", is_staff=True)
    assert api_client(bare_staff).get("/api/appointments/").status_code == 403
    schema = api_client(django_user_model.objects.create_superuser("root")).get(
        "/api/schema/", HTTP_ACCEPT="application/json"
    )
    assert "/api/appointments/" in schema.json()["paths"]


def test_a_calls_appointments_show_in_its_record_the_api_and_the_dashboard(workshop, staff_client):
    call = Call.objects.create(status=Call.Status.ENDED, caller="web:booker")
    appointment = booking.book(
        workshop.oil, at(workshop.tuesday, 8), customer_name="Ana", contact="555",
        call_id=call.pk,
    )  # fmt: skip
    record = staff_client.get(f"/history/{call.pk}/").content.decode()
    assert f"reference {appointment.reference}" in record and "at 08:00" in record
    detail = staff_client.get(f"/api/calls/{call.pk}/").json()
    assert detail["appointments"][0]["reference"] == appointment.reference
    dashboard = staff_client.get("/dashboard/").content.decode()
    assert '<span class="kpi-value">1</span><span class="muted">resolved by a booking' in dashboard


def test_the_admin_books_through_the_same_rules(workshop, admin_client_logged_in):
    booking.book(workshop.oil, at(workshop.tuesday, 8), customer_name="Ana", contact="555")
    form = {
        "service": workshop.oil.pk, "start_0": workshop.tuesday.isoformat(), "start_1": "08:00",
        "customer_name": "Ben", "contact": "556", "status": "booked", "notes": "",
    }  # fmt: skip
    refused = admin_client_logged_in.post("/admin/appointments/appointment/add/", form)
    assert refused.status_code == 200
    assert "has just been taken" in refused.content.decode()
    form["start_1"] = "09:00"
    added = admin_client_logged_in.post("/admin/appointments/appointment/add/", form)
    assert added.status_code == 302, added.content.decode()[-2000:]
    ben = Appointment.objects.filter(customer_name="Ben").get()
    assert ben.start == at(workshop.tuesday, 9)
    # Cancelled in the admin, then set back to booked: refused, the place may be taken.
    change = f"/admin/appointments/appointment/{ben.pk}/change/"
    admin_client_logged_in.post(change, {**form, "status": "cancelled"})
    ben.refresh_from_db()
    assert ben.status == "cancelled"
    reopened = admin_client_logged_in.post(change, {**form, "status": "booked"})
    assert reopened.status_code == 200 and "Book a new appointment" in reopened.content.decode()
    ben.refresh_from_db()
    assert ben.status == "cancelled"


def test_the_book_page_is_for_staff_with_the_permission_and_says_a_bad_day(
    workshop, clerk, django_user_model
):
    assert Client().get("/appointments/").status_code == 302  # to the login
    bare_staff = django_user_model.objects.create_user("bare", is_staff=True)
    refused = api_client(bare_staff).get("/appointments/")
    assert (
        refused.status_code == 403 and "appointments.view_appointment" in refused.content.decode()
    )
    bad = api_client(clerk).get("/appointments/", {"day": "next week"})
    assert bad.status_code == 400 and "is not a day" in bad.content.decode()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_staff_read_the_book_by_day_and_week_and_filter_by_service(
    workshop, clerk, page, live_server
):
    booking.book(workshop.oil, at(workshop.tuesday, 8), customer_name="Ana Silva", contact="1")
    booking.book(workshop.tyres, at(workshop.tuesday, 9), customer_name="Ben Ode", contact="2")
    wednesday = workshop.tuesday + timedelta(days=1)
    booking.book(workshop.oil, at(wednesday, 10), customer_name="Cy Ng", contact="3")
    session = api_client(clerk).cookies["sessionid"].value
    page.context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])
    page.goto(f"{live_server.url}/appointments/?day={workshop.tuesday.isoformat()}")
    day = page.locator(".book-day")
    expect(day).to_have_count(1)
    expect(day.locator(".appointment")).to_have_count(2)
    expect(day.locator(".appointment").first).to_contain_text("08:00\u201309:00")
    expect(day.locator(".appointment").first).to_contain_text("Oil change · Ana Silva")
    page.get_by_label("Show", exact=True).select_option("week")
    page.get_by_label("Service", exact=True).select_option(label="Oil change")
    page.get_by_role("button", name="Show").click()
    expect(page.locator(".book-day")).to_have_count(7)
    expect(page.locator(".appointment")).to_have_count(2)  # Ana's oil change and Cy's
    expect(page.get_by_text("Ben Ode")).to_have_count(0)
    page.get_by_role("link", name="Next week").click()
    expect(page.locator(".appointment")).to_have_count(0)
    assert page.console_errors == []


def test_the_api_shows_a_customers_number_only_to_who_may_see_callers_numbers(workshop, clerk):
    booking.book(
        workshop.oil, at(workshop.tuesday, 8), customer_name="Ana Silva",
        contact="+49 151 5550100",
    )  # fmt: skip
    booking.book(
        workshop.tyres, at(workshop.tuesday, 10), customer_name="Ben Ode",
        contact="ben@example.com",
    )  # fmt: skip

    def contacts() -> list[str]:
        listed = api_client(clerk).get("/api/appointments/").json()["results"]
        return sorted(row["contact"] for row in listed)

    shown = contacts()
    assert "ben@example.com" in shown  # not a number: as given
    (number,) = [c for c in shown if c != "ben@example.com"]
    assert number.endswith("100") and "5550100" not in number
    clerk.user_permissions.add(Permission.objects.get(codename="view_caller_number"))
    clerk = type(clerk).objects.get(pk=clerk.pk)  # permissions are cached per user object
    assert contacts() == ["+49 151 5550100", "ben@example.com"]
