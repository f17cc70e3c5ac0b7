"""The campaigns' dialler against the real livekit-server (its agent dispatch) and PostgreSQL's
row locks: pacing, the calling window in the contact's own zone, the do-not-call list, two
diallers at once, and the rules for trying again."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from appointments.models import Appointment, ServiceType
from callcenter.job_request import JobKind, JobRequest
from callcenter.models import Call, CallEvent
from campaigns import dialler
from campaigns.contacts_csv import BadContacts, import_contacts
from campaigns.models import Attempt, Campaign, Contact, DoNotCall
from telephony.models import PhoneLine

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def livekit(e2e_stack, settings):
    """LiveKit's dispatch API for real; an agent name no worker serves, so the dispatched
    jobs wait and no call is dialled: these tests are about who the dialler calls, and when."""
    settings.LIVEKIT_URL = e2e_stack.livekit_url
    settings.LIVEKIT_API_KEY = e2e_stack.api_key
    settings.LIVEKIT_API_SECRET = e2e_stack.api_secret
    settings.LIVEKIT_AGENT_NAME = "campaign-dialler-test"


def campaign(contacts: int = 10, **fields) -> Campaign:
    line = PhoneLine.objects.get_or_create(number="+12125550100", defaults={"name": "Desk"})[0]
    made = Campaign.objects.create(
        name="Winter service", purpose=Campaign.Purpose.SERVICE_DUE, brief="Offer a check.",
        line=line, status=Campaign.Status.RUNNING, **fields,
    )  # fmt: skip
    Contact.objects.bulk_create(
        Contact(
            campaign=made, name=f"Customer {n}", phone=f"+1212555{n:04d}",
            time_zone="America/New_York", consent_source="service contract",
        )
        for n in range(contacts)
    )  # fmt: skip
    return made


def at_new_york(hour: int, minute: int) -> datetime:
    return datetime(2026, 12, 7, hour, minute, tzinfo=NEW_YORK)


def dialled(made: Campaign) -> list[str]:
    return list(
        Attempt.objects.filter(contact__campaign=made).values_list("contact__phone", flat=True)
    )


def test_a_campaign_never_has_more_calls_at_once_or_a_minute_than_it_allows(livekit):
    at_once = campaign(max_concurrent_calls=3, calls_per_minute=100)
    per_minute = campaign(max_concurrent_calls=50, calls_per_minute=4)
    now = at_new_york(10, 0)
    for _ in range(3):
        dialler.place_due_calls(now)
    assert len(dialled(at_once)) == 3
    assert len(dialled(per_minute)) == 4
    # A minute on, four more may start; the three still on their calls keep the others out.
    dialler.place_due_calls(now + timedelta(seconds=61))
    assert (len(dialled(at_once)), len(dialled(per_minute))) == (3, 8)
    call = Call.objects.get(pk=Attempt.objects.filter(contact__campaign=at_once).first().call_id)
    request = JobRequest.campaign_call(call)
    assert (request.kind, request.dials_out, call.dialled_number) == (
        JobKind.CAMPAIGN_CALL, True, "+12125550100",
    )  # fmt: skip


def test_contacts_are_called_only_within_the_window_of_their_own_time_zone(livekit):
    made = campaign(contacts=2)
    Contact.objects.filter(phone="+12125550001").update(time_zone="Europe/Berlin")
    # 20:59 in New York is 02:59 in Berlin: only the New York contact is called.
    dialler.place_due_calls(at_new_york(20, 59))
    assert dialled(made) == ["+12125550000"]
    berlin = Contact.objects.get(phone="+12125550001")
    assert berlin.state == Contact.State.WAITING
    assert berlin.next_attempt_at == at_new_york(20, 59) + dialler.WINDOW_RECHECK
    # 21:01 in New York: nobody there is called.
    later = campaign(contacts=1)
    dialler.place_due_calls(at_new_york(21, 1))
    assert dialled(later) == []


def test_a_number_on_the_do_not_call_list_is_never_dialled_and_the_skip_is_recorded(livekit):
    made = campaign(contacts=2)
    DoNotCall.objects.create(number="+12125550001", reason="asked on an earlier call")
    dialler.place_due_calls(at_new_york(10, 0))
    dialler.place_due_calls(at_new_york(12, 0))
    assert dialled(made) == ["+12125550000"]
    skipped = Contact.objects.get(phone="+12125550001")
    assert (skipped.state, skipped.outcome, skipped.note) == (
        Contact.State.DONE, Contact.Outcome.DO_NOT_CALL, dialler.SKIPPED,
    )  # fmt: skip


def test_two_diallers_at_once_never_dial_a_contact_twice_nor_beyond_the_pacing(livekit):
    campaigns = [campaign(contacts=15, max_concurrent_calls=6, calls_per_minute=6)]
    campaigns.append(campaign(contacts=0, max_concurrent_calls=6, calls_per_minute=6))
    Contact.objects.bulk_create(
        Contact(campaign=campaigns[1], name="B", phone=f"+1313555{n:04d}",
                time_zone="America/New_York", consent_source="form")
        for n in range(15)
    )  # fmt: skip
    start = threading.Barrier(2)

    def one_dialler():
        try:
            start.wait()
            for _ in range(4):
                dialler.place_due_calls(at_new_york(10, 0))
        finally:
            connection.close()

    with ThreadPoolExecutor(2) as diallers:
        for running in [diallers.submit(one_dialler) for _ in range(2)]:
            running.result()
    for made in campaigns:
        numbers = dialled(made)
        assert len(numbers) == len(set(numbers)) == 6
    assert all(c.attempts <= 1 for c in Contact.objects.all())


def ended_attempt(made: Campaign, phone: str, result: str, attempts: int = 1) -> Attempt:
    contact = Contact.objects.get(campaign=made, phone=phone)
    contact.state, contact.attempts = Contact.State.DIALLING, attempts
    contact.save()
    call = Call.objects.create(channel=Call.Channel.PHONE, caller=phone, status=Call.Status.ENDED)
    CallEvent.objects.create(call=call, sequence=1, type=CallEvent.Type.CALLBACK,
                             payload={"result": result})  # fmt: skip
    return Attempt.objects.create(contact=contact, call=call, number=attempts)


def test_busy_no_answer_and_voicemail_are_tried_again_until_the_attempts_run_out():
    made = campaign(contacts=5, max_attempts=3, retry_after_minutes=60)
    now = at_new_york(10, 0)
    ended_attempt(made, "+12125550000", "busy")
    ended_attempt(made, "+12125550001", "voicemail", attempts=3)
    booked = ended_attempt(made, "+12125550002", "answered")
    Appointment.objects.create(
        call=booked.call, service=ServiceType.objects.create(name="Winter check"),
        start=now, end=now + timedelta(hours=1), customer_name="Customer 2", contact="+1",
    )  # fmt: skip
    ended_attempt(made, "+12125550003", "answered")
    ended_attempt(made, "+12125550004", "no answer", attempts=2)
    assert dialler.settle_ended_calls(now) == 5
    assert dialler.settle_ended_calls(now) == 0  # each settled once
    state = {c.phone[-1]: (c.state, c.outcome) for c in made.contacts.all()}
    assert state == {
        "0": (Contact.State.WAITING, Contact.Outcome.BUSY),
        "1": (Contact.State.DONE, Contact.Outcome.VOICEMAIL),
        "2": (Contact.State.DONE, Contact.Outcome.BOOKED),
        "3": (Contact.State.DONE, Contact.Outcome.TALKED),
        "4": (Contact.State.WAITING, Contact.Outcome.NO_ANSWER),
    }
    assert made.contacts.get(phone="+12125550000").next_attempt_at == now + timedelta(hours=1)


def test_a_bad_csv_is_refused_whole_with_the_row_named():
    made = campaign(contacts=0)
    good = b"name,phone,consent_source\nAna,+12125550100,form\nBo,+12125550101,contract\n"
    bad = good + b"Cy,0172 1234,form\n"
    with pytest.raises(BadContacts, match="Row 4: phone: Give the number in international form"):
        import_contacts(made, bad)
    assert made.contacts.count() == 0
    with pytest.raises(BadContacts, match="missing: consent_source"):
        import_contacts(made, b"name,phone\nAna,+12125550100\n")
    assert import_contacts(made, good) == 2
    with pytest.raises(BadContacts, match="Already in this campaign"):
        import_contacts(made, good)
