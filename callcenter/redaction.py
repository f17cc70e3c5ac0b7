"""Callers' card numbers are never stored: the one function that removes them from text.

Callers read card numbers out ("four one one one, one one one one, …") or type them
("4111 1111 1111 1111"). ``redact_card_numbers`` finds runs of 13 to 19 digits — written as
digits or as spoken digit words ("oh" for zero, "double four"), separated by spaces, commas,
dots or dashes — whose Luhn check digit is right, and replaces each with ``CARD_REDACTED``.
Everything else stays as it was: a VIN's digits are broken up by its letters, phone numbers
are too short, and random digit runs rarely pass the Luhn check.

Transcript segments go through it before they are written (so the live monitor, the history,
the exports and the post-call summary never see a card number), and so does what the LLM
reads of the caller's words.
"""

from __future__ import annotations

import re

CARD_REDACTED = "[card number removed]"
MIN_DIGITS, MAX_DIGITS = 13, 19

DIGIT_WORDS = {
    "zero": "0", "oh": "0", "o": "0", "nought": "0",
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
REPEATS = {"double": 2, "triple": 3}

# A token is a digit group, a digit word or a repeat word; between tokens of one run only
# separators (space, comma, dot, dash, slash) may stand.
TOKEN = re.compile(
    r"\d+|\b(?:" + "|".join(sorted({*DIGIT_WORDS, *REPEATS}, key=len, reverse=True)) + r")\b",
    re.IGNORECASE,
)
SEPARATOR = re.compile(r"[\s,.\-/]*")


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check that every payment card number passes."""
    total = 0
    for position, character in enumerate(reversed(digits)):
        value = int(character)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _runs(text: str) -> list[list[tuple[int, int, str]]]:
    """Runs of adjacent number tokens as (start, end, digits) with repeats applied."""
    runs: list[list[tuple[int, int, str]]] = []
    current: list[tuple[int, int, str]] = []
    repeat_at: tuple[int, int] | None = None  # a "double" waiting for its digit
    last_end = None
    for match in TOKEN.finditer(text):
        word = match.group(0).lower()
        joined = last_end is not None and SEPARATOR.fullmatch(text[last_end : match.start()])
        if not joined:
            if current:
                runs.append(current)
            current, repeat_at = [], None
        if word in REPEATS:
            repeat_at = (match.start(), REPEATS[word])
            last_end = match.end()
            continue
        digits = word if word.isdigit() else DIGIT_WORDS[word]
        start = match.start()
        if repeat_at is not None and len(digits) == 1:
            start, digits = repeat_at[0], digits * repeat_at[1]
        repeat_at = None
        current.append((start, match.end(), digits))
        last_end = match.end()
    if current:
        runs.append(current)
    return runs


def _card_spans(run: list[tuple[int, int, str]]) -> list[tuple[int, int]]:
    """Spans of the run that read as card numbers: every stretch of whole tokens with 13-19
    digits that passes the Luhn check (a phone number said just before a card number cannot
    hide part of the card), overlapping stretches merged."""
    found = []
    for first in range(len(run)):
        digits = ""
        for last in range(first, len(run)):
            digits += run[last][2]
            if len(digits) > MAX_DIGITS:
                break
            if len(digits) >= MIN_DIGITS and luhn_valid(digits):
                found.append((run[first][0], run[last][1]))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def redact_card_numbers(text: str) -> str:
    """``text`` with every card number (typed or spoken, Luhn-valid, 13-19 digits) replaced
    by ``CARD_REDACTED``; text without one comes back unchanged."""
    spans = [span for run in _runs(text) for span in _card_spans(run)]
    for start, end in reversed(spans):
        text = text[:start] + CARD_REDACTED + text[end:]
    return text


def trailing_digits(text: str) -> int:
    """How many digits ``text`` ends with, read as the redactor reads them (spoken or typed,
    separators between): a card number read in parts may go on in the caller's next words."""
    runs = _runs(text)
    if not runs or text[runs[-1][-1][1] :].strip(" .,;:!?-"):
        return 0
    return sum(len(digits) for _, _, digits in runs[-1])


def redact_card_numbers_in(value):
    """The same for every string inside a JSON-like value (a tool call's arguments and
    output, an event's payload)."""
    if isinstance(value, str):
        return redact_card_numbers(value)
    if isinstance(value, dict):
        return {key: redact_card_numbers_in(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_card_numbers_in(item) for item in value]
    return value
