"""Staff edit vehicles in the admin and read calls there, with the VIN module's messages."""

import pytest
from django.contrib.auth.models import Permission

from callcenter.models import Call, CallEvent, TranscriptSegment
from recordings.models import Recording
from vehicles.models import Vehicle

ACCORD_VIN = "1HGCM82633A004352"


@pytest.mark.django_db
def test_adding_a_vehicle_normalises_the_typed_vin(admin_client_logged_in):
    response = admin_client_logged_in.post(
        "/admin/vehicles/vehicle/add/",
        {"vin": "1hgcm8-2633a-004352", "make": "Honda", "model": "Accord", "year": "2003"},
    )
    assert response.status_code == 302
    assert Vehicle.objects.get().vin == ACCORD_VIN


@pytest.mark.django_db
def test_a_bad_vin_is_refused_with_a_readable_reason_and_nothing_is_saved(
    admin_client_logged_in,
):
    response = admin_client_logged_in.post(
        "/admin/vehicles/vehicle/add/",
        {"vin": "1HGCM82633AOO4352", "make": "Honda", "model": "Accord", "year": "2003"},
    )
    assert response.status_code == 200
    assert "never contains the letter O" in response.content.decode()
    assert not Vehicle.objects.exists()


@pytest.mark.django_db
def test_vehicles_are_searchable_by_vin_make_and_model(admin_client_logged_in):
    Vehicle.objects.create(vin=ACCORD_VIN, make="Honda", model="Accord", year=2003)
    for term, found in (("004352", True), ("honda", True), ("accord", True), ("tesla", False)):
        response = admin_client_logged_in.get("/admin/vehicles/vehicle/", {"q": term})
        assert response.status_code == 200
        assert (ACCORD_VIN in response.content.decode()) is found, term


