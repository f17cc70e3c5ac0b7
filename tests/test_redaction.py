"""Card numbers are removed from what callers say or type; everything else stays as it was."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callcenter.redaction import CARD_REDACTED, luhn_valid, redact_card_numbers

VISA = "4111111111111111"
AMEX = "378282246310005"  # 15 digits
MASTERCARD = "5555555555554444"


@pytest.mark.parametrize(
    "said",
    [
        f"my card is {VISA} thanks",
        "my card is 4111 1111 1111 1111 thanks",
        "my card is 4111-1111-1111-1111 thanks",
        "my card is 3782 822463 10005 thanks",
        "my card is four one one one, one one one one, one one one one, one one one one thanks",
        "my card is Four One One One. One One One One. One One One One. One One One One thanks",
        "my card is five five five five double five five five five five five five four four "
        "four four thanks",
        "my card is 5555 5555 five five five five 4444 thanks",
        "my card is three seven eight two eight two two four six three one oh oh oh five thanks",
        "my number is 555 123 4567, card 4111 1111 1111 1111 thanks",
    ],
)
def test_spoken_and_typed_card_numbers_are_removed(said):
    redacted = redact_card_numbers(said)
    assert CARD_REDACTED in redacted
    assert redacted.startswith("my ") and redacted.endswith(" thanks")
    digits = "".join(c for c in redacted if c.isdigit())
    for card in (VISA, AMEX, MASTERCARD):
        assert card[-8:] not in digits  # nothing of the card's number is left


@pytest.mark.parametrize(
    "said",
    [
        "My VIN is 1HGCM82633A004352.",
        "one H G C, m as in mike, eight two six three three A, oh oh four three five two",
        "Call me back on 555 123 4567 or (555) 987-6543.",
        "It has 120000 miles and the invoice was 4111 dollars.",
        "4111 1111 1111 1112",  # fails the Luhn check
        "order 123456789012",  # 12 digits
        "oh, I see, one moment",
        "",
    ],
)
def test_text_without_a_card_number_is_untouched(said):
    assert redact_card_numbers(said) == said


def test_the_luhn_check():
    assert luhn_valid(VISA) and luhn_valid(AMEX) and luhn_valid(MASTERCARD)
    assert not luhn_valid("4111111111111112")


@given(st.text())
def test_any_text_is_handled_and_redaction_is_stable(text):
    once = redact_card_numbers(text)
    assert redact_card_numbers(once) == once
