"""The appointment book for staff: a day or a week, filtered by service; readable on a phone."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from appointments.calendar import today
from appointments.models import Appointment, ClosedDay, OpeningHours, ServiceType, shop_time_zone

# The years the book pages through: a week and its neighbours stay inside the calendar.
BOOK_YEARS = range(1900, 2200)
VIEW_PERMISSION = "appointments.view_appointment"
BOOK_NEEDS = (
    "The appointment book needs the permission “Can view appointment” "
    f"({VIEW_PERMISSION}) on a staff account. An administrator grants it in the admin: Users, "
    "or a group such as Supervisors."
)


def book_viewer_required(view):
    def wrapper(request: HttpRequest, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not (request.user.is_staff and request.user.has_perm(VIEW_PERMISSION)):
            raise PermissionDenied(BOOK_NEEDS)
        return view(request, *args, **kwargs)

    return wrapper


@require_GET
@book_viewer_required
def appointment_book(request: HttpRequest) -> HttpResponse:
    """``?day=YYYY-MM-DD`` (default today, in the shop's time zone), ``&view=week`` for the
    week around it, ``&service=<id>`` for one service; cancelled appointments are left out."""
    problem = ""
    raw_day = request.GET.get("day", "")
    try:
        day = date.fromisoformat(raw_day) if raw_day else today()
    except ValueError:
        day, problem = today(), f"“{raw_day[:40]}” is not a day: give it as YYYY-MM-DD."
    if not BOOK_YEARS.start <= day.year < BOOK_YEARS.stop:
        day, problem = (
            today(),
            (
                f"The book shows the years {BOOK_YEARS.start} to {BOOK_YEARS.stop - 1}; "
                f"{day.year} is outside them."
            ),
        )
    week = request.GET.get("view") == "week"
    services = list(ServiceType.objects.all())
    service = next((s for s in services if str(s.pk) == request.GET.get("service")), None)
    first = day - timedelta(days=day.weekday()) if week else day
    days = [first + timedelta(days=n) for n in range(7 if week else 1)]
    zone = shop_time_zone()
    start = datetime.combine(days[0], time(0), tzinfo=zone)
    end = datetime.combine(days[-1] + timedelta(days=1), time(0), tzinfo=zone)
    listed = (
        Appointment.objects.select_related("service", "vehicle")
        .filter(start__gte=start, start__lt=end)
        .exclude(status=Appointment.Status.CANCELLED)
        .order_by("start")
    )
    if service is not None:
        listed = listed.filter(service=service)
    by_day: dict[date, list[Appointment]] = {d: [] for d in days}
    for appointment in listed:
        by_day[appointment.start.astimezone(zone).date()].append(appointment)
    hours = {row.weekday: row for row in OpeningHours.objects.all()}
    closed = dict(ClosedDay.objects.filter(date__in=days).values_list("date", "reason"))
    step = timedelta(days=7 if week else 1)
    context = {
        "problem": problem,
        "week": week,
        "day": day,
        "service": service,
        "services": services,
        "time_zone": zone.key,
        "days": [
            {
                "date": d,
                "hours": hours.get(d.weekday()),
                "closed": d in closed,
                "closed_reason": closed.get(d, ""),
                "appointments": by_day[d],
            }
            for d in days
        ],
        "previous": (day - step).isoformat(),
        "next": (day + step).isoformat(),
    }
    return render(request, "appointments/book.html", context, status=400 if problem else 200)
