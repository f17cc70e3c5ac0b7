"""How many calls one caller may start: ``CALL_START_RATE`` ("10/hour"), for web callers by
client address (``callcenter.api.CallStartThrottle``) and for phone callers by their number
(``agentworker.entrypoint``). Counted in the database, so every web host and worker agrees; a call
that never reached an agent (failed as ``Call.NEVER_ANSWERED``) was the desk's failure and
does not count."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from rest_framework.throttling import SimpleRateThrottle

from callcenter.models import UNKNOWN_CALLER, Call


def call_start_rate() -> tuple[int, int]:
    """(calls, seconds) of ``CALL_START_RATE``."""
    return SimpleRateThrottle.parse_rate(None, settings.CALL_START_RATE)


def seconds_until_allowed(calls: QuerySet[Call]) -> float | None:
    """None while ``calls`` (one caller's) are under the rate; else how long until the
    oldest counted one leaves the window. Reads one row: the limit-th latest counted call."""
    limit, seconds = call_start_rate()
    now = timezone.now()
    counted = (
        calls.filter(started_at__gte=now - timedelta(seconds=seconds))
        .exclude(status=Call.Status.FAILED, failure_reason=Call.NEVER_ANSWERED)
        .order_by("-started_at")
        .values_list("started_at", flat=True)
    )
    nth = list(counted[limit - 1 : limit]) if limit else [now]  # a rate of 0: no call at all
    if not nth:
        return None
    return max((nth[0] + timedelta(seconds=seconds) - now).total_seconds(), 0)


def phone_caller_over_limit(call: Call) -> bool:
    """Whether ``call``'s phone caller has called more often than the rate allows (their
    earlier calls only; a withheld number is never counted)."""
    if call.channel != Call.Channel.PHONE or call.caller in ("", UNKNOWN_CALLER):
        return False
    earlier = Call.objects.filter(
        channel=Call.Channel.PHONE, caller=call.caller, callback_of__isnull=True
    ).exclude(pk=call.pk)
    return seconds_until_allowed(earlier) is not None
