"""What the desk pages and the monitor show of the desk, read in one place from the database.

A desk page's board has two parts: what everybody at the desk sees alike (``shared_board``:
the queue, the callback tasks, who is there), read once per change by whoever changed it and
sent to every page as it is; and what only its person sees (``my_board``: their presence, the
handoff ringing at their desk or on the call with them, their calls today), read by their own
page's socket when their part changed. A change thus costs a few queries, not a few per page.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from callcenter.models import Call
from desk.models import DeskPerson, Handoff

# The queue and the callback tasks a desk page lists at most (the counts are exact).
SHOWN = 50


def _waiting():
    return Handoff.objects.waiting().filter(call__status__in=Call.LIVE_STATUSES)


def desk_summary() -> dict[str, Any]:
    """The desk at a glance, for supervisors: the queue, its longest wait, who is there."""
    waiting = _waiting()
    oldest = waiting.order_by("requested_at").values_list("requested_at", flat=True).first()
    people = DeskPerson.present().filter(available=True).select_related("user")
    people = sorted(people, key=lambda person: person.name.lower())
    return {
        "queued": waiting.count(),
        "longest_wait_seconds": (
            round((timezone.now() - oldest).total_seconds()) if oldest else None
        ),
        "oldest_requested_at": oldest.isoformat() if oldest else None,
        "available": [person.name for person in people if person.handoff_id is None],
        "busy": [person.name for person in people if person.handoff_id is not None],
        "callbacks": Handoff.objects.filter(status=Handoff.Status.CALLBACK).count(),
    }


def shared_board() -> dict[str, Any]:
    """What every desk page shows alike: ``{"kind": "desk", "queue": [...], "callbacks":
    [...], "summary": {...}, "now": ...}``."""
    callbacks = Handoff.objects.filter(status=Handoff.Status.CALLBACK).for_desk()
    return {
        "kind": "desk",
        "queue": [h.to_dict() for h in _waiting().for_desk().order_by("requested_at")[:SHOWN]],
        "callbacks": [h.to_dict() for h in callbacks.order_by("requested_at")[:SHOWN]],
        "summary": desk_summary(),
        "now": timezone.now().isoformat(),
    }


def my_board(user) -> dict[str, Any]:
    """What only ``user``'s page shows: ``{"kind": "mine", "me": {...}, "current": {...} or
    None, "today": [...]}`` (the handoff ringing at their desk or on the call with them, with
    its brief)."""
    person = DeskPerson.objects.select_related("user").filter(user=user).first()
    person = person or DeskPerson.of(user)
    current = (
        Handoff.objects.for_desk().filter(pk=person.handoff_id).first()
        if person.handoff_id
        else None
    )
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    mine = Handoff.objects.for_desk().filter(accepted_by=user, accepted_at__gte=today)
    return {
        "kind": "mine",
        "me": person.to_dict(),
        "current": current.to_dict() if current else None,
        "today": [h.to_dict() for h in mine.order_by("-accepted_at")[:SHOWN]],
    }
