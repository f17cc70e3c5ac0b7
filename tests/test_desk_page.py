"""The desk page's socket and API: presence that survives a reload and lapses with the page,
the offer reaching the person it rings (from another process), a token for that room and
that person only, the supervisors' view of the desk, and the dashboard's handoff figures."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.utils import timezone
from livekit.api import TokenVerifier

from callcenter.history_views import dashboard_data
from callcenter.models import Call
from desk import routing
from desk.consumers import DeskConsumer
from desk.live import announce_desk_change
from desk.models import DeskPerson, Handoff
from monitoring.consumers import MonitorConsumer
from tests.support.monitor_socket import logged_in

pytestmark = pytest.mark.django_db(transaction=True)

KEY, SECRET = "APIdesk", "desk-secret-0123456789-0123456789-0123456"


@pytest.fixture(autouse=True)
def postgres_and_livekit(settings):
    if connection.vendor != "postgresql":
        pytest.skip("the desk's row locks need PostgreSQL: run `make services`")
    settings.LIVEKIT_URL = "wss://voice.example.com"
    settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = KEY, SECRET


def desk_user(name: str, **extra):
    user = get_user_model().objects.create_user(
        name, first_name=name.title(), password="pw 12345 secret", is_staff=True, **extra
    )
    user.user_permissions.add(Permission.objects.get(codename="answer_handoffs"))
    return user


def waiting_handoff(reason="warranty claim") -> Handoff:
    call = Call.objects.create(status=Call.Status.ACTIVE, caller="caller-0a1b2c3d4e5f")
    return routing.open_handoff(call, reason, {"who": "A caller", "wants": reason, "done": []})


async def desk_socket(user):
    communicator = WebsocketCommunicator(DeskConsumer.as_asgi(), "/ws/desk/")
    await logged_in(communicator, user)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def next_board(communicator, where=lambda board: True):
    """The page's board (its shared part and its person's, as the page merges them) once
    ``where`` holds for it: earlier changes' messages may still be on their way."""
    parts = getattr(communicator, "parts", {})
    communicator.parts = parts
    while True:
        message = await communicator.receive_json_from(timeout=5)
        if message["kind"] in ("desk", "mine"):
            parts[message["kind"]] = message
            board = {**parts.get("desk", {}), **parts.get("mine", {})}
            if len(parts) == 2 and where(board):
                return board


async def test_availability_survives_a_reload_and_lapses_when_the_page_is_gone():
    ann = await sync_to_async(desk_user)("ann")
    page = await desk_socket(ann)
    assert (await next_board(page))["me"]["available"] is False
    await page.send_json_to({"type": "available"})
    assert await next_board(page, lambda board: board["me"]["available"])
    await page.disconnect()

    reloaded = await desk_socket(ann)
    board = await next_board(reloaded, lambda board: board["summary"]["available"])
    assert board["me"]["available"] is True
    assert board["summary"]["available"] == ["Ann"]
    await reloaded.disconnect()

    # The page gone longer than the lease: still "available" by choice, but never rung.
    await DeskPerson.objects.filter(user=ann).aupdate(
        seen_at=timezone.now() - DeskPerson.PRESENCE_LEASE - timedelta(seconds=1)
    )
    made = await sync_to_async(waiting_handoff)()
    assert await sync_to_async(routing.ring_next)() == []
    assert not await sync_to_async(routing.anyone_at_the_desk)()
    assert (await Handoff.objects.aget(pk=made.pk)).status == Handoff.Status.QUEUED


