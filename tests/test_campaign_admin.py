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