@pytest.mark.django_db
def test_a_call_shows_its_transcript_and_events_read_only(admin_client_logged_in):
    call = Call.objects.create(caller="web:test")
    TranscriptSegment.objects.create(call=call, sequence=1, speaker="customer", text="My VIN is")
    CallEvent.objects.create(
        call=call, sequence=2, type=CallEvent.Type.HANDOFF_REQUESTED, payload={"reason": "x"}
    )
    response = admin_client_logged_in.get(f"/admin/callcenter/call/{call.pk}/change/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "My VIN is" in body
    assert "Handoff requested" in body
    # History is shown as text, not as form fields that could be edited.
    assert 'name="segments-0-text"' not in body
    assert admin_client_logged_in.get("/admin/callcenter/call/add/").status_code == 403


@pytest.mark.django_db
def test_every_model_has_an_admin_changelist(admin_client_logged_in):
    call = Call.objects.create()
    Recording.objects.create(call=call, source=Recording.Source.EGRESS)
    for url in (
        "/admin/vehicles/vehicle/",
        "/admin/callcenter/call/",
        "/admin/recordings/recording/",
    ):
        assert admin_client_logged_in.get(url).status_code == 200, url


@pytest.mark.django_db
def test_the_admin_is_closed_to_non_staff(client, customer_user):
    client.force_login(customer_user)
    response = client.get("/admin/vehicles/vehicle/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.django_db
def test_a_calls_status_and_times_are_the_systems_and_the_record_is_linked(
    admin_client_logged_in,
):
    call = Call.objects.create(caller="web:admin", status=Call.Status.ACTIVE)
    TranscriptSegment.objects.create(call=call, sequence=1, speaker="customer", text="Hello")
    TranscriptSegment.objects.create(
        call=call, sequence=2, speaker="agent", text="Welcome", interrupted=True
    )
    page = admin_client_logged_in.get(f"/admin/callcenter/call/{call.pk}/change/")
    body = page.content.decode()
    assert 'name="status"' not in body  # shown, not a field
    assert f'href="/history/{call.pk}/"' in body
    assert "Welcome (interrupted)" in body and "Hello (interrupted)" not in body
    # The vehicle is picked by searching, not by typing an id.
    assert "admin-autocomplete" in body
    vehicle = Vehicle.objects.create(vin=ACCORD_VIN, make="Honda", model="Accord", year=2003)
    form = {"caller": "web:admin", "vehicle": vehicle.pk, "outcome": "", "summary": ""}
    inlines = {"segments-TOTAL_FORMS": "0", "segments-INITIAL_FORMS": "2",
               "events-TOTAL_FORMS": "0", "events-INITIAL_FORMS": "0"}  # fmt: skip
    saved = admin_client_logged_in.post(
        f"/admin/callcenter/call/{call.pk}/change/",
        {**form, **inlines, "status": Call.Status.ENDED},  # a status posted anyway
    )
    assert saved.status_code == 302, saved.content.decode()[:2000]
    call.refresh_from_db()
    assert (call.vehicle, call.status) == (vehicle, Call.Status.ACTIVE)


@pytest.mark.django_db
def test_recordings_are_not_added_by_hand(admin_client_logged_in):
    assert admin_client_logged_in.get("/admin/recordings/recording/add/").status_code == 403


@pytest.mark.django_db
def test_supervisors_reach_the_monitor_and_history_from_the_admin_and_other_staff_do_not(
    client, staff_user, django_user_model
):
    client.force_login(staff_user)
    page = client.get("/admin/").content.decode()
    for link in ("/monitor/", "/history/", "/dashboard/"):
        assert f'href="{link}"' in page, link
    assert 'href="/appointments/"' not in page  # no permission on the book
    staff_user.user_permissions.add(Permission.objects.get(codename="view_appointment"))
    assert 'href="/appointments/"' in client.get("/admin/").content.decode()
    clerk = django_user_model.objects.create_user("clerk", is_staff=True)
    client.force_login(clerk)
    page = client.get("/admin/").content.decode()
    assert 'href="/monitor/"' not in page and 'href="/history/"' not in page
    assert "View site" in page  # the admin's own links stay


@pytest.mark.django_db
def test_a_supervisor_logging_in_at_the_admin_lands_on_the_monitor_unless_next_says(
    client, staff_user, superuser
):
    login = {"username": "supervisor", "password": "correct horse battery"}
    assert client.post("/admin/login/", login)["Location"] == "/monitor/"
    client.logout()
    asked = client.post("/admin/login/?next=/admin/vehicles/vehicle/", {
        **login, "next": "/admin/vehicles/vehicle/"})  # fmt: skip
    assert asked["Location"] == "/admin/vehicles/vehicle/"
    client.logout()
    staff = {"username": "root", "password": "root pass 123"}  # a superuser is a supervisor too
    assert client.post("/admin/login/", staff)["Location"] == "/monitor/"


@pytest.mark.django_db
def test_the_appointment_add_form_previews_no_reference(admin_client_logged_in):
    page = admin_client_logged_in.get("/admin/appointments/appointment/add/").content.decode()
    assert "Reference" not in page


def test_the_admin_index_lists_calls_and_vehicles_first_under_the_desks_name(
    admin_client_logged_in, settings
):
    settings.SERVICE_DESK_NAME = "Northside Motors service desk"
    page = admin_client_logged_in.get("/admin/").content.decode()
    assert "Northside Motors service desk" in page
    order = [page.index(f'href="/admin/{app}/"') for app in ("callcenter", "vehicles", "auth")]
    assert order == sorted(order), "calls and vehicles come before users and groups"


def test_view_site_is_the_monitor_for_supervisors_and_the_call_page_for_other_staff(
    client, staff_user, django_user_model
):
    from django.contrib import admin
    from django.test import RequestFactory

    from config.admin_site import ServiceDeskAdminSite

    assert isinstance(admin.site, ServiceDeskAdminSite)
    request = RequestFactory().get("/admin/")
    request.user = staff_user
    assert admin.site.each_context(request)["site_url"] == "/monitor/"
    request.user = django_user_model.objects.create_user("clerk2", is_staff=True)
    assert admin.site.each_context(request)["site_url"] == "/"


@pytest.mark.django_db
def test_the_vehicle_forms_vin_decoder_says_what_the_vin_says_and_what_contradicts_it(
    admin_client_logged_in, client, django_user_model
):
    url = "/admin/vehicles/vehicle/decode-vin/"
    form = admin_client_logged_in.get("/admin/vehicles/vehicle/add/").content.decode()
    assert f'data-decode-url="{url}"' in form and "vehicles/admin/vin_decode.js" in form
    agrees = admin_client_logged_in.get(url, {"vin": "1hgcm82633a004352", "make": "Honda"})
    assert agrees.json()["says"] == "2003 Honda (United States)"
    assert agrees.json()["warnings"] == []
    clash = admin_client_logged_in.get(
        url, {"vin": ACCORD_VIN, "make": "Toyota", "year": "2010"}
    ).json()["warnings"]
    assert clash == [
        "The VIN says the maker is Honda, not Toyota.",
        "The VIN says the model year is 2003 (2003 or 2033), not 2010.",
    ]
    bad = admin_client_logged_in.get(url, {"vin": "1HGCM82633AOO4352", "year": "soon"})
    assert bad.status_code == 400 and "O" in bad.json()["error"]
    # Staff who may not edit vehicles are refused; visitors are sent to the login.
    reader = django_user_model.objects.create_user("reader", is_staff=True)
    client.force_login(reader)
    assert client.get(url, {"vin": ACCORD_VIN}).status_code == 403
