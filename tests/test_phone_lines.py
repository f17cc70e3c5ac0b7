"""Phone lines in the admin and on the command line when LiveKit cannot take them, and how a
phone caller's number is shown (masked to supervisors, whole to staff allowed to see it)."""

import socket
from io import StringIO

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command

from callcenter.models import Call
from telephony.models import PhoneLine

NUMBER = "+4915112345678"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def livekit_away(settings):
    settings.LIVEKIT_URL = f"ws://127.0.0.1:{closed_port()}"
    settings.LIVEKIT_API_KEY = "APIaway"
    settings.LIVEKIT_API_SECRET = "away-secret-0123456789-0123456789-0123"


@pytest.mark.django_db
def test_a_line_livekit_cannot_take_is_refused_in_the_admin_and_not_saved(
    admin_client_logged_in, livekit_away
):
    form = {
        "number": "+4930123456", "name": "Desk", "languages": "en-US",
        "recording_policy": "announce",
    }  # fmt: skip
    response = admin_client_logged_in.post("/admin/telephony/phoneline/add/", form)
    assert response.status_code == 200
    assert "LiveKit did not take the line" in response.content.decode()
    assert not PhoneLine.objects.exists()
    bad = admin_client_logged_in.post(
        "/admin/telephony/phoneline/add/", {**form, "number": "030 123456"}
    )
    assert "international form" in bad.content.decode()


@pytest.mark.django_db
def test_sync_phone_lines_says_each_failure_in_one_line_and_exits_non_zero(livekit_away):
    PhoneLine.objects.create(number="+4930123456", name="Desk")
    errors = StringIO()
    with pytest.raises(CommandError, match="1 phone line"):
        call_command("sync_phone_lines", stderr=errors, stdout=StringIO())
    lines = errors.getvalue().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("+4930123456: LiveKit did not take the line")
    assert "LiveKit did not take" in PhoneLine.objects.get().provisioning_error


