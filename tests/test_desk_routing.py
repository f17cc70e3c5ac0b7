"""Who a handoff rings, on PostgreSQL's row locks: the longest-waiting caller first, at the
desk of the person idle longest; decline and ringing out pass it on; one handoff never rings
two people, nor one person two handoffs, with many ringing at once; a caller nobody takes
becomes a callback task; a caller who hangs up abandons theirs."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.utils import timezone

from callcenter.models import Call
from desk import routing
from desk.models import DeskPerson, Handoff, HandoffOffer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("row locks (SKIP LOCKED) need PostgreSQL: run `make services`")


def person(django_user_model, name: str, idle_minutes: float = 0, available=True) -> DeskPerson:
    user = django_user_model.objects.create_user(name, first_name=name.title(), is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="answer_handoffs"))
    now = timezone.now()
    return DeskPerson.objects.create(
        user=user,
        available=available,
        seen_at=now,
        idle_since=now - timedelta(minutes=idle_minutes),
    )


def handoff(waited_seconds: float = 0, reason: str = "asked for a person") -> Handoff:
    call = Call.objects.create(status=Call.Status.ACTIVE)
    made = routing.open_handoff(call, reason, {"wants": reason})
    Handoff.objects.filter(pk=made.pk).update(
        requested_at=timezone.now() - timedelta(seconds=waited_seconds)
    )
    return Handoff.objects.get(pk=made.pk)


def rings_at(made: Handoff) -> str | None:
    made.refresh_from_db()
    return made.offered_to.username if made.status == Handoff.Status.RINGING else None


def test_the_longest_waiting_caller_rings_at_the_desk_of_the_person_idle_longest(
    django_user_model,
):
    person(django_user_model, "ann", idle_minutes=1)
    person(django_user_model, "bob", idle_minutes=30)
    person(django_user_model, "cem", idle_minutes=5, available=False)
    newer, older = handoff(waited_seconds=5), handoff(waited_seconds=40)

    rings = routing.ring_next()

    assert rings_at(older) == "bob" and rings_at(newer) == "ann"
    assert [r.handoff_id for r in rings] == [older.pk, newer.pk]
    assert DeskPerson.objects.get(user__username="bob").handoff_id == older.pk
    # Nobody is free any more: a third caller waits in the queue.
    third = handoff()
    assert routing.ring_next() == []
    assert third.status == Handoff.Status.QUEUED


def test_a_decline_rings_the_next_person_and_never_the_one_who_declined(django_user_model):
    ann = person(django_user_model, "ann", idle_minutes=10)
    person(django_user_model, "bob", idle_minutes=1)
    made = handoff()
    routing.ring_next()
    assert rings_at(made) == "ann"

    routing.decline(made.pk, ann.user)
    routing.ring_next()

    assert rings_at(made) == "bob"
    answers = list(made.offers.values_list("person__username", "answer"))
    assert answers == [("ann", HandoffOffer.Answer.DECLINED), ("bob", "")]
    routing.decline(made.pk, DeskPerson.objects.get(user__username="bob").user)
    assert routing.ring_next() == []  # both passed: it waits for someone else
    made.refresh_from_db()
    assert made.status == Handoff.Status.QUEUED
    with pytest.raises(routing.HandoffRefused, match="no longer ringing"):
        routing.accept(made.pk, ann.user)


def test_an_offer_nobody_answers_rings_out_to_the_next_and_sets_the_missed_person_away(
    django_user_model, settings
):
    settings.HANDOFF_RING_SECONDS = 20
    person(django_user_model, "ann", idle_minutes=10)
    person(django_user_model, "bob", idle_minutes=1)
    made = handoff()
    start = timezone.now()
    routing.route(start)
    assert rings_at(made) == "ann"

    assert routing.route(start + timedelta(seconds=19)) == set()  # still ringing
    assert rings_at(made) == "ann"
    bob = DeskPerson.objects.get(user__username="bob")
    ann = DeskPerson.objects.get(user__username="ann")
    assert routing.route(start + timedelta(seconds=21)) == {ann.user_id, bob.user_id}

    assert rings_at(made) == "bob"
    ann = DeskPerson.objects.get(user__username="ann")
    assert not ann.available and ann.handoff_id is None
    assert made.offers.get(person__username="ann").answer == HandoffOffer.Answer.TIMED_OUT


def test_a_person_whose_page_is_gone_is_not_rung(django_user_model):
    gone = person(django_user_model, "ann", idle_minutes=10)
    DeskPerson.objects.filter(pk=gone.pk).update(
        seen_at=timezone.now() - DeskPerson.PRESENCE_LEASE - timedelta(seconds=1)
    )
    made = handoff()
    assert routing.ring_next() == []
    assert not routing.anyone_at_the_desk()
    person(django_user_model, "bob")
    routing.ring_next()
    assert rings_at(made) == "bob"


def test_many_ringing_at_once_never_ring_one_handoff_twice_nor_one_person_twice(
    django_user_model,
):
    people = [person(django_user_model, f"p{n}", idle_minutes=n) for n in range(6)]
    handoffs = [handoff(waited_seconds=n) for n in range(10)]
    start = threading.Barrier(4)

    def one_host():
        try:
            start.wait()
            return [ring for _ in range(5) for ring in routing.ring_next()]
        finally:
            connection.close()

    with ThreadPoolExecutor(4) as hosts:
        rings = [
            ring for host in [hosts.submit(one_host) for _ in range(4)] for ring in host.result()
        ]

    assert len(rings) == len(people)  # everyone rung once, each for one handoff
    assert len({r.handoff_id for r in rings}) == len({r.user_id for r in rings}) == len(people)
    ringing = Handoff.objects.filter(status=Handoff.Status.RINGING)
    assert ringing.count() == len(people)
    assert HandoffOffer.objects.count() == len(people)
    # The six callers who waited longest are the ones ringing.
    longest = sorted(handoffs, key=lambda h: h.requested_at)[: len(people)]
    assert set(ringing.values_list("pk", flat=True)) == {h.pk for h in longest}


def test_accepting_makes_the_person_the_calls_controller_and_only_they_may(django_user_model):
    ann = person(django_user_model, "ann", idle_minutes=10)
    bob = person(django_user_model, "bob")
    made = handoff()
    routing.ring_next()
    with pytest.raises(routing.HandoffRefused, match="no longer ringing at your desk"):
        routing.accept(made.pk, bob.user)

    routing.accept(made.pk, ann.user)

    made.refresh_from_db()
    assert made.status == Handoff.Status.ACCEPTED and made.accepted_by == ann.user
    assert made.call.controller == ann.user
    with pytest.raises(routing.HandoffRefused, match="not on this call"):
        routing.hand_back(made.pk, bob.user)
    routing.hand_back(made.pk, ann.user)
    made.refresh_from_db()
    ann.refresh_from_db()
    assert made.status == Handoff.Status.RETURNED and made.call.controller is None
    assert ann.handoff_id is None and ann.idle_since >= made.accepted_at


def test_a_caller_nobody_took_becomes_a_callback_task_and_one_who_hangs_up_abandons(
    django_user_model,
):
    ann = person(django_user_model, "ann")
    waiting, ringing = handoff(waited_seconds=30), handoff()
    routing.ring_next()
    assert rings_at(waiting) == "ann"

    assert routing.to_callback(waiting.pk) == [ann.user_id]  # she is free again
    waiting.refresh_from_db()
    assert waiting.status == Handoff.Status.CALLBACK and waiting.brief
    assert routing.to_callback(waiting.pk) is None  # once
    routing.ring_next()  # ann is free again: the other caller rings
    assert rings_at(ringing) == "ann"

    Call.objects.filter(pk=ringing.call_id).update(status=Call.Status.ENDED)
    assert routing.call_finished(ringing.call_id) == [ann.user_id]
    assert routing.call_finished(ringing.call_id) is None  # nothing open any more
    ringing.refresh_from_db()
    ann.refresh_from_db()
    assert ringing.status == Handoff.Status.ABANDONED and ann.handoff_id is None
    assert ringing.offers.get().answer == HandoffOffer.Answer.WITHDRAWN


def test_asking_again_on_a_call_keeps_its_one_open_handoff():
    first = handoff(reason="warranty")
    again = routing.open_handoff(first.call, "still warranty", {})
    assert again.pk == first.pk
    assert Handoff.objects.count() == 1
