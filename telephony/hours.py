"""When a phone line's desk is staffed, in OpenStreetMap's opening_hours syntax
("Mo-Fr 08:00-18:00; Sa 09:00-13:00"), read by the opening-hours library: checked when a
line is saved, asked before a caller is transferred, and said in words to callers."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import opening_hours
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

logger = logging.getLogger(__name__)

EXAMPLE = "Mo-Fr 08:00-18:00; Sa 09:00-13:00"

DAYS = {
    "Mo": "Monday", "Tu": "Tuesday", "We": "Wednesday", "Th": "Thursday", "Fr": "Friday",
    "Sa": "Saturday", "Su": "Sunday",
}  # fmt: skip


# Public and school holidays need a country's calendar, which the hours are not given.
HOLIDAYS = re.compile(r"\b(PH|SH)\b")


def validate_opening_hours(text: str) -> None:
    if not text:
        return
    if HOLIDAYS.search(text):
        raise ValidationError(
            "Public and school holidays (PH, SH) are not known here: give the hours by weekday."
        )
    try:
        opening_hours.OpeningHours(text)
    except opening_hours.ParserError:
        raise ValidationError(
            f"Write the hours as OpenStreetMap does, for example “{EXAMPLE}”."
        ) from None


def is_open(text: str, at: datetime | None = None) -> bool:
    """True when ``text``'s hours include ``at`` (now) in the desk's time zone; no hours
    means always staffed, and so do hours that no longer parse (saved before they were
    checked): a caller is better tried on a person than kept from one."""
    if not text:
        return True
    local = timezone.localtime(at or timezone.now(), ZoneInfo(settings.SHOP_TIME_ZONE))
    try:
        return opening_hours.OpeningHours(text).is_open(local.replace(tzinfo=None))
    except opening_hours.ParserError:
        logger.warning("opening hours %r do not parse: treated as always open", text)
        return True


def _clock(hhmm: str) -> str:
    hours, minutes = (int(part) for part in hhmm.split(":"))
    return f"{hours}" if minutes == 0 else f"{hours}:{minutes:02d}"


def spoken(text: str) -> str:
    """The hours in words ("Monday to Friday 8 to 18, Saturday 9 to 13"); parts the words
    do not cover are left as written."""

    def days(match: re.Match) -> str:
        return DAYS[match.group(1)] + (f" to {DAYS[match.group(2)]}" if match.group(2) else "")

    rules = []
    for rule in filter(None, (part.strip() for part in text.split(";"))):
        rule = re.sub(r"\b(Mo|Tu|We|Th|Fr|Sa|Su)(?:-(Mo|Tu|We|Th|Fr|Sa|Su))?\b", days, rule)
        rule = re.sub(
            r"(\d{1,2}:\d\d)-(\d{1,2}:\d\d)",
            lambda m: f"{_clock(m.group(1))} to {_clock(m.group(2))}",
            rule,
        )
        rules.append(rule.replace(",", " and ").replace(" off", " closed"))
    return ", ".join(rules)