async def test_a_handoff_rung_elsewhere_reaches_the_person_it_rings_with_the_brief():
    ann, bob = await sync_to_async(desk_user)("ann"), await sync_to_async(desk_user)("bob")
    pages = {}
    for user in (ann, bob):
        pages[user.username] = await desk_socket(user)
        await next_board(pages[user.username])
        await pages[user.username].send_json_to({"type": "available"})
        await next_board(pages[user.username], lambda board: board["me"]["available"])
    await DeskPerson.objects.filter(user=bob).aupdate(
        idle_since=timezone.now() - timedelta(hours=1)
    )

    # Rung by another process (an agent job), which only tells the desk group.
    made = await sync_to_async(waiting_handoff)()
    rung = await sync_to_async(routing.ring_next)()
    await announce_desk_change([ring.user_id for ring in rung])

    bobs = await next_board(pages["bob"], lambda board: board["current"])
    anns = await next_board(pages["ann"], lambda board: board["summary"]["queued"])
    assert bobs["current"]["id"] == made.pk and bobs["current"]["status"] == "ringing"
    assert bobs["current"]["brief"]["wants"] == "warranty claim"
    assert anns["current"] is None  # one handoff rings one desk
    assert [h["id"] for h in anns["queue"]] == [made.pk]
    assert anns["summary"]["queued"] == 1
    for page in pages.values():
        await page.disconnect()


def test_accepting_gives_a_token_for_that_room_and_person_and_a_second_accept_is_refused():
    ann, bob = desk_user("ann"), desk_user("bob")
    DeskPerson.of(ann).set_available(True)
    made = waiting_handoff()
    routing.ring_next()
    client = Client()
    client.force_login(bob)
    refused = client.post(f"/api/handoffs/{made.pk}/accept/")
    assert refused.status_code == 409
    assert refused.json()["detail"] == "This handoff is no longer ringing at your desk."

    client.force_login(ann)
    answer = client.post(f"/api/handoffs/{made.pk}/accept/").json()

    claims = TokenVerifier(KEY, SECRET).verify(answer["token"])
    assert claims.video.room == made.call.room_name and claims.video.room_join
    assert claims.video.can_publish and claims.video.can_publish_sources == ["microphone"]
    assert not claims.video.can_publish_data and not claims.video.hidden
    assert claims.identity.startswith(f"desk-{ann.pk}-") and claims.name == "Ann"
    assert answer["handoff"]["status"] == "accepted"
    assert answer["handoff"]["brief"]["wants"] == "warranty claim"
    again = client.post(f"/api/handoffs/{made.pk}/accept/")
    assert again.status_code == 409
    assert client.post("/api/handoffs/not-a-number/accept/").status_code == 409


def test_the_person_on_the_call_may_hand_back_and_nobody_else():
    ann, bob = desk_user("ann"), desk_user("bob")
    DeskPerson.of(ann).set_available(True)
    made = waiting_handoff()
    routing.ring_next()
    routing.accept(made.pk, ann)
    client = Client()
    client.force_login(bob)
    assert client.post(f"/api/handoffs/{made.pk}/hand-back/").json() == {
        "detail": "You are not on this call."
    }
    client.force_login(ann)
    assert client.post(f"/api/handoffs/{made.pk}/hand-back/").json()["status"] == "returned"
    made.call.refresh_from_db()
    assert made.call.controller is None


def test_when_the_persons_page_is_gone_the_handoff_is_handed_back_and_they_are_set_away():
    ann = desk_user("ann")
    DeskPerson.of(ann).set_available(True)
    made = waiting_handoff()
    routing.ring_next()
    routing.accept(made.pk, ann)

    assert routing.person_gone(made.call_id) == ann.pk

    made.refresh_from_db()
    person = DeskPerson.of(ann)
    assert made.status == Handoff.Status.RETURNED
    assert person.handoff_id is None and not person.available
    assert routing.person_gone(made.call_id) is None


