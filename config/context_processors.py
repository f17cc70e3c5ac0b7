"""What every page knows about the service desk: its name and how to reach a person."""

from django.conf import settings
from django.http import HttpRequest


def contact_sentence() -> str:
    """'Or call us on 555 0100 (Mon-Fri 8:00-17:00).', or '' when no phone is configured."""
    if not settings.SERVICE_DESK_PHONE:
        return ""
    hours = f" ({settings.SERVICE_DESK_HOURS})" if settings.SERVICE_DESK_HOURS else ""
    return f"Or call us on {settings.SERVICE_DESK_PHONE}{hours}."


def service_desk(request: HttpRequest) -> dict:
    return {
        "service_desk_name": settings.SERVICE_DESK_NAME,
        "service_desk_contact": contact_sentence(),
        "time_zone": settings.TIME_ZONE,
    }