@pytest.mark.django_db
@pytest.mark.parametrize("number", [NUMBER, "015112345678", "4915112345678", "sip-user-678"])
def test_a_phone_callers_number_is_masked_for_supervisors_and_whole_for_allowed_staff(
    staff_client, client, django_user_model, number
):
    call = Call.objects.create(
        channel=Call.Channel.PHONE, caller=number, dialled_number="+4930123456",
        room_name=f"phone-4930123456-_{number}_Ab12",
    )  # fmt: skip
    assert call.to_dict()["caller"] == "•" * (len(number) - 3) + "678"
    pages = ("/history/", f"/history/{call.pk}/", f"/api/calls/{call.pk}/",
             "/history/export/calls.csv")  # fmt: skip
    for page in pages:
        response = staff_client.get(page)
        body = response.streaming_content if response.streaming else [response.content]
        shown = b"".join(body).decode()
        assert "678" in shown and number not in shown, page
    admin_page = f"/admin/callcenter/call/{call.pk}/change/"
    clerk = django_user_model.objects.create_user("clerk", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_call"))
    client.force_login(clerk)
    assert number not in client.get(admin_page).content.decode()
    clerk.user_permissions.add(Permission.objects.get(codename="view_caller_number"))
    assert number in client.get(admin_page).content.decode()


def test_runsip_fills_the_bridges_configuration_from_the_settings(settings):
    from telephony.management.commands.runsip import bridge_config

    settings.LIVEKIT_URL = "ws://127.0.0.1:7880"
    config = bridge_config(
        sip_port=5070, rtp_ports="20000-20099", redis_url="redis://:pw@127.0.0.1:6380/3"
    )
    assert (config["sip_port"], config["rtp_port"], config["ws_url"]) == (
        5070, "20000-20099", "ws://127.0.0.1:7880",
    )  # fmt: skip
    assert config["redis"] == {"address": "127.0.0.1:6380", "password": "pw", "db": 3}
    assert "api_secret" not in config  # the key pair travels in the environment only


def test_runsip_without_redis_says_what_to_set(settings):
    settings.LIVEKIT_URL = "ws://127.0.0.1:7880"
    settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = "APIx", "secret-0123456789"
    with pytest.raises(CommandError, match=r"set REDIS_URL \(or --redis-url\)"):
        call_command("runsip", "--redis-url", "")


@pytest.mark.django_db
def test_a_lines_languages_and_hours_are_checked_with_a_sentence_before_livekit_is_asked(
    admin_client_logged_in, livekit_away
):
    form = {
        "number": "+4930123456", "name": "Desk", "languages": "en-US",
        "recording_policy": "announce",
    }  # fmt: skip
    for field, value, sentence in [
        ("languages", "english", "codes with their region"),
        ("languages", "de-DE, fr", "codes with their region"),
        ("opening_hours", "weekdays 9 to 5", "as OpenStreetMap does"),
        ("opening_hours", "Mo-Fr 25:00-26:00", "as OpenStreetMap does"),
        ("opening_hours", "Mo-Fr 08:00-18:00; PH off", "holidays (PH, SH) are not known"),
    ]:
        page = admin_client_logged_in.post(
            "/admin/telephony/phoneline/add/", {**form, field: value}
        ).content.decode()
        assert sentence in page, (field, value)
        assert "LiveKit did not take" not in page  # refused before provisioning
    assert not PhoneLine.objects.exists()


@pytest.mark.django_db
def test_renaming_a_line_keeps_its_outbound_address_and_leaves_livekit_alone(
    admin_client_logged_in, livekit_away
):
    from django.utils import timezone

    line = PhoneLine.objects.create(
        number="+4930123456", name="Desk", outbound_address="sip.example.com",
        allowed_addresses="192.0.2.10", inbound_trunk_id="ST_in", dispatch_rule_id="SDR_1",
        provisioned_at=timezone.now(),
    )  # fmt: skip
    form = {
        "number": line.number, "name": "Front desk", "languages": "en-US",
        "recording_policy": "announce",
        "opening_hours": "Mo-Fr 08:00-18:00", "outbound_address": "sip.example.com",
        "allowed_addresses": "192.0.2.10",
    }  # fmt: skip
    saved = admin_client_logged_in.post(f"/admin/telephony/phoneline/{line.pk}/change/", form)
    assert saved.status_code == 302, saved.content.decode()[-2000:]  # LiveKit (away) not asked
    line.refresh_from_db()
    assert (line.name, line.outbound_address, line.inbound_trunk_id) == (
        "Front desk",
        "sip.example.com",
        "ST_in",
    )
    moved = admin_client_logged_in.post(
        f"/admin/telephony/phoneline/{line.pk}/change/", {**form, "number": "+4930999999"}
    )
    assert "LiveKit did not take the line" in moved.content.decode()  # a new number is asked
    line.refresh_from_db()
    assert line.number == "+4930123456"


def test_a_line_is_open_by_its_hours_in_the_desks_time_zone(settings):
    from datetime import UTC, datetime

    settings.SHOP_TIME_ZONE = "Europe/Berlin"
    line = PhoneLine(opening_hours="Mo-Fr 08:00-18:00; Sa 09:30-13:00")
    monday_7_30_in_berlin = datetime(2026, 11, 30, 6, 30, tzinfo=UTC)
    monday_8_30_in_berlin = datetime(2026, 11, 30, 7, 30, tzinfo=UTC)
    sunday_noon = datetime(2026, 11, 29, 11, 0, tzinfo=UTC)
    assert not line.is_open(monday_7_30_in_berlin)
    assert line.is_open(monday_8_30_in_berlin)
    assert not line.is_open(sunday_noon)
    assert PhoneLine(opening_hours="").is_open(sunday_noon)  # no hours: always staffed
    assert PhoneLine(opening_hours="9 to 5").is_open(sunday_noon)  # saved before the checks
    assert line.hours_spoken == "Monday to Friday 8 to 18, Saturday 9:30 to 13"
    assert (
        PhoneLine(opening_hours="Mo,We 08:00-12:00,13:00-17:00; Su off").hours_spoken
        == "Monday and Wednesday 8 to 12 and 13 to 17, Sunday closed"
    )


async def test_a_lines_calls_are_heard_and_spoken_in_its_languages(settings):
    from agentworker.agent import instructions_for_line
    from agentworker.pipeline import build_session

    settings.OPENAI_API_KEY = "test"
    line = PhoneLine(
        name="Berlin desk", languages="de-DE, en-US", opening_hours="Mo-Fr 08:00-18:00"
    )
    session = build_session(languages=line.language_list)
    assert session.stt._opts.detect_language  # among several: the model tells which
    one = build_session(languages=["fr-FR"])
    assert one.stt._opts.languages == ["fr"] and not one.stt._opts.detect_language
    settings.AZURE_SPEECH_KEY, settings.AZURE_SPEECH_REGION = "key", "westeurope"
    settings.AZURE_VOICES = {"de-DE": "de-DE-KatjaNeural", "en-US": "en-US-JennyNeural"}
    azure = build_session(languages=line.language_list)
    assert azure.tts._opts.voice == "de-DE-KatjaNeural"
    told = instructions_for_line(line)
    assert "de-DE, en-US" in told and "Monday to Friday 8 to 18" in told


@pytest.mark.parametrize(
    ("header", "number"),
    [
        ('"Ana" <sip:+4915112345678@203.0.113.5:5060>;tag=a1', "+4915112345678"),
        ("<sip:015112345678@203.0.113.5>", "015112345678"),
        ("<tel:+4915112345678>;tag=x", "+4915112345678"),
        ("sips:+4915112345678@pbx.example.com", "+4915112345678"),
        (f"<sip:{'9' * 33}@203.0.113.5>", "9" * 32),  # any length: cut, never a failed job
        ("Anonymous <sip:anonymous@anonymous.invalid>", "anonymous"),
        ("", ""),
        ("garbage", ""),
    ],
)
def test_the_callers_number_is_read_from_the_from_header(header, number):
    from agentworker.intake import number_in_from_header

    assert number_in_from_header(header) == number


def test_a_line_hides_the_callers_number_from_the_room_on_livekit():
    from telephony.provisioning import CALLER_ATTRIBUTE, _rule, _trunk

    line = PhoneLine(number="+4930123456", name="Desk")
    rule = _rule(line, "ST_1")
    assert rule.hide_phone_number
    assert rule.rule.dispatch_rule_callee.room_prefix == line.room_prefix
    assert rule.rule.dispatch_rule_callee.randomize
    assert dict(_trunk(line).headers_to_attributes) == {"From": CALLER_ATTRIBUTE}
