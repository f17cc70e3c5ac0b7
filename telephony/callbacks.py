"""Callbacks: a supervisor asks the desk to phone back a caller whose call failed or was
abandoned. The web app records the new call and dispatches the agent to a room of its own;
the agent's job dials out through the line's outbound trunk (agentworker.dial_out) and opens
with the reason; answered, busy, no answer and failures are recorded on the new call."""

from __future__ import annotations

from datetime import timedelta

import phonenumbers
from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from callcenter.agent_dispatch import dispatch_agent
from callcenter.job_request import JobRequest
from callcenter.live_updates import announce_call_change
from callcenter.models import Call
from telephony.models import CALLBACKS_NEED_ALLOWED_ADDRESSES, PhoneLine


class CallbackRefused(ValueError):
    """The call cannot be called back; the message says why."""


def reason_for(call: Call) -> str:
    if call.status == Call.Status.FAILED:
        return "your call to the service desk did not go through"
    return "your call to the service desk ended before we could help"


# How a callback that LiveKit never started is marked: it does not use up the call's callback.
NOT_STARTED = "Callback not started"
# Numbers a callback never dials, whatever the allowed prefixes: the caller would pay, or a
# fraudster who spoofed the caller ID would be paid.
NEVER_DIALLED = {
    phonenumbers.PhoneNumberType.PREMIUM_RATE: "a premium-rate number",
    phonenumbers.PhoneNumberType.SHARED_COST: "a shared-cost number",
}


def allowed_prefixes(line: PhoneLine) -> list[str]:
    """Where callbacks from ``line`` may dial: ``CALLBACK_ALLOWED_PREFIXES``, else the line's
    own country code."""
    if settings.CALLBACK_ALLOWED_PREFIXES:
        return settings.CALLBACK_ALLOWED_PREFIXES
    return [f"+{phonenumbers.parse(line.number).country_code}"]


def check_destination(number: str, line: PhoneLine, shown: str) -> None:
    """Refuses a number outside the allowed prefixes, and premium-rate and shared-cost ones."""
    prefixes = allowed_prefixes(line)
    if not any(number.startswith(prefix) for prefix in prefixes):
        raise CallbackRefused(
            f"Callbacks dial only numbers starting with {', '.join(prefixes)}; {shown} does "
            "not (CALLBACK_ALLOWED_PREFIXES)."
        )
    try:
        kind = phonenumbers.number_type(phonenumbers.parse(number))
    except phonenumbers.NumberParseException:
        kind = None
    if kind in NEVER_DIALLED:
        raise CallbackRefused(f"{shown} is {NEVER_DIALLED[kind]}: it is never called back.")


def check_rates(number: str, requested_by) -> None:
    """Refuses a callback past the limits per number (a day) and per supervisor (an hour)."""
    now = timezone.now()
    started = Call.objects.exclude(failure_reason__startswith=NOT_STARTED).filter(
        callback_of__isnull=False
    )
    to_number = started.filter(caller=number, started_at__gte=now - timedelta(days=1)).count()
    if to_number >= settings.CALLBACKS_PER_NUMBER_PER_DAY:
        raise CallbackRefused(
            f"This number has been called back {to_number} times today, the most a day."
        )
    if requested_by is not None:
        asked = started.filter(
            callback_requested_by=requested_by, started_at__gte=now - timedelta(hours=1)
        ).count()
        if asked >= settings.CALLBACKS_PER_SUPERVISOR_PER_HOUR:
            raise CallbackRefused(
                f"You have asked for {asked} callbacks in the last hour, the most an hour."
            )


def request_callback(original: Call, requested_by=None) -> Call:
    """The new call that phones ``original``'s caller back, its agent dispatched: one per
    call, never a callback's callback, only to allowed destinations, within the rates."""
    with transaction.atomic():  # the original's row lock: two requests make one callback
        original = Call.objects.select_for_update().get(pk=original.pk)
        line = _line_to_call_back(original)
        check_destination(original.caller, line, original.caller_shown)
        check_rates(original.caller, requested_by)
        callback = Call.objects.create(
            channel=Call.Channel.PHONE, caller=original.caller, dialled_number=line.number,
            callback_of=original, origin=Call.Origin.CALLBACK, vehicle=original.vehicle,
            callback_requested_by=requested_by,
        )  # fmt: skip
    announce_call_change(callback.pk)
    try:
        request = JobRequest.callback(callback, reason_for(original))
        async_to_sync(dispatch_agent)(callback.room_name, request)
    except Exception as error:  # LiveKit away or refusing: the new call says so
        callback.mark_ended(failed_reason=f"{NOT_STARTED}: {error}")
        announce_call_change(callback.pk)
        raise CallbackRefused(f"LiveKit did not start the callback: {error}") from error
    return callback


def _line_to_call_back(original: Call) -> PhoneLine:
    """The line ``original`` came in on, if the call may be called back through it."""
    if original.channel != Call.Channel.PHONE or not original.caller.startswith("+"):
        raise CallbackRefused("Only phone calls with the caller's number can be called back.")
    if original.callback_of_id is not None:
        raise CallbackRefused("A callback is not called back again: ask the customer to call.")
    if original.is_live:
        raise CallbackRefused("This call is still going on.")
    if not (original.status == Call.Status.FAILED or original.outcome == Call.Outcome.ABANDONED):
        raise CallbackRefused("Only failed or abandoned calls are called back.")
    done = original.callbacks.exclude(failure_reason__startswith=NOT_STARTED).first()
    if done is not None:
        when = timezone.localtime(done.started_at)
        raise CallbackRefused(f"This call was called back already, at {when:%Y-%m-%d %H:%M}.")
    line = PhoneLine.objects.filter(number=original.dialled_number).first()
    if line is None or not line.outbound_trunk_id:
        raise CallbackRefused(
            "The line this call came in on has no outbound trunk: add the provider's "
            "outbound address to the phone line in the admin."
        )
    if not line.allowed_addresses.strip():
        raise CallbackRefused(CALLBACKS_NEED_ALLOWED_ADDRESSES)
    return line
