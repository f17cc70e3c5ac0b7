"""Every change of a handoff, in one place: asked for, rung, accepted, declined, rung out,
handed back, ended, left for a callback.

Exactly-once comes from PostgreSQL: a ring locks the handoff and the person it rings with
``SELECT … FOR UPDATE SKIP LOCKED`` in one transaction, so two web hosts, agent jobs or desk
pages ringing at once never ring one handoff at two desks, nor one person for two handoffs.
Anything may call ``route`` at any time (an agent job waiting for a person, a desk page that
pings): each pass rings out the offers whose time is up and rings whoever is free.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from callcenter.models import Call
from desk.models import DeskPerson, Handoff, HandoffOffer

logger = logging.getLogger(__name__)

# Handoffs looked at in one ring pass: the oldest waiting ones, longest wait first.
RING_PASS = 20


class HandoffRefused(Exception):
    """A desk action that cannot be done; the message says why, for the person."""


@dataclass(frozen=True)
class Ring:
    """One handoff rung at one person's desk."""

    handoff_id: int
    user_id: int


def ring_seconds() -> timedelta:
    return timedelta(seconds=settings.HANDOFF_RING_SECONDS)


def open_handoff(call: Call, reason: str, brief: dict) -> Handoff:
    """The agent asked for a person: the call's handoff, queued (the one already waiting or
    with a person, if the agent asks again)."""
    try:
        with transaction.atomic():
            return Handoff.objects.create(call=call, reason=reason[:200], brief=brief)
    except IntegrityError:  # one open handoff per call: it is already asked for
        return Handoff.objects.get(call=call, status__in=[*Handoff.WAITING, "accepted"])


def anyone_at_the_desk(now: datetime | None = None) -> bool:
    """Whether anybody could be rung: available with their page there (busy or not)."""
    now = now or timezone.now()
    return DeskPerson.present(now).filter(available=True).exists()


def route(now: datetime | None = None) -> set[int]:
    """One pass of the desk: ring out the offers whose time is up, then ring whoever is free.
    Returns the people (user ids) whose desk changed: the desk pages are then told."""
    now = now or timezone.now()
    missed = ring_out(now)
    return {*missed, *(ring.user_id for ring in ring_next(now))}


def ring_next(now: datetime | None = None) -> list[Ring]:
    """Ring free people for waiting handoffs: the longest-waiting handoff first, each at the
    desk of the free person idle longest who has not declined or missed it. Returns the rings
    made."""
    now = now or timezone.now()
    rings = []
    while (ring := _ring_one(now)) is not None:
        rings.append(ring)
    return rings


def _ring_one(now: datetime) -> Ring | None:
    with transaction.atomic():
        waiting = (
            Handoff.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=Handoff.Status.QUEUED, call__status__in=Call.LIVE_STATUSES)
            .order_by("requested_at")[:RING_PASS]
        )
        for handoff in waiting:
            person = (
                DeskPerson.free(now)
                .select_for_update(skip_locked=True, of=("self",))
                .exclude(user_id__in=handoff.offers.values("person_id"))
                .order_by("idle_since")
                .first()
            )
            if person is None:
                continue
            HandoffOffer.objects.create(handoff=handoff, person_id=person.user_id, offered_at=now)
            handoff.status = Handoff.Status.RINGING
            handoff.offered_to_id = person.user_id
            handoff.offer_expires_at = now + ring_seconds()
            handoff.save(update_fields=["status", "offered_to", "offer_expires_at"])
            DeskPerson.objects.filter(pk=person.pk).update(handoff=handoff)
            return Ring(handoff.pk, person.user_id)
    return None


def ring_out(now: datetime | None = None) -> list[int]:
    """Offers nobody answered in time go back to the queue; whoever let one ring out is set
    away (they are not at their desk), so the next handoff does not ring them again. Returns
    who missed one."""
    now = now or timezone.now()
    with transaction.atomic():
        expired = list(
            Handoff.objects.select_for_update(skip_locked=True, of=("self",)).filter(
                status=Handoff.Status.RINGING, offer_expires_at__lt=now
            )
        )
        missed = []
        for handoff in expired:
            DeskPerson.objects.filter(handoff=handoff).update(available=False)
            missed.append(_unring(handoff, HandoffOffer.Answer.TIMED_OUT, now))
    return [user_id for user_id in missed if user_id is not None]


def _unring(handoff: Handoff, answer: str, now: datetime, status: str = "queued") -> int | None:
    """Close the handoff's ringing offer with ``answer``; the handoff goes to ``status``.
    Returns who it was ringing, if anybody."""
    was_ringing = handoff.offered_to_id
    handoff.offers.filter(answer="").update(answer=answer, answered_at=now)
    DeskPerson.objects.filter(handoff=handoff).update(handoff=None)
    handoff.status = status
    handoff.offered_to = None
    handoff.offer_expires_at = None
    fields = ["status", "offered_to", "offer_expires_at"]
    if status not in Handoff.WAITING:
        handoff.finished_at = now
        fields.append("finished_at")
    handoff.save(update_fields=fields)
    return was_ringing


def _locked(handoff_id: int, **conditions) -> Handoff | None:
    return (
        Handoff.objects.select_for_update(of=("self",))
        .filter(pk=handoff_id, **conditions)
        .select_related("call")
        .first()
    )


