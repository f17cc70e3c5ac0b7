"""A campaign's call as the agent makes it: once a person answers, it asks whether it speaks to
the contact, says who calls, that it is the desk's automated assistant and (when calls are
recorded) that the call is recorded, and why it calls; it then follows the campaign's brief.
A voicemail box hears the campaign's message, or who called, why, and the number to call.

What the person answering decides, the agent records with the call's own tools
(``ContactTools``): don't call again, call at another time, wrong number, not interested. They
act on this call's contact only: no tool takes a number or a contact, since the person on the
line steers the model. The dialler applies the decision once the call has ended
(``Contact.settle``).
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from livekit.agents import RunContext, function_tool, llm

from agentworker.dial_out import DialScript, left_on_voicemail
from appointments.calendar import UnclearDate, When, resolve_when
from callcenter.models import Call
from campaigns.models import Attempt, Campaign, Contact, DoNotCall
from telephony.models import PhoneLine

# "In 2 hours", "in 20 minutes", "in an hour", "in half an hour": from now, not a day's part.
RELATIVE = re.compile(r"\bin\s+(half an|an|a|\d{1,3})\s*(hours?|minutes?|mins?)\b", re.IGNORECASE)


def _span(found: re.Match) -> timedelta:
    count, unit = found.group(1).lower(), found.group(2).lower()
    number = {"half an": 0.5, "an": 1, "a": 1}.get(count) or int(count)
    return timedelta(hours=number) if unit.startswith("hour") else timedelta(minutes=number)


# A call put off is made no sooner than this, and no later than the horizon.
LATER_NOTICE = timedelta(minutes=15)
LATER_HORIZON = timedelta(days=30)


def disclosure() -> str:
    recorded = settings.RECORDING_MODE != "off"
    return f"you are {settings.SERVICE_DESK_NAME}'s automated assistant" + (
        " and that the call is recorded" if recorded else ""
    )


async def campaign_script(call: Call, line: PhoneLine | None, instructions: str) -> DialScript:
    attempt = await Attempt.objects.select_related("contact__campaign", "contact__vehicle").aget(
        call=call
    )
    contact, campaign = attempt.contact, attempt.contact.campaign
    about = f" about their {contact.vehicle.title}" if contact.vehicle else ""
    purpose = Campaign.Purpose(campaign.purpose).label.lower()
    greeting = (
        f"You are calling {contact.name}{about} ({purpose}). First ask whether you are speaking "
        f"to {contact.name}. Once they say yes, say that {disclosure()}, and why you call."
    )
    placed = (
        f"{instructions}\nThis is a call you placed for the campaign “{campaign.name}” "
        f"({purpose}): {campaign.brief}\nBefore you talk about the vehicle, make sure you speak "
        f"to {contact.name}: if it is someone else, apologise, say nothing about the vehicle "
        "and end the call politely (wrong_number when nobody of that name is there). Offer "
        "appointment slots with your tools when they want one. If they ask not to be called "
        "again, use do_not_call_again; if now is not a good time, ask when suits them and use "
        "call_back_later; if they do not want it, use not_interested."
    )
    voicemail = campaign.voicemail_message or left_on_voicemail(
        f"Hello, this is {settings.SERVICE_DESK_NAME} calling {contact.name} about their "
        f"{purpose}.",
        line,
    )
    return DialScript(
        greeting=greeting, instructions=placed, voicemail=voicemail, called="Campaign call"
    )


async def contact_tools_for(call: Call) -> list[llm.Toolset]:
    """The campaign tools of ``call``: none unless a campaign placed it."""
    contact_id = (
        await Attempt.objects.filter(call=call).values_list("contact_id", flat=True).afirst()
    )
    return [] if contact_id is None else [ContactTools(contact_id)]


def call_later_time(phrase: str, contact: Contact, now: datetime) -> datetime:
    """When to call ``contact`` again for ``phrase`` ("Thursday after 5 pm"), in their own time
    zone and the campaign's calling window; ``UnclearDate`` says what to ask instead."""
    campaign, zone = contact.campaign, ZoneInfo(contact.time_zone)
    if relative := RELATIVE.search(phrase or ""):  # "in 2 hours", "in half an hour"
        moment = timezone.localtime(now + _span(relative), zone).replace(microsecond=0)
        exactly = moment.time()  # that time or a minute later, never moved into the window
        later = (moment + timedelta(minutes=1)).time() if exactly < time(23, 59) else exactly
        when = When(day=moment.date(), earliest=exactly, latest=later)
    else:
        when = resolve_when(phrase, zone, now)
    start, until = (
        max(when.earliest, campaign.calling_from),
        min(when.latest, campaign.calling_until),
    )
    window = f"{campaign.calling_from:%H:%M} and {campaign.calling_until:%H:%M}"
    if start >= until:
        raise UnclearDate(
            f"We may call them only between {window}, their time. Ask for a time in those hours."
        )
    moment = datetime.combine(when.day, start, zone)
    soonest = timezone.localtime(now + LATER_NOTICE, zone)
    if moment < soonest:
        if soonest.date() != when.day or soonest.time() >= until:
            raise UnclearDate("That time has passed. Ask for a later day or time.")
        moment = soonest
    if not campaign.line.is_open(moment):
        raise UnclearDate(
            f"Nobody calls from this line then: it is open {campaign.line.hours_spoken}. Ask "
            "for a time in those hours."
        )
    if moment > now + LATER_HORIZON:
        raise UnclearDate(
            f"That is more than {LATER_HORIZON.days} days ahead. Ask for a time within a month, "
            "or offer to book an appointment now."
        )
    return moment


