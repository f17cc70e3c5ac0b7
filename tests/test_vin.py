"""The VIN module: written and spoken VINs normalise, wrong ones are refused readably."""

import string

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from vehicles.vin import (
    NATO,
    TRANSLITERATION,
    VIN_ALPHABET,
    WEIGHTS,
    InvalidVIN,
    check_digit_required,
    compute_check_digit,
    decode_vin,
    is_valid_vin,
    normalize_vin,
    with_check_digit,
)

ACCORD = "1HGCM82633A004352"


def refusal(text: str) -> InvalidVIN:
    with pytest.raises(InvalidVIN) as error:
        normalize_vin(text)
    return error.value


@pytest.mark.parametrize(
    "written",
    [
        ACCORD,
        "1hgcm82633a004352",
        "1HG-CM826-33A-004352",
        " 1HG CM82 633A 0043 52 ",
        "1hg.cm82/633a_004352",
        "１ＨＧＣＭ８２６３３Ａ００４３５２",  # noqa: RUF001 (full-width input is the point)
    ],
)
def test_written_forms_normalise_to_the_vin(written):
    assert normalize_vin(written) == ACCORD


def test_nato_words_and_spoken_digits_normalise_to_the_vin():
    spoken = (
        "one hotel golf charlie mike eight two six three three alpha zero zero four three five two"
    )
    assert normalize_vin(spoken) == ACCORD


def test_a_natural_reading_with_fillers_oh_doubles_and_tens():
    spoken = (
        "Uh, my VIN is 1 H G, C as in Charlie, M for Mike, eight twenty six, double three, "
        "the letter A, oh oh four, thirty five, two"
    )
    assert normalize_vin(spoken) == ACCORD


def test_x_as_in_xray_keeps_only_the_letter():
    vin = with_check_digit("5YJ3E1EA0KF31700X")
    spoken = " ".join(vin[:-1]) + " x as in x-ray"
    assert normalize_vin(spoken) == vin


def test_double_and_triple_repeat_the_next_symbol():
    vin = with_check_digit("1FTFW1ET0DF555777")
    spoken = "1FTFW1ET " + vin[8] + " D F triple five, double seven, seven"
    assert normalize_vin(spoken) == vin
    assert normalize_vin("1FTFW1ET" + vin[8] + "DF double 5 5 777") == vin


@pytest.mark.parametrize(
    ("text", "letter", "hint"),
    [
        ("1HGCM82633AOO4352", "O", "zero"),
        ("1HGCM82633A0O4352", "O", "zero"),
        ("IHGCM82633A004352", "I", "one"),
        ("1HGCM82633A00435Q", "Q", "zero"),
        ("india hotel golf", "I", "one"),
    ],
)
def test_letters_i_o_q_are_refused_with_a_hint(text, letter, hint):
    error = refusal(text)
    assert error.reason == "forbidden_letter"
    assert f"never contains the letter {letter}" in str(error)
    assert hint in str(error)


def test_oh_is_zero_not_the_letter_o():
    assert normalize_vin(ACCORD[:11] + " oh oh 4352") == ACCORD


def test_wrong_length_says_how_many_characters_were_heard():
    error = refusal(ACCORD[:-1])
    assert error.reason == "length"
    assert "16 characters" in str(error)
    assert "exactly 17" in str(error)
    assert refusal(ACCORD + "7").reason == "length"


def test_wrong_check_digit_names_the_expected_digit():
    error = refusal("1HGCM82643A004352")
    assert error.reason == "check_digit"
    assert f"should be {compute_check_digit('1HGCM82643A004352')}, not 4" in str(error)


def test_empty_input_and_symbols_are_refused_readably():
    assert refusal("").reason == "empty"
    assert refusal("uh, the vin").reason == "empty"
    error = refusal("1HGCM82633A00435#")
    assert error.reason == "bad_character"
    assert "#" in str(error)


def test_check_digit_x_is_computed_for_remainder_ten():
    # Adjust one serial character until the weighted sum leaves 10.
    for char in VIN_ALPHABET:
        vin = with_check_digit("1M8GDM9A0KP04278" + char)
        if vin[8] == "X":
            assert normalize_vin(vin.lower()) == vin
            return
    pytest.fail("no serial gave the check digit X")


