"""How the history pages write call facts: durations as a clock (m:ss) like the monitor."""

from datetime import timedelta

from django import template

register = template.Library()


@register.filter
def clock(value: timedelta | float | int | None) -> str:
    """2:05 for two minutes five seconds, 1:02:05 past an hour, — for nothing."""
    if value is None or value == "":
        return "—"
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else value)
    hours, rest = divmod(max(seconds, 0), 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
