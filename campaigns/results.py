"""A campaign's results: its figures (progress, reached, booked, conversion, each outcome) and
its contacts as the results page lists them and its CSV export writes them, under the same
filters (state, outcome)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet

from appointments.models import mask_number
from campaigns.models import Attempt, Campaign, Contact


class BadFilter(ValueError):
    """A filter the results cannot apply; the message says which values it takes."""


@dataclass(frozen=True)
class Figures:
    contacts: int
    done: int
    on_call: int
    waiting: int
    reached: int  # a person answered at least once
    booked: int
    by_outcome: dict[str, int]

    @property
    def progress(self) -> float:
        """Share of contacts done, in percent."""
        return round(100 * self.done / self.contacts, 1) if self.contacts else 0.0

    @property
    def conversion(self) -> float:
        """Bookings per contact reached, in percent."""
        return round(100 * self.booked / self.reached, 1) if self.reached else 0.0


def answered_once() -> Exists:
    return Exists(Attempt.objects.filter(contact=OuterRef("pk"), result="answered"))


def figures(campaign: Campaign) -> Figures:
    counts = campaign.contacts.aggregate(
        contacts=Count("pk"),
        done=Count("pk", filter=Q(state=Contact.State.DONE)),
        on_call=Count("pk", filter=Q(state=Contact.State.DIALLING)),
        waiting=Count("pk", filter=Q(state=Contact.State.WAITING)),
        reached=Count("pk", filter=answered_once()),
        booked=Count("pk", filter=Q(outcome=Contact.Outcome.BOOKED)),
    )
    outcomes = dict(
        campaign.contacts.exclude(outcome="")
        .values_list("outcome")
        .annotate(n=Count("pk"))
        .values_list("outcome", "n")
    )
    by_outcome = {label: outcomes.get(value, 0) for value, label in Contact.Outcome.choices}
    return Figures(**counts, by_outcome=by_outcome)


FILTERS = {"state": Contact.State, "outcome": Contact.Outcome}


def selected(campaign: Campaign, query) -> tuple[QuerySet, dict[str, str]]:
    """The campaign's contacts the ``query`` (a QueryDict: ``state``, ``outcome``) selects,
    with their attempts and calls; and the filters applied. ``BadFilter`` for an unknown
    value."""
    applied = {}
    contacts = campaign.contacts.order_by("pk")
    for name, choices in FILTERS.items():
        value = query.get(name, "")
        if not value:
            continue
        if value not in choices.values:
            known = ", ".join(choices.values)
            raise BadFilter(f"“{value[:40]}” is no {name} of a contact: give one of {known}.")
        applied[name] = value
        contacts = contacts.filter(**{name: value})
    attempts = Prefetch(  # the calls by their ids only: their rows are large
        "attempts_made",
        queryset=Attempt.objects.only("contact_id", "call_id", "number", "result", "started_at"),
    )
    return contacts.prefetch_related(attempts), applied


HEADER = ["name", "phone", "state", "outcome", "note", "attempts", "calls", "last result"]


def row(contact: Contact, show_numbers: bool) -> list:
    """A contact as the export writes it; its calls by their ids (history: /history/<id>)."""
    attempts = list(contact.attempts_made.all())
    return [
        contact.name,
        contact.phone if show_numbers else mask_number(contact.phone),
        contact.get_state_display(),
        contact.get_outcome_display(),
        contact.note,
        contact.attempts,
        " ".join(str(attempt.call_id) for attempt in attempts),
        attempts[-1].result if attempts else "",
    ]