class CallEnded(Exception):
    """The contact's call has been settled: nothing more is recorded on it."""


class ContactTools(llm.Toolset):
    """What the person answering a campaign call decides, for the call's contact only. Each
    tool changes the contact in one transaction under its row lock (``_record``)."""

    def __init__(self, contact_id: int) -> None:
        super().__init__(id="campaign_contact")
        self.contact_id = contact_id

    async def _record(self, change, *args):
        """``change(contact, *args)`` on the locked contact while its call is on; (its answer,
        None), or (None, what the agent is told instead)."""

        @transaction.atomic
        def locked():
            contact = (
                Contact.objects.select_for_update(of=("self",))
                .select_related("campaign__line")
                .filter(pk=self.contact_id, state=Contact.State.DIALLING)
                .first()
            )
            if contact is None:  # the dialler settles it once the call has ended
                raise CallEnded("The call has ended: nothing more can be recorded on it.")
            return change(contact, *args)

        try:
            return await sync_to_async(locked)(), None
        except (CallEnded, UnclearDate) as refused:
            return None, str(refused)

    @function_tool
    async def do_not_call_again(self, context: RunContext) -> str:
        """The person asks not to be called again: their number goes on the do-not-call list,
        and no campaign of the desk calls it again."""
        _, refused = await self._record(_do_not_call)
        return refused or (
            "Their number is on the do-not-call list now. Tell them they will not be called "
            "again, apologise for the disturbance, and say goodbye."
        )

    @function_tool
    async def call_back_later(self, context: RunContext, when: str) -> str:
        """The person asks to be called at another time.

        Args:
            when: The day and time they asked for, with am or pm, e.g. "Thursday at 5 pm",
                "tomorrow morning".
        """
        moment, refused = await self._record(_call_later, when, timezone.now())
        return refused or (
            f"The call is put off to {moment:%A %d %B at %H:%M} their time. Tell them when you "
            "will call, thank them, and say goodbye."
        )

    @function_tool
    async def wrong_number(self, context: RunContext) -> str:
        """Nobody of the contact's name can be reached at this number: the desk stops calling
        it for this campaign."""
        _, refused = await self._record(
            Contact.decide, Contact.Outcome.WRONG_PERSON, "Wrong number."
        )
        return refused or (
            "Noted. Apologise for the disturbance and say goodbye; say nothing of the vehicle."
        )

    @function_tool
    async def not_interested(self, context: RunContext, reason: str = "") -> str:
        """The contact does not want what the call offers; the desk stops calling them for this
        campaign.

        Args:
            reason: Their reason in a few words, if they gave one.
        """
        note = " ".join(reason.split())[:150]
        _, refused = await self._record(
            Contact.decide, Contact.Outcome.DECLINED, note and f"Said: {note}"
        )
        return refused or "Noted. Thank them for their time and say goodbye."


def _do_not_call(contact: Contact) -> None:
    reason = f"Asked on a call of the campaign “{contact.campaign}”."
    DoNotCall.objects.get_or_create(number=contact.phone, defaults={"reason": reason})
    contact.decide(Contact.Outcome.DO_NOT_CALL, "Asked not to be called again.")


def _call_later(contact: Contact, phrase: str, now: datetime) -> datetime:
    if contact.later_asked >= Contact.MAX_LATER:
        raise UnclearDate(
            f"The call was put off {contact.later_asked} times already, the most the desk does. "
            "Offer to book an appointment now, or tell them they can call the desk when it "
            "suits them."
        )
    moment = call_later_time(phrase, contact, now)
    contact.decide(Contact.Outcome.CALL_LATER, f"Asked to be called: {phrase[:80]}", moment)
    return timezone.localtime(moment, ZoneInfo(contact.time_zone))
