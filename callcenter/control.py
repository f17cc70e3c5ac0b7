"""Who controls a live call: the agent, or the one supervisor who took it over.

Ownership is a row update that succeeds for one supervisor only (two pressing *take over* at
once leave one owner; the other is told who). The owner's monitor renews a lease; when it
lapses (the supervisor closed the page, lost the network) the worker hands the call back to
the agent and says so.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from callcenter.models import Call

CONTROL_LEASE = timedelta(seconds=30)


class ControlRefused(Exception):
    """A control action that cannot be done; the message says why, for the supervisor."""


def live_call(call_id) -> Call:
    """The call, if it is live; ControlRefused otherwise."""
    call = Call.objects.select_related("controller").filter(pk=call_id).first()
    if call is None:
        raise ControlRefused("There is no such call.")
    if not call.is_live:
        raise ControlRefused("This call has ended.")
    return call


def take_over(call_id, user) -> Call:
    """Make ``user`` the call's controller, unless another supervisor holds a live lease."""
    now = timezone.now()
    free = (
        Q(controller__isnull=True)
        | Q(controller=user)
        | Q(controller_seen_at__lt=now - CONTROL_LEASE)
    )
    taken = Call.objects.filter(free, pk=call_id, status__in=Call.LIVE_STATUSES).update(
        controller=user, controller_seen_at=now
    )
    call = live_call(call_id)
    if not taken:
        raise ControlRefused(f"{call.controller.get_username()} already controls this call.")
    return call


def hand_back(call_id, user) -> Call:
    """Give the call back to the agent; only its controller (or a superuser) may."""
    owned = Q(controller=user) if not user.is_superuser else Q(controller__isnull=False)
    released = Call.objects.filter(owned, pk=call_id).update(
        controller=None, controller_seen_at=None
    )
    call = live_call(call_id)
    if not released:
        raise ControlRefused("You do not control this call.")
    return call


def renew_leases(user) -> int:
    """The supervisor's monitor is still there: keep the calls they control."""
    return Call.objects.filter(controller=user, status__in=Call.LIVE_STATUSES).update(
        controller_seen_at=timezone.now()
    )


def lease_lapsed(call: Call, now=None) -> bool:
    now = now or timezone.now()
    return bool(
        call.controller_id
        and (call.controller_seen_at is None or call.controller_seen_at < now - CONTROL_LEASE)
    )