def test_decode_reads_model_year_and_manufacturer():
    info = decode_vin(ACCORD)
    assert (info.wmi, info.manufacturer, info.country, info.region) == (
        "1HG",
        "Honda",
        "United States",
        "North America",
    )
    assert info.model_year == 2003
    assert info.model_year_candidates == (2003, 2033)
    assert (info.plant_code, info.serial_number, info.check_digit) == ("A", "004352", "3")
    assert info.describe() == "2003 Honda (United States)"


def test_model_year_uses_position_seven_to_choose_the_cycle():
    letter_at_seven = decode_vin(with_check_digit("5YJ3E1EA0KF317000"))
    assert letter_at_seven.model_year == 2019
    digit_at_seven = decode_vin(with_check_digit("1G1ZD5300BF317000"))
    assert digit_at_seven.model_year == 1981
    assert digit_at_seven.model_year_candidates == (1981, 2011)


def test_decode_knows_common_makers_and_says_none_for_unknown_ones():
    assert decode_vin(with_check_digit("WBA8E9G50JNU12345")).manufacturer == "BMW"
    assert decode_vin(with_check_digit("JTDKN3DU0A0123456")).manufacturer == "Toyota"
    assert decode_vin(with_check_digit("5YJ3E1EA0KF317000")).manufacturer == "Tesla"
    unknown = decode_vin(with_check_digit("9ZZ3E1EA0KF317000"))
    assert unknown.manufacturer is None
    assert unknown.region == "South America"


def test_decode_refuses_what_is_not_a_vin():
    with pytest.raises(InvalidVIN):
        decode_vin("not a vin")


# --- Properties ------------------------------------------------------------------------------

vins = st.text(alphabet=VIN_ALPHABET, min_size=17, max_size=17).map(with_check_digit)
# VINs of the regions that require the check digit (North America, China).
enforced_vins = st.builds(
    lambda first, rest: with_check_digit(first + rest),
    st.sampled_from("1245L"),
    st.text(alphabet=VIN_ALPHABET, min_size=16, max_size=16),
)
DIGIT_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
SPOKEN = {
    **{letter: word for word, letter in NATO.items() if letter not in "IOQ"},
    **dict(zip(string.digits, DIGIT_NAMES, strict=True)),
}


@given(vins)
def test_every_vin_with_its_check_digit_normalises_to_itself(vin):
    assert normalize_vin(vin) == vin
    assert is_valid_vin(vin.lower())


@given(vins, st.lists(st.sampled_from([" ", "-", ".", " - ", "/"]), min_size=16, max_size=16))
def test_separators_between_any_characters_do_not_matter(vin, separators):
    text = vin[0] + "".join(sep + char for sep, char in zip(separators, vin[1:], strict=True))
    assert normalize_vin(text) == vin


@given(vins)
def test_a_vin_spelled_out_in_words_normalises_to_itself(vin):
    assert normalize_vin(" ".join(SPOKEN[char] for char in vin)) == vin


@given(enforced_vins, st.integers(0, 16), st.sampled_from(VIN_ALPHABET))
def test_any_single_character_substitution_is_detected(vin, position, replacement):
    if replacement == vin[position]:
        return
    changed = vin[:position] + replacement + vin[position + 1 :]
    assume(check_digit_required(changed))  # a changed first character may leave the region
    if WEIGHTS[position] == 0:
        # Position 9 is the check digit itself: a different one cannot be right.
        assert not is_valid_vin(changed)
    else:
        # Transliteration maps some letters to the same value (A and J are both 1), so a
        # substitution between them keeps the sum; every other substitution is caught.
        same_value = TRANSLITERATION[replacement] == TRANSLITERATION[vin[position]]
        assert is_valid_vin(changed) is same_value


@given(st.text())
def test_arbitrary_text_is_either_a_vin_or_a_readable_refusal(text):
    try:
        vin = normalize_vin(text)
    except InvalidVIN as error:
        assert str(error).endswith((".", "?"))
    else:
        assert len(vin) == 17


@given(vins)
def test_decoding_keeps_the_vin_and_picks_a_candidate_year(vin):
    info = decode_vin(vin)
    assert info.vin == vin
    assert info.wmi + info.vds + info.vis == vin
    if info.model_year is not None:
        assert info.model_year in info.model_year_candidates
