"""Campaigns in the admin: contacts imported from CSV all or nothing, and only staff allowed
to run campaigns start one."""

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile

from campaigns.models import Campaign
from telephony.models import PhoneLine

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign():
    # Provisioned with an outbound trunk: the line can call out.
    line = PhoneLine.objects.create(
        number="+12125550100", name="Desk", outbound_trunk_id="ST_outbound"
    )
    return Campaign.objects.create(
        name="Recall 2026", purpose=Campaign.Purpose.RECALL, brief="Book the recall fix.",
        line=line,
    )  # fmt: skip


def test_contacts_import_from_csv_whole_or_not_at_all(admin_client, campaign):
    url = f"/admin/campaigns/campaign/{campaign.pk}/import/"
    bad = b"name,phone,consent_source\nAna,+12125550101,form\nBo,,form\n"
    page = admin_client.post(url, {"file": SimpleUploadedFile("c.csv", bad)})
    assert page.status_code == 200
    assert "Row 3: phone: This field cannot be blank." in page.content.decode()
    assert "Nothing was imported." in page.content.decode()
    assert campaign.contacts.count() == 0
    good = b"name,phone,consent_source,time_zone\nAna,+12125550101,form,America/Chicago\n"
    done = admin_client.post(url, {"file": SimpleUploadedFile("c.csv", good)})
    assert done.status_code == 302
    (contact,) = campaign.contacts.all()
    assert (contact.name, contact.time_zone) == ("Ana", "America/Chicago")


def test_only_staff_who_may_run_campaigns_start_one(client, django_user_model, campaign):
    writer = django_user_model.objects.create_user("writer", password="pw", is_staff=True)
    writer.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="campaigns",
                                   codename__in=["view_campaign", "change_campaign"])
    )  # fmt: skip
    client.force_login(writer)
    start = {"action": "start", "_selected_action": [campaign.pk]}
    client.post("/admin/campaigns/campaign/", start)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    writer.user_permissions.add(Permission.objects.get(codename="run_campaign"))
    writer = django_user_model.objects.get(pk=writer.pk)  # permissions read afresh
    client.force_login(writer)
    client.post("/admin/campaigns/campaign/", start)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING


def test_a_campaign_whose_line_cannot_call_out_is_not_started(admin_client, campaign):
    campaign.line.outbound_trunk_id = ""
    campaign.line.save()
    answer = admin_client.post(
        "/admin/campaigns/campaign/",
        {"action": "start", "_selected_action": [campaign.pk]},
        follow=True,
    )
    assert "was not started: its line +12125550100 cannot call out" in answer.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


def vehicle_with_customer(vin, make, model, year, *, serviced=None, contact="", ahead=False):
    """A vehicle on file, its customer known from the book when ``contact`` is given: a
    service done on ``serviced`` (a date), and one booked ahead when ``ahead``."""
    from datetime import datetime, timedelta

    from django.utils import timezone

    from appointments.models import Appointment, ServiceType
    from vehicles.models import Vehicle

    vehicle = Vehicle.objects.create(vin=vin, make=make, model=model, year=year)
    service = ServiceType.objects.get_or_create(name="Inspection")[0]
    if serviced:
        start = timezone.make_aware(datetime.combine(serviced, datetime.min.time()))
        Appointment.objects.create(
            vehicle=vehicle, service=service, customer_name=f"Owner of {model}",
            contact=contact, start=start, end=start + timedelta(hours=1),
            status=Appointment.Status.DONE,
        )  # fmt: skip
    if ahead:
        start = timezone.now() + timedelta(days=3)
        Appointment.objects.create(
            vehicle=vehicle, service=service, customer_name=f"Owner of {model}",
            contact=contact, start=start, end=start + timedelta(hours=1),
        )  # fmt: skip
    return vehicle


def test_contacts_are_chosen_from_vehicles_by_last_service_vins_makes_and_years(
    admin_client, campaign
):
    from datetime import date

    old = date(2025, 1, 10)
    vehicle_with_customer("1HGCM82633A004352", "Honda", "Accord", 2003, serviced=old,
                          contact="(212) 555-0111")  # fmt: skip
    vehicle_with_customer("2HGES16575H591234", "Honda", "Civic", 2005, serviced=old,
                          contact="ana@example.com")  # no phone: skipped  # fmt: skip
    vehicle_with_customer("1FTFW1ET5DFC10312", "Ford", "F-150", 2013, serviced=old,
                          contact="+1 212 555 0113")  # fmt: skip
    vehicle_with_customer("5YJSA1E26HF000337", "Tesla", "Model S", 2017,
                          serviced=date(2026, 10, 1), contact="+12125550114")  # recent  # fmt: skip
    vehicle_with_customer("1HGCM82633A004360", "Honda", "Accord", 2003, serviced=old,
                          contact="+12125550115", ahead=True)  # booked ahead  # fmt: skip
    url = f"/admin/campaigns/campaign/{campaign.pk}/from-vehicles/"
    done = admin_client.post(
        url, {"consent_source": "service contract", "last_service_before": "2026-01-01",
              "makes": "honda, Ford", "skip_booked": "on"}, follow=True,
    )  # fmt: skip
    said = " ".join(str(m) for m in done.context["messages"])
    assert "2 contacts added. 1 vehicles skipped: no customer phone number" in said
    assert "2HGES16575H591234" in said
    contacts = {c.phone: c for c in campaign.contacts.select_related("vehicle")}
    assert set(contacts) == {"+12125550111", "+12125550113"}  # in international form
    accord = contacts["+12125550111"]
    assert (accord.name, accord.vehicle.vin, accord.consent_source) == (
        "Owner of Accord", "1HGCM82633A004352", "service contract",
    )  # fmt: skip
    # A recall's VIN range and years; the numbers the campaign has are not added twice.
    again = admin_client.post(
        url, {"consent_source": "recall letter", "vin_from": "1HGCM82633A004352",
              "vin_to": "1HGCM82633A004399", "year_from": "2003", "year_to": "2003"},
        follow=True,
    )  # fmt: skip
    said = " ".join(str(m) for m in again.context["messages"])
    assert "1 contacts added." in said and "1 numbers were in the campaign already" in said
    assert campaign.contacts.filter(phone="+12125550115").exists()  # skip_booked left off


def test_a_vehicle_choice_without_criteria_or_with_bad_ones_adds_nothing(admin_client, campaign):
    url = f"/admin/campaigns/campaign/{campaign.pk}/from-vehicles/"
    for data, said in [
        ({"consent_source": "form"}, "give at least one of the criteria. Nothing was added."),
        ({"consent_source": "form", "year_from": "2010", "year_to": "2001"},
         "The years must end after they start."),
        ({"consent_source": "form", "last_service_before": "soon"}, "Enter a valid date."),
        ({"makes": "Honda"}, "This field is required."),
        ({"consent_source": "form", "makes": ",".join(f"M{n}" for n in range(51))},
         "At most 50 at once."),
        ({"consent_source": "form", "vin_from": "zzz", "vin_to": "AAA"},
         "The VINs must end after they start."),
    ]:  # fmt: skip
        page = admin_client.post(url, data)
        assert page.status_code == 200 and said in page.content.decode(), said
    assert campaign.contacts.count() == 0
