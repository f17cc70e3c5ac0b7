"""VINs from anywhere: the check digit is enforced where it is mandatory (North America, China)
and only reported elsewhere; a record that contradicts its VIN is flagged, never silently saved
and never refused outright."""

import pytest
from rest_framework.test import APIClient

from agentworker.agent import ServiceDeskAgent
from agentworker.writer import CallWriter
from callcenter.models import Call
from vehicles.admin import VehicleForm
from vehicles.models import Vehicle
from vehicles.vin import (
    InvalidVIN,
    check_digit_computes,
    decode_vin,
    normalize_vin,
    with_check_digit,
)

ACCORD = "1HGCM82633A004352"
PORSCHE = "WP0ZZZ99ZTS392124"

# Real-world shapes of VINs made for their home markets, whose position 9 is the maker's.
NOT_APPLICABLE = [
    pytest.param(PORSCHE, "Porsche", "Germany", id="German Porsche"),
    pytest.param("WVWZZZ1JZXW000001", "Volkswagen", "Germany", id="German Volkswagen"),
    pytest.param("WDD2050041R123456", "Mercedes-Benz", "Germany", id="German Mercedes"),
    pytest.param("VF1BM0B0H24567890", "Renault", "France", id="French Renault"),
    pytest.param("ZFA31200000734561", "Fiat", "Italy", id="Italian Fiat"),
    pytest.param("YV1MW3841A2123456", "Volvo", "Sweden", id="Swedish Volvo"),
    pytest.param("JMZBK14Z501234567", "Mazda", "Japan", id="Japanese export Mazda"),
    pytest.param("KMHDN41BP6U123456", "Hyundai", "South Korea", id="Korean export Hyundai"),
    pytest.param("TMBJJ7NE8K0123456", "Škoda", "Czech Republic", id="Czech Skoda"),
]


@pytest.mark.parametrize(("vin", "maker", "country"), NOT_APPLICABLE)
def test_a_vin_from_where_the_check_digit_is_not_mandatory_is_accepted_and_marked(
    vin, maker, country
):
    assert not check_digit_computes(vin)  # the case in point: position 9 does not compute
    assert normalize_vin(vin.lower()) == vin
    info = decode_vin(vin)
    assert (info.manufacturer, info.country) == (maker, country)
    assert info.check_digit_status == "not applicable"
    assert not info.confirmed_by_check_digit
    assert info.model_year is None  # position 10 is not the year there
    assert "check digit not applicable" in info.describe()


@pytest.mark.parametrize(
    "vin",
    [
        pytest.param(ACCORD, id="United States"),
        pytest.param(with_check_digit("2T1BR32E05C123456"), id="Canada"),
        pytest.param(with_check_digit("3VWDX7AJ0BM123456"), id="Mexico"),
        pytest.param(with_check_digit("LSVAA2180E2123457"), id="China"),
    ],
)
def test_where_the_check_digit_is_mandatory_a_typo_is_still_caught(vin):
    assert normalize_vin(vin) == vin
    assert decode_vin(vin).check_digit_status == "valid"
    wrong = vin[:8] + ("1" if vin[8] != "1" else "2") + vin[9:]
    with pytest.raises(InvalidVIN, match="check digit doesn't match"):
        normalize_vin(wrong)


def test_an_export_vin_whose_check_digit_computes_has_its_model_year_decoded():
    """A Japanese-built car for North America follows 49 CFR 565: digit and year."""
    info = decode_vin(with_check_digit("JTDKN3DU0A0123456"))
    assert info.check_digit_status == "valid"
    assert info.model_year == 2010


@pytest.mark.parametrize(
    "text",
    ["W P zero, Z Z Z, nine nine Z, T S three nine two one two four", "wp0-zzz99z-ts392124"],
)
def test_a_european_vin_spoken_or_written_normalises(text):
    assert normalize_vin(text) == PORSCHE


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("WP0ZZZ99ZTS39212", "17"),
        ("WP0ZZZ99ZTS3921O4", "letter O"),
        ("1HG%CM82633A00435", "letters and digits"),
    ],
)
def test_wrong_lengths_forbidden_letters_and_garbage_are_refused_everywhere(text, why):
    with pytest.raises(InvalidVIN, match=why):
        normalize_vin(text)


@pytest.mark.django_db
def test_a_european_vin_is_accepted_by_the_model_and_the_database():
    vehicle = Vehicle(vin=PORSCHE.lower(), make="Porsche", model="911", year=1996)
    vehicle.full_clean()
    vehicle.save()
    assert Vehicle.objects.get().vin == PORSCHE


@pytest.mark.django_db
def test_the_admin_form_warns_about_a_contradicting_make_until_confirmed():
    data = {"vin": ACCORD, "make": "Toyota", "model": "Accord", "year": 2003}
    warned = VehicleForm(data)
    assert not warned.is_valid()
    assert "The VIN says the maker is Honda, not Toyota." in warned.non_field_errors()
    confirmed = VehicleForm({**data, "confirm_disagreement": "on"})
    assert confirmed.is_valid(), confirmed.errors
    confirmed.save()
    assert Vehicle.objects.get().make == "Toyota"
    # Agreeing records need no confirmation; aliases count as the same maker.
    assert VehicleForm({**data, "vin": with_check_digit("1HGCM82633A004353"),
                        "make": "honda"}).is_valid()  # fmt: skip


@pytest.mark.django_db
def test_the_api_saves_a_contradicting_year_and_says_so_in_warnings(staff_user):
    client = APIClient()
    client.force_authenticate(staff_user)
    answer = client.post(
        "/api/vehicles/", {"vin": ACCORD, "make": "Honda", "model": "Accord", "year": 2015}
    )
    assert answer.status_code == 201, answer.content
    assert answer.json()["warnings"] == [
        "The VIN says the model year is 2003 (2003 or 2033), not 2015."
    ]
    agreeing = client.post(
        "/api/vehicles/", {"vin": PORSCHE, "make": "Porsche", "model": "911", "year": 1996}
    )
    assert agreeing.status_code == 201, agreeing.content
    assert agreeing.json()["warnings"] == []


@pytest.mark.django_db(transaction=True)
async def test_the_agent_asks_before_registering_a_contradicting_or_unconfirmable_vehicle():
    call = await Call.objects.acreate()
    writer = CallWriter(call.pk, publish=None)
    agent = ServiceDeskAgent(writer, greets=False)

    contradicted = await agent.create_vehicle(None, ACCORD, "Toyota", "Corolla", 2003)
    assert contradicted.startswith("Not registered yet. The VIN says the maker is Honda")
    assert not await Vehicle.objects.aexists()
    registered = await agent.create_vehicle(None, ACCORD, "Toyota", "Corolla", 2003, True)
    assert registered.startswith("Registered")

    unconfirmed = await agent.lookup_vehicle(None, PORSCHE)
    assert "no check digit" in unconfirmed and "W P 0, Z Z Z 9 9 Z, T S 3 9 2 1 2 4" in unconfirmed
    looked_up = await agent.lookup_vehicle(None, PORSCHE, True)
    assert looked_up.startswith(f"No vehicle with VIN {PORSCHE} is on file")
    assert "check digit not applicable" in looked_up
    asked = await agent.create_vehicle(None, PORSCHE, "Porsche", "911", 1996)
    assert "Read it back to the caller in groups" in asked
    assert not await Vehicle.objects.filter(vin=PORSCHE).aexists()
    assert (await agent.create_vehicle(None, PORSCHE, "Porsche", "911", 1996, True)).startswith(
        "Registered"
    )
    await writer.close()
