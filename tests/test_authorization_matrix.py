"""Who may reach what, for every route the URL conf and the websocket routing define.

The routes are read from the resolver and the websocket routing, so a new route without a
decision in ACCESS fails ``test_every_route_has_an_access_decision``.
"""

import uuid
from datetime import timedelta

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser, Permission
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from appointments.models import Appointment, ServiceType
from callcenter.models import Call
from desk.sockets import websocket_urlpatterns as desk_sockets
from monitoring.routing import websocket_urlpatterns as monitor_sockets
from recordings.models import Recording

ROLES = [
    "anonymous", "customer", "staff_without_permission", "supervisor", "desk_staff", "superuser",
]  # fmt: skip
SUPERVISORS = {"supervisor", "superuser"}
DESK_STAFF = {"desk_staff", "superuser"}

# route (as written in urls.py) -> (who may use it, the method to try)
ACCESS = {
    "": ("everyone", "get"),
    "healthz": ("everyone", "get"),
    "favicon.ico": ("everyone", "get"),
    "api/calls/": ("everyone-post", "post"),  # anonymous call start; the list is supervisors'
    "api/calls/<pk>/": ("supervisors", "get"),
    "api/calls/<pk>/listen/": ("supervisors", "post"),
    "api/calls/<pk>/barge-in/": ("supervisors", "post"),
    "api/calls/<pk>/flag-reviewed/": ("supervisors", "post"),
    "api/vehicles/": ("supervisors", "get"),
    "api/vehicles/<pk>/": ("supervisors", "get"),
    "api/transcripts/search/": ("supervisors", "get"),
    "api/schema/": ("supervisors", "get"),
    "api/docs/": ("supervisors", "get"),
    "monitor/": ("supervisors", "get"),
    "desk/": ("desk", "get"),
    "api/handoffs/<pk>/accept/": ("desk", "post"),
    "api/handoffs/<pk>/decline/": ("desk", "post"),
    "api/handoffs/<pk>/hand-back/": ("desk", "post"),
    "api/handoffs/<pk>/end/": ("desk", "post"),
    "api/handoffs/<pk>/called-back/": ("desk", "post"),
    "history/": ("supervisors", "get"),
    "history/<uuid:call_id>/": ("supervisors", "get"),
    "history/<uuid:call_id>/callback": ("supervisors", "post"),
    "history/<uuid:call_id>/flag-reviewed": ("supervisors", "post"),
    "api/calls/<uuid:call_id>/callback/": ("supervisors", "post"),
    "history/export/calls.csv": ("supervisors", "get"),
    "history/export/transcripts.csv": ("supervisors", "get"),
    "dashboard/": ("supervisors", "get"),
    "recordings/<int:pk>/audio": ("supervisors", "get"),
    "livekit/webhook/": ("signed-webhooks", "post"),
    "admin/": ("staff-admin", "get"),
    # The appointment book: staff holding the appointments app's model permissions (of these
    # roles only the superuser; test_appointment_pages_and_api covers a clerk who has them).
    "appointments/": ("book-keepers", "get"),
    "api/appointments/": ("book-keepers", "get"),
    "api/appointments/<pk>/": ("book-keepers", "get"),
    "api/service-types/": ("book-keepers", "get"),
    "api/service-types/<pk>/": ("book-keepers", "get"),
}
WEBSOCKETS = {"ws/monitor/": "supervisors", "ws/desk/": "desk"}


def routes(resolver=None, prefix=""):
    """Every route of the URL conf, with the admin site counted as one."""
    resolver = resolver or get_resolver()
    found = []
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            if route.startswith("admin/"):
                found.append("admin/")
            else:
                found.extend(routes(entry, route))
        elif isinstance(entry, URLPattern):
            # DRF's router writes regexes; name them the way ACCESS does.
            route = (
                route.replace("(?P<pk>[^/.]+)", "<pk>")
                .replace("^", "")
                .replace("$", "")
                .replace("\\.(?P<format>[a-z0-9]+)/?", "")
            )
            if "(?P<format>" not in str(entry.pattern):
                found.append(route)
    return sorted(set(found))


