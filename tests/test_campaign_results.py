"""A campaign's results page and CSV export: the figures match its contacts' outcomes, the
export follows the page's filters, numbers are masked for those who may not see them, and a
bad filter is a 400 with a sentence."""

import csv
import io

import pytest
from django.contrib.auth.models import Permission

from callcenter.models import Call
from campaigns.models import Attempt, Campaign, Contact
from telephony.models import PhoneLine

pytestmark = pytest.mark.django_db

# (outcome, state, results of its attempts)
CONTACTS = [
    (Contact.Outcome.BOOKED, Contact.State.DONE, ["no answer", "answered"]),
    (Contact.Outcome.BOOKED, Contact.State.DONE, ["answered"]),
    (Contact.Outcome.TALKED, Contact.State.DONE, ["answered"]),
    (Contact.Outcome.DECLINED, Contact.State.DONE, ["answered"]),
    (Contact.Outcome.CALL_LATER, Contact.State.WAITING, ["answered"]),
    (Contact.Outcome.VOICEMAIL, Contact.State.DONE, ["voicemail", "voicemail", "voicemail"]),
    (Contact.Outcome.BUSY, Contact.State.WAITING, ["busy"]),
    (Contact.Outcome.DO_NOT_CALL, Contact.State.DONE, []),  # skipped: on the list
    ("", Contact.State.DIALLING, [""]),
    ("", Contact.State.WAITING, []),
]


@pytest.fixture
def campaign():
    line = PhoneLine.objects.create(number="+12125550100", name="Desk")
    made = Campaign.objects.create(
        name="Winter check", purpose=Campaign.Purpose.SERVICE_DUE, brief="Offer a check.",
        line=line, status=Campaign.Status.RUNNING,
    )  # fmt: skip
    for n, (outcome, state, dialled) in enumerate(CONTACTS):
        contact = Contact.objects.create(
            campaign=made, name=f"Customer {n}", phone=f"+1212555{n:04d}", outcome=outcome,
            state=state, attempts=len(dialled), consent_source="service contract",
        )  # fmt: skip
        for number, result in enumerate(dialled, start=1):
            call = Call.objects.create(channel=Call.Channel.PHONE, caller=contact.phone)
            Attempt.objects.create(contact=contact, call=call, number=number, result=result)
    return made


def test_the_figures_match_the_contacts_outcomes(admin_client, campaign):
    page = admin_client.get(f"/admin/campaigns/campaign/{campaign.pk}/results/")
    assert page.status_code == 200
    figures = page.context["figures"]
    assert (figures.contacts, figures.done, figures.on_call, figures.waiting) == (10, 6, 1, 3)
    # Reached: a person answered at least once (5); booked 2 of them: 40 %.
    assert (figures.reached, figures.booked, figures.conversion) == (5, 2, 40.0)
    assert figures.progress == 60.0
    assert figures.by_outcome["Booked"] == 2 and figures.by_outcome["Do not call"] == 1
    assert sum(figures.by_outcome.values()) == 8  # two have no outcome yet
    html = page.content.decode()
    assert "Conversion (booked of reached)</th><td>40.0 %" in html
    # Each call links to its record.
    first_call = campaign.contacts.get(name="Customer 0").attempts_made.first().call_id
    assert f'href="/history/{first_call}/"' in html


def test_the_export_follows_the_pages_filters(admin_client, campaign):
    url = f"/admin/campaigns/campaign/{campaign.pk}/results.csv"
    rows = list(csv.reader(io.StringIO(admin_client.get(url).content.decode())))
    assert rows[0][:4] == ["name", "phone", "state", "outcome"] and len(rows) == 11
    assert rows[1][1] == "'+12125550000"  # whole for those who may see numbers; never a formula
    booked = list(
        csv.reader(io.StringIO(admin_client.get(url + "?outcome=booked").content.decode()))
    )
    assert [r[0] for r in booked[1:]] == ["Customer 0", "Customer 1"]
    assert booked[1][6].count(" ") == 1 and booked[1][7] == "answered"  # two calls, the last
    waiting = admin_client.get(url + "?state=waiting&outcome=busy").content.decode()
    assert [r[0] for r in csv.reader(io.StringIO(waiting))][1:] == ["Customer 6"]
    page = admin_client.get(f"/admin/campaigns/campaign/{campaign.pk}/results/?outcome=booked")
    assert "results.csv?outcome=booked" in page.content.decode()
    assert len(page.context["rows"]) == 2


def test_a_bad_filter_is_a_sentence_not_a_500(admin_client, campaign):
    for url in ("results/", "results.csv"):
        answer = admin_client.get(f"/admin/campaigns/campaign/{campaign.pk}/{url}?outcome=<x>")
        assert answer.status_code == 400
        assert "is no outcome of a contact: give one of booked" in answer.content.decode()


def test_numbers_are_masked_for_staff_who_may_not_see_them(client, django_user_model, campaign):
    viewer = django_user_model.objects.create_user("viewer", is_staff=True)
    url = f"/admin/campaigns/campaign/{campaign.pk}/results.csv"
    client.force_login(viewer)
    assert client.get(url).status_code == 403  # not even allowed to view campaigns
    viewer.user_permissions.add(Permission.objects.get(codename="view_campaign"))
    client.force_login(django_user_model.objects.get(pk=viewer.pk))
    phones = [r[1] for r in csv.reader(io.StringIO(client.get(url).content.decode()))][1:]
    assert phones[0] == "•••••••••000" and not any("+1212" in p for p in phones)
