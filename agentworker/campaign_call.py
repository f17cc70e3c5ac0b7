"""A campaign's call as the agent makes it: once a person answers, it asks whether it speaks to
the contact, says who calls, that it is the desk's automated assistant and (when calls are
recorded) that the call is recorded, and why it calls; it then follows the campaign's brief.
A voicemail box hears the campaign's message, or who called, why, and the number to call."""

from __future__ import annotations

from django.conf import settings

from agentworker.dial_out import DialScript, left_on_voicemail
from callcenter.models import Call
from campaigns.models import Attempt, Campaign
from telephony.models import PhoneLine


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
        "and end the call politely. Offer appointment slots with your tools when they want one."
    )
    voicemail = campaign.voicemail_message or left_on_voicemail(
        f"Hello, this is {settings.SERVICE_DESK_NAME} calling {contact.name} about their "
        f"{purpose}.",
        line,
    )
    return DialScript(
        greeting=greeting, instructions=placed, voicemail=voicemail, called="Campaign call"
    )