def test_every_route_has_an_access_decision():
    undecided = [route for route in routes() if route not in ACCESS]
    assert undecided == [], f"routes without an access decision: {undecided}"
    ws_routes = [str(p.pattern) for p in [*monitor_sockets, *desk_sockets]]
    assert sorted(ws_routes) == sorted(WEBSOCKETS)


def make_user(role, django_user_model):
    if role == "anonymous":
        return None
    user = django_user_model.objects.create_user(
        f"{role}-{uuid.uuid4().hex[:6]}",
        is_staff=role != "customer",
        is_superuser=role == "superuser",
    )
    if role == "supervisor":
        user.user_permissions.add(Permission.objects.get(codename="monitor_calls"))
    if role == "desk_staff":
        user.user_permissions.add(Permission.objects.get(codename="answer_handoffs"))
    return user


def concrete(route, call, recording, vehicle_id, appointment_id=0, service_id=0):
    return "/" + (
        route.replace("<uuid:call_id>", str(call.pk))
        .replace("api/calls/<pk>", f"api/calls/{call.pk}")
        .replace("api/vehicles/<pk>", f"api/vehicles/{vehicle_id}")
        .replace("<int:pk>", str(recording.pk))
        .replace("api/appointments/<pk>", f"api/appointments/{appointment_id}")
        .replace("api/service-types/<pk>", f"api/service-types/{service_id}")
        .replace("api/handoffs/<pk>", "api/handoffs/1")
    )


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_exactly_what_it_may(role, django_user_model, settings, tmp_path):
    from django.core.files.base import ContentFile

    from vehicles.models import Vehicle

    settings.LIVEKIT_URL = "wss://voice.example.com"
    settings.LIVEKIT_API_KEY = "APImatrix"
    settings.LIVEKIT_API_SECRET = "matrix-secret-0123456789-0123456789-012"
    settings.MEDIA_ROOT = tmp_path
    call = Call.objects.create(status=Call.Status.ACTIVE)
    recording = Recording.objects.create(call=call, source="agent", status="ready", format="ogg")
    recording.file.save("a.ogg", ContentFile(b"OggS"))
    vehicle = Vehicle.objects.create(vin="1HGCM82633A004352", make="Honda", model="A", year=2003)
    service = ServiceType.objects.create(name="Oil change")
    now = timezone.now()
    appointment = Appointment.objects.create(
        service=service, start=now, end=now + timedelta(hours=1), customer_name="A", contact="1"
    )

    client = Client()
    user = make_user(role, django_user_model)
    if user is not None:
        client.force_login(user)
    refused = []
    for route, (who, method) in ACCESS.items():
        url = concrete(route, call, recording, vehicle.pk, appointment.pk, service.pk)
        response = getattr(client, method)(url)
        denied = response.status_code in (401, 403) or (
            response.status_code == 302 and "/login/" in response.get("Location", "")
        )
        if who == "everyone" or who == "everyone-post":
            allowed = True
        elif who == "supervisors":
            allowed = role in SUPERVISORS
        elif who == "desk":
            allowed = role in DESK_STAFF
        elif who == "staff-admin":
            allowed = role != "anonymous" and role != "customer"
        elif who == "book-keepers":
            allowed = role == "superuser"
        elif who == "signed-webhooks":
            allowed = False  # nobody without LiveKit's signature, whatever their session
        else:  # pragma: no cover
            raise AssertionError(who)
        if denied == allowed:
            refused.append((route, role, response.status_code))
    assert refused == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("role", ROLES)
async def test_websockets_admit_exactly_who_may(role, django_user_model):
    from asgiref.sync import sync_to_async

    from desk.consumers import DeskConsumer
    from monitoring.consumers import MonitorConsumer

    user = await sync_to_async(make_user)(role, django_user_model)
    consumers = {"ws/monitor/": MonitorConsumer, "ws/desk/": DeskConsumer}
    for route, who in WEBSOCKETS.items():
        communicator = WebsocketCommunicator(consumers[route].as_asgi(), "/" + route)
        communicator.scope["user"] = user or AnonymousUser()
        connected, _ = await communicator.connect()
        admitted = SUPERVISORS if who == "supervisors" else DESK_STAFF
        assert connected is (role in admitted), (route, role)
        await communicator.disconnect()
