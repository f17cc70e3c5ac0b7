"""The agent's brief for the person who takes a handoff: who the caller is, the vehicle, what
they want, what the agent already did, and what they said last, so the caller never has to
repeat themselves. Read from the call's record (its events and transcript), as stored when the
agent asked for a person."""

from __future__ import annotations

from typing import Any

from callcenter.models import Call, CallEvent, TranscriptSegment

# The caller's last words the brief quotes, and the most of the agent's actions it lists.
LAST_WORDS = 3
MOST_DONE = 12
# Tool calls that did something worth telling (a lookup, a registration, a booking);
# asking for a person is the handoff itself.
NOT_WORTH_TELLING = {"request_human"}


def brief_for(call_id, reason: str) -> dict[str, Any]:
    """The brief as a dict (stored on the handoff, shown on the desk page) with its ``text``,
    the same in sentences (for reading aloud)."""
    call = Call.objects.select_related("vehicle").get(pk=call_id)
    done = [
        event.describe()
        for event in call.events.filter(type=CallEvent.Type.TOOL_CALL).order_by("sequence")
        if (event.payload or {}).get("name") not in NOT_WORTH_TELLING
    ][-MOST_DONE:]
    said = list(
        call.segments.filter(speaker=TranscriptSegment.Speaker.CUSTOMER)
        .order_by("-sequence")
        .values_list("text", flat=True)[:LAST_WORDS]
    )[::-1]
    who = (
        f"Phone caller {call.caller_shown}"
        if call.channel == Call.Channel.PHONE
        else "A caller on the web page"
    )
    vehicle = call.vehicle.describe() if call.vehicle else ""
    brief = {
        "who": who,
        "vehicle": vehicle,
        "wants": reason,
        "done": done,
        "last_words": said,
    }
    brief["text"] = _sentences(brief)
    # What the person hears before the agent introduces them: short, since the caller waits
    # meanwhile; the rest is on their page.
    brief["spoken"] = (
        f"{who}, {vehicle or 'vehicle not identified'}. They want: {reason or 'a person'}."
    )
    return brief


def _sentences(brief: dict[str, Any]) -> str:
    parts = [f"{brief['who']}.", f"Vehicle: {brief['vehicle'] or 'not identified yet'}."]
    parts.append(f"Wants: {brief['wants'] or 'a person'}.")
    if brief["done"]:
        parts.append("The agent has: " + " ".join(brief["done"]))
    else:
        parts.append("The agent has done nothing for them yet.")
    if brief["last_words"]:
        parts.append("They said last: " + " ".join(f"“{w}”" for w in brief["last_words"]))
    return " ".join(parts)
