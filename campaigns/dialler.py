"""The dialler: places each running campaign's due calls, paced, in the window, never to a
number on the do-not-call list, and settles each call's attempt once the call has ended.

Several diallers may run at once, on several hosts (``manage.py run_campaigns``): PostgreSQL's
row locks keep them apart, no queue of our own. A dialler paces a campaign only while it holds
the campaign's row (``SELECT … FOR UPDATE SKIP LOCKED``: another dialler moves on to the next
campaign), and a contact is marked as on a call in the same transaction, so no contact is
dialled twice and no campaign's pacing is exceeded, whatever the number of diallers.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from asgiref.sync import async_to_sync
from django.db import transaction
from django.utils import timezone

from appointments.models import Appointment
from callcenter.agent_dispatch import dispatch_agent
from callcenter.job_request import JobRequest
from callcenter.live_updates import announce_call_change
from callcenter.models import Call, CallEvent
from campaigns.models import Attempt, Campaign, Contact, DoNotCall

logger = logging.getLogger(__name__)

# A contact outside the calling window is looked at again this much later.
WINDOW_RECHECK = timedelta(minutes=10)
SKIPPED = "Skipped: the number is on the do-not-call list."


def place_due_calls(now: datetime | None = None) -> list[Attempt]:
    """Dial what is due in every running campaign; the attempts started."""
    now = now or timezone.now()
    placed: list[Attempt] = []
    running = Campaign.objects.filter(status=Campaign.Status.RUNNING).values_list("pk", flat=True)
    for campaign_id in list(running):
        placed += _place_for(campaign_id, now)
    for attempt in placed:  # outside the transaction: LiveKit is slow next to a row lock
        _dispatch(attempt, now)
    return placed


def _place_for(campaign_id: int, now: datetime) -> list[Attempt]:
    with transaction.atomic():
        campaign = (
            Campaign.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("line")
            .filter(pk=campaign_id, status=Campaign.Status.RUNNING)
            .first()
        )
        if campaign is None:
            return []  # another dialler paces it right now, or it was paused meanwhile
        on_calls = campaign.contacts.filter(state=Contact.State.DIALLING).count()
        last_minute = Attempt.objects.filter(
            contact__campaign=campaign, started_at__gt=now - timedelta(minutes=1)
        ).count()
        room = min(
            campaign.max_concurrent_calls - on_calls, campaign.calls_per_minute - last_minute
        )
        placed: list[Attempt] = []
        if room <= 0:
            return placed
        due = list(
            campaign.contacts.select_for_update(skip_locked=True, of=("self",))
            .filter(state=Contact.State.WAITING, next_attempt_at__lte=now)
            .select_related("vehicle")
            .order_by("next_attempt_at", "pk")[: room * 5]
        )
        barred = set(
            DoNotCall.objects.filter(number__in=[c.phone for c in due]).values_list(
                "number", flat=True
            )
        )
        for contact in due:
            if len(placed) == room:
                break
            if contact.phone in barred:
                contact.close(Contact.Outcome.DO_NOT_CALL, SKIPPED)
            elif not campaign.in_window(contact, now):
                contact.next_attempt_at = now + WINDOW_RECHECK
                contact.save(update_fields=["next_attempt_at", "updated_at"])
            else:
                placed.append(_start_attempt(campaign, contact, now))
        return placed


def _start_attempt(campaign: Campaign, contact: Contact, now: datetime) -> Attempt:
    call = Call.objects.create(
        channel=Call.Channel.PHONE, caller=contact.phone, dialled_number=campaign.line.number,
        vehicle=contact.vehicle, origin=Call.Origin.CAMPAIGN,
    )  # fmt: skip
    contact.attempts += 1
    contact.state = Contact.State.DIALLING
    contact.outcome = contact.note = ""  # what this call decides, or how its dial ends
    contact.save(update_fields=["attempts", "state", "outcome", "note", "updated_at"])
    return Attempt.objects.create(
        contact=contact, call=call, number=contact.attempts, started_at=now
    )


def _dispatch(attempt: Attempt, now: datetime) -> None:
    call = attempt.call
    announce_call_change(call.pk)
    try:
        async_to_sync(dispatch_agent)(call.room_name, JobRequest.campaign_call(call))
    except Exception as error:  # LiveKit away: the contact waits for the next round
        logger.warning("campaign call %s not started: %s", call.pk, error)
        call.mark_ended(failed_reason=f"Campaign call not started: {error}")
        announce_call_change(call.pk)
        with transaction.atomic():
            contact = Contact.objects.select_for_update().get(pk=attempt.contact_id)
            Attempt.objects.filter(pk=attempt.pk).update(result="not started")
            contact.attempts -= 1
            contact.state = Contact.State.WAITING
            contact.next_attempt_at = now + timedelta(minutes=1)
            contact.save(update_fields=["attempts", "state", "next_attempt_at", "updated_at"])


def settle_ended_calls(now: datetime | None = None) -> int:
    """Give each contact whose call has ended its outcome, or its next attempt."""
    now = now or timezone.now()
    settled = 0
    with transaction.atomic():
        ended = (
            Attempt.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(result="")
            .exclude(call__status__in=Call.LIVE_STATUSES)
            .select_related("call", "contact__campaign")
        )
        for attempt in ended:
            _settle(attempt, now)
            settled += 1
    return settled


def dial_result(call: Call) -> str:
    """How the dial of ``call`` ended, as the job recorded it (``agentworker.dial_out``)."""
    event = call.events.filter(type=CallEvent.Type.CALLBACK).order_by("-sequence").first()
    return str((event.payload or {}).get("result", "")) if event else "failed"


def _settle(attempt: Attempt, now: datetime) -> None:
    result = dial_result(attempt.call)
    attempt.result = result
    attempt.save(update_fields=["result"])
    contact = (
        Contact.objects.select_for_update().select_related("campaign").get(pk=attempt.contact_id)
    )
    if contact.state != Contact.State.DIALLING:  # closed by staff meanwhile
        return
    booked = Appointment.objects.active().filter(call=attempt.call).exists()
    contact.settle(result, booked, now)


def run_once(now: datetime | None = None) -> int:
    """One round of the dialler: settle what ended, then dial what is due."""
    settle_ended_calls(now)
    return len(place_due_calls(now))
