"""A callback dials only where it should, once: one callback per call and never a callback's
callback, only numbers with an allowed prefix (by default the line's own country) and never
premium-rate or shared-cost ones, within a rate per number and per supervisor, and only
through lines that say which provider addresses may send them calls. Each refusal is a 400
with a sentence (API) and nothing is dialled."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from callcenter.models import Call
from telephony.models import PhoneLine

pytestmark = pytest.mark.django_db

LINE = "+4930123456"
CALLER = "+4915112345678"


@pytest.fixture
def line(db):
    return PhoneLine.objects.create(
        number=LINE, name="Desk", outbound_address="sip.example.com:5060",
        allowed_addresses="192.0.2.10", outbound_trunk_id="ST_test",
    )  # fmt: skip


@pytest.fixture
def supervisor(client, django_user_model):
    user = django_user_model.objects.create_user("sup", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="monitor_calls"))
    client.force_login(user)
    client.user = user
    return client


def failed_call(caller: str = CALLER, **fields) -> Call:
    return Call.objects.create(
        channel=Call.Channel.PHONE, caller=caller, dialled_number=LINE,
        status=Call.Status.FAILED, failure_reason=Call.NEVER_ANSWERED, **fields,
    )  # fmt: skip


def refusal(supervisor, call: Call) -> str:
    answer = supervisor.post(f"/api/calls/{call.pk}/callback/")
    assert answer.status_code == 400, answer.content
    return answer.json()["detail"]


def callback_of(original: Call, *, by=None, hours_ago: float = 0) -> Call:
    """A callback that was dialled (as one the desk made earlier)."""
    callback = Call.objects.create(
        channel=Call.Channel.PHONE, caller=original.caller, dialled_number=LINE,
        callback_of=original, callback_requested_by=by, status=Call.Status.ENDED,
    )  # fmt: skip
    Call.objects.filter(pk=callback.pk).update(
        started_at=timezone.now() - timedelta(hours=hours_ago)
    )
    return callback


def test_a_call_is_called_back_once(line, supervisor):
    original = failed_call()
    callback_of(original)
    assert refusal(supervisor, original).startswith("This call was called back already")
    assert original.callbacks.count() == 1


def test_a_callback_is_never_called_back(line, supervisor):
    failed_callback = failed_call(callback_of=failed_call())
    assert "A callback is not called back again" in refusal(supervisor, failed_callback)


@pytest.mark.parametrize(
    ("caller", "says"),
    [
        ("+19005551234", "only numbers starting with +49"),  # a US premium number
        ("+882345678901", "only numbers starting with +49"),  # international networks
        ("+449090000000", "only numbers starting with +49"),  # a UK premium number
    ],
)
def test_callbacks_dial_only_the_lines_own_country(line, supervisor, caller, says):
    assert says in refusal(supervisor, failed_call(caller))
    assert not Call.objects.filter(callback_of__isnull=False).exists()


def test_premium_numbers_are_refused_even_inside_the_allowed_prefixes(line, supervisor, settings):
    settings.CALLBACK_ALLOWED_PREFIXES = ["+1", "+44", "+49"]
    for premium in ("+19005551234", "+449090000000"):
        assert "is a premium-rate number: it is never called back" in refusal(
            supervisor, failed_call(premium)
        )
    assert not Call.objects.filter(callback_of__isnull=False).exists()


def test_one_number_is_called_back_at_most_the_days_limit(line, supervisor, settings):
    settings.CALLBACKS_PER_NUMBER_PER_DAY = 2
    callback_of(failed_call(), hours_ago=3)
    callback_of(failed_call(), hours_ago=20)
    callback_of(failed_call(), hours_ago=30)  # yesterday's does not count
    assert "called back 2 times today, the most a day" in refusal(supervisor, failed_call())


def test_one_supervisor_asks_for_at_most_the_hours_callbacks(line, supervisor, settings):
    settings.CALLBACKS_PER_SUPERVISOR_PER_HOUR = 2
    for number in ("+4915100000001", "+4915100000002"):
        callback_of(failed_call(number), by=supervisor.user, hours_ago=0.5)
    answer = refusal(supervisor, failed_call("+4915100000003"))
    assert "You have asked for 2 callbacks in the last hour" in answer


def test_a_line_that_calls_back_must_name_its_providers_addresses(
    line, supervisor, admin_client_logged_in
):
    PhoneLine.objects.filter(pk=line.pk).update(allowed_addresses="")
    assert "needs its provider's addresses" in refusal(supervisor, failed_call())
    form = {
        "number": "+4930999999", "name": "Second desk", "languages": "en-US",
        "recording_policy": "announce",
        "outbound_address": "sip.example.com:5060", "allowed_addresses": "",
    }  # fmt: skip
    page = admin_client_logged_in.post("/admin/telephony/phoneline/add/", form)
    assert page.status_code == 200
    assert "needs its provider&#x27;s addresses" in page.content.decode()
    assert not PhoneLine.objects.filter(number="+4930999999").exists()
