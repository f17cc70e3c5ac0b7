"""A workshop for the appointment tests: open Monday to Friday 8:00-17:00 in Berlin, and the
helpers that name days and times in it."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from appointments.calendar import today
from appointments.models import OpeningHours, Shop

BERLIN = ZoneInfo("Europe/Berlin")


def open_workshop(settings, **capacity) -> Shop:
    """The shop (``capacity``: bays, technicians, loan_cars…) with its week's hours."""
    settings.SHOP_TIME_ZONE = "Europe/Berlin"
    shop = Shop.objects.create(pk=1, booking_days_ahead=400, **capacity)
    for weekday in range(5):
        OpeningHours.objects.create(weekday=weekday, opens=time(8), closes=time(17))
    return shop


def next_weekday(weekday: int, after: date | None = None) -> date:
    """The first day with ``weekday`` (0 = Monday) strictly after ``after`` (today)."""
    day = (after or today()) + timedelta(days=1)
    while day.weekday() != weekday:
        day += timedelta(days=1)
    return day


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=BERLIN)
