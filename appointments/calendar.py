"""Dates and times as callers say them and hear them, in the shop's time zone.

``resolve_when("next Tuesday morning")`` gives the day and the part of it a caller means, read
against today in the shop's time zone (dateparser reads the day; the parts of a day are ours);
``spoken(start)`` says a time back the way a person would ("Tuesday the 1st at 9:30 am").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo

import dateparser
from django.utils import timezone

from appointments.models import shop_time_zone


class UnclearDate(ValueError):
    """What a caller said is not a date the book can use; the message says what to ask."""


# The parts of a day a caller may name, as local [from, until) times.
PARTS_OF_DAY = {
    "morning": (time(0), time(12)),
    "noon": (time(11), time(14)),
    "lunchtime": (time(11), time(14)),
    "afternoon": (time(12), time(17)),
    "evening": (time(17), time(23, 59)),
}
# The longest phrase read: a day in words is short, and dateparser's work grows with length.
MAX_PHRASE = 80
PART_WORDS = re.compile(r"\b(?:in the |this )?(" + "|".join(PARTS_OF_DAY) + r")\b", re.I)
CLOCK = re.compile(r"\b(\d{1,2})(?::(\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)?(?=\W|$)", re.I)


@dataclass(frozen=True)
class When:
    """A day a caller asked for, and from/until which local times on it."""

    day: date
    earliest: time = time(0)
    latest: time = time(23, 59)


def today() -> date:
    return timezone.localtime(timezone.now(), shop_time_zone()).date()


def resolve_when(phrase: str, zone: tzinfo | None = None, now: datetime | None = None) -> When:
    """The day (and part of it) ``phrase`` means: "next Tuesday morning", "the day after
    tomorrow", "December 3 at 2 pm", "2026-12-03", read against ``now`` in ``zone`` (the
    shop's by default). ``UnclearDate`` says what to ask."""
    text = " ".join((phrase or "").split())
    if not text:
        raise UnclearDate("No day was given. Ask the caller which day suits them.")
    earliest, latest = time(0), time(23, 59)
    part = PART_WORDS.search(text)
    if part:
        earliest, latest = PARTS_OF_DAY[part.group(1).lower()]
        text = " ".join((text[: part.start()] + " " + text[part.end() :]).split())
    now = timezone.localtime(now or timezone.now(), zone or shop_time_zone()).replace(tzinfo=None)
    try:
        parsed = dateparser.parse(
            text[:MAX_PHRASE] or "today",
            languages=["en"],
            settings={"RELATIVE_BASE": now, "PREFER_DATES_FROM": "future"},
        )
    except (OverflowError, ValueError):  # "in 10,000 years": past any calendar
        parsed = None
    if parsed is None:
        raise UnclearDate(
            f"“{phrase}” is not a date I can read. Ask the caller for a day, like "
            "“next Tuesday” or “December 3”."
        )
    clock = CLOCK.search(text)
    if clock and (clock.group(2) or clock.group(3)):
        earliest = parsed.time()
    return When(day=parsed.date(), earliest=earliest, latest=latest)


def ordinal(number: int) -> str:
    if 10 <= number % 100 <= 20:
        return f"{number}th"
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def spoken_day(day: date) -> str:
    """A day as a caller hears it: "Tuesday the 1st"."""
    return f"{day:%A} the {ordinal(day.day)}"


def local(moment: datetime) -> datetime:
    return timezone.localtime(moment, shop_time_zone())


def spoken(moment: datetime) -> str:
    """A start time as a caller hears it: "Tuesday the 1st at 9:30 am", with the month when it
    is not this month's."""
    at = local(moment)
    month = "" if at.month == today().month and at.year == today().year else f" of {at:%B}"
    hour = at.hour % 12 or 12
    clock = f"{hour}:{at.minute:02d}" if at.minute else f"{hour}"
    return f"{at:%A} the {ordinal(at.day)}{month} at {clock} {'am' if at.hour < 12 else 'pm'}"


def slot_id(moment: datetime) -> str:
    """How a slot is named to the model and back: its local start, to the minute."""
    return local(moment).strftime("%Y-%m-%dT%H:%M")


def parse_slot(text: str) -> datetime:
    """A slot as ``slot_id`` names it (a local time in the shop's zone), as an aware time."""
    try:
        naive = datetime.strptime((text or "").strip()[:16], "%Y-%m-%dT%H:%M")
    except ValueError as error:
        raise UnclearDate(
            f"“{text}” is not a slot. Use one exactly as find_appointment_slots gave it, "
            "like 2026-12-01T09:30."
        ) from error
    return timezone.make_aware(naive, shop_time_zone())