async def test_supervisors_see_the_queue_its_longest_wait_and_who_is_available():
    sup = await sync_to_async(get_user_model().objects.create_user)(
        "sup", password="pw 12345 secret", is_staff=True, is_superuser=True
    )
    ann = await sync_to_async(desk_user)("ann")
    await sync_to_async(lambda: DeskPerson.of(ann).set_available(True))()
    monitor = WebsocketCommunicator(MonitorConsumer.as_asgi(), "/ws/monitor/")
    await logged_in(monitor, sup)
    assert (await monitor.connect())[0]
    snapshot = await monitor.receive_json_from()
    assert snapshot["desk"]["queued"] == 0 and snapshot["desk"]["available"] == ["Ann"]

    made = await sync_to_async(waiting_handoff)()
    await Handoff.objects.filter(pk=made.pk).aupdate(
        requested_at=timezone.now() - timedelta(seconds=75)
    )
    await sync_to_async(routing.ring_next)()
    await announce_desk_change()
    message = await monitor.receive_json_from(timeout=5)
    assert message["kind"] == "desk"
    assert message["desk"]["queued"] == 1 and message["desk"]["longest_wait_seconds"] >= 75
    assert message["desk"]["busy"] == ["Ann"] and message["desk"]["available"] == []
    await monitor.disconnect()


def test_the_dashboard_counts_handoffs_answered_abandoned_and_left_for_a_callback():
    ann = desk_user("ann")
    DeskPerson.of(ann).set_available(True)
    answered, abandoned, callback = waiting_handoff(), waiting_handoff(), waiting_handoff()
    Handoff.objects.filter(pk=answered.pk).update(
        requested_at=timezone.now() - timedelta(seconds=30)
    )
    routing.ring_next()
    routing.accept(answered.pk, ann)
    routing.call_finished(abandoned.call_id)
    routing.to_callback(callback.pk)

    desk = dashboard_data()["desk"]

    assert (desk["asked"], desk["answered"], desk["abandoned"], desk["callbacks"]) == (3, 1, 1, 1)
    assert 29 <= desk["average_answer_seconds"] <= 40
    (today,) = desk["per_day"]
    assert (today["answered"], today["abandoned"], today["callbacks"]) == (1, 1, 1)
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", password="x y z 123"))
    html = client.get("/dashboard/").content.decode()
    assert 'id="desk-kpis"' in html and 'id="handoffs-per-day"' in html


def test_a_callback_task_is_marked_done_once_with_who_called_back():
    ann = desk_user("ann")
    made = waiting_handoff()
    routing.to_callback(made.pk)
    client = Client()
    client.force_login(ann)
    assert client.post(f"/api/handoffs/{made.pk}/called-back/").json()["status"] == "called_back"
    made.refresh_from_db()
    assert made.called_back_by == ann and made.called_back_at is not None
    again = client.post(f"/api/handoffs/{made.pk}/called-back/")
    assert again.status_code == 409
    assert again.json()["detail"] == "This callback task is done already."
    assert dashboard_data()["desk"]["callbacks"] == 1  # still counted as left for a callback


def test_booking_from_the_desk_opens_the_appointment_form_with_the_calls_vehicle():
    from vehicles.models import Vehicle

    vehicle = Vehicle.objects.create(
        vin="1HGCM82633A004352", make="Honda", model="Accord", year=2003
    )
    clerk = desk_user("ann")
    clerk.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["add_appointment", "view_appointment", "view_vehicle"]
        )
    )
    client = Client()
    client.force_login(clerk)
    page = client.get("/desk/").content.decode()
    assert 'data-book-url="/admin/appointments/appointment/add/"' in page
    form = client.get("/admin/appointments/appointment/add/", {"vehicle": vehicle.pk})
    assert form.status_code == 200
    assert f'<option value="{vehicle.pk}" selected>' in form.content.decode()


def test_the_desk_page_is_for_desk_staff_and_names_what_is_missing():
    client = Client()
    client.force_login(desk_user("ann"))
    page = client.get("/desk/")
    assert page.status_code == 200 and b'id="presence"' in page.content
    client.force_login(get_user_model().objects.create_user("clerk", is_staff=True))
    refused = client.get("/desk/")
    assert refused.status_code == 403 and b"desk.answer_handoffs" in refused.content
    async_to_sync(announce_desk_change)()  # with nobody listening: nothing to fail