def accept(handoff_id: int, user) -> Handoff:
    """``user`` takes the handoff ringing at their desk: it is theirs, and so is the call
    (its controller, whose lease their desk page renews). HandoffRefused says why not."""
    now = timezone.now()
    with transaction.atomic():
        handoff = _locked(handoff_id)
        if handoff is None:
            raise HandoffRefused("There is no such handoff.")
        if handoff.status != Handoff.Status.RINGING or handoff.offered_to_id != user.pk:
            raise HandoffRefused("This handoff is no longer ringing at your desk.")
        if not handoff.call.is_live:
            _unring(handoff, HandoffOffer.Answer.WITHDRAWN, now, Handoff.Status.ABANDONED)
            raise HandoffRefused("The caller has hung up.")
        if not handoff.call.take_over(user, now):
            raise HandoffRefused(
                f"{handoff.call.controller.get_username()} has taken this call over."
            )
        handoff.offers.filter(answer="").update(
            answer=HandoffOffer.Answer.ACCEPTED, answered_at=now
        )
        handoff.status = Handoff.Status.ACCEPTED
        handoff.accepted_by = user
        handoff.accepted_at = now
        handoff.offer_expires_at = None
        handoff.save(update_fields=["status", "accepted_by", "accepted_at", "offer_expires_at"])
    return handoff


def decline(handoff_id: int, user) -> Handoff:
    """``user`` passes the handoff ringing at their desk on: it rings the next person."""
    with transaction.atomic():
        handoff = _locked(handoff_id, status=Handoff.Status.RINGING, offered_to=user)
        if handoff is None:
            raise HandoffRefused("This handoff is no longer ringing at your desk.")
        _unring(handoff, HandoffOffer.Answer.DECLINED, timezone.now())
    return handoff


def _done_with_person(handoff_id: int, user, status: str) -> Handoff:
    now = timezone.now()
    with transaction.atomic():
        handoff = _locked(handoff_id, status=Handoff.Status.ACCEPTED)
        if handoff is None or (handoff.accepted_by_id != user.pk and not user.is_superuser):
            raise HandoffRefused("You are not on this call.")
        handoff.status = status
        handoff.finished_at = now
        handoff.save(update_fields=["status", "finished_at"])
        DeskPerson.objects.filter(handoff=handoff).update(handoff=None, idle_since=now)
        handoff.call.release_control(handoff.accepted_by_id)
    return handoff


def hand_back(handoff_id: int, user) -> Handoff:
    """The person gives the call back to the agent, which picks up where they left off."""
    return _done_with_person(handoff_id, user, Handoff.Status.RETURNED)


def end_with_person(handoff_id: int, user) -> Handoff:
    """The person ends the call (the caller's room is closed by the caller of this)."""
    return _done_with_person(handoff_id, user, Handoff.Status.ENDED)


def person_gone(call_id) -> int | None:
    """The desk page of the person on the call stopped renewing its lease (closed, offline):
    the agent has the call back (its job says so), the handoff counts as handed back, and the
    person is set away until they say otherwise. Returns who it was; None when nobody from
    the desk had the call."""
    now = timezone.now()
    with transaction.atomic():
        handoff = (
            Handoff.objects.select_for_update(of=("self",))
            .filter(call_id=call_id, status=Handoff.Status.ACCEPTED)
            .first()
        )
        if handoff is None:
            return None
        handoff.status = Handoff.Status.RETURNED
        handoff.finished_at = now
        handoff.save(update_fields=["status", "finished_at"])
        DeskPerson.objects.filter(handoff=handoff).update(
            handoff=None, idle_since=now, available=False
        )
    return handoff.accepted_by_id


def to_callback(handoff_id: int) -> list[int] | None:
    """Nobody took the caller in time: the handoff stays in the queue as a callback task
    with its brief. Returns who it was ringing (they are free again), or None when a person
    took it meanwhile."""
    with transaction.atomic():
        handoff = _locked(handoff_id, status__in=Handoff.WAITING)
        if handoff is None:
            return None
        was_ringing = _unring(
            handoff, HandoffOffer.Answer.WITHDRAWN, timezone.now(), Handoff.Status.CALLBACK
        )
    return [was_ringing] if was_ringing is not None else []


def called_back(handoff_id: int, user) -> Handoff:
    """Someone at the desk called the customer of a callback task back: the task is done."""
    with transaction.atomic():
        handoff = _locked(handoff_id, status=Handoff.Status.CALLBACK)
        if handoff is None:
            raise HandoffRefused("This callback task is done already.")
        handoff.status = Handoff.Status.CALLED_BACK
        handoff.called_back_by = user
        handoff.called_back_at = timezone.now()
        handoff.save(update_fields=["status", "called_back_by", "called_back_at"])
    return handoff


def call_finished(call_id) -> list[int] | None:
    """The call ended: a caller still waiting abandoned their handoff; one with a person
    ended it; whoever it rang or was with is free again. Returns those people, or None when
    the call had no handoff open."""
    now = timezone.now()
    with transaction.atomic():
        handoffs = list(
            Handoff.objects.select_for_update(of=("self",)).filter(
                call_id=call_id, status__in=[*Handoff.WAITING, Handoff.Status.ACCEPTED]
            )
        )
        freed = []
        for handoff in handoffs:
            if handoff.status == Handoff.Status.ACCEPTED:
                handoff.status = Handoff.Status.ENDED
                handoff.finished_at = now
                handoff.save(update_fields=["status", "finished_at"])
                DeskPerson.objects.filter(handoff=handoff).update(handoff=None, idle_since=now)
                freed.append(handoff.accepted_by_id)
            else:
                done = Handoff.Status.ABANDONED
                freed.append(_unring(handoff, HandoffOffer.Answer.WITHDRAWN, now, done))
    return [user_id for user_id in freed if user_id is not None] if handoffs else None
