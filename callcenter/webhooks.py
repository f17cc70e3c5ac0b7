"""LiveKit's signed webhooks keep calls and recordings true when the worker cannot.

Every request is verified with livekit-api's ``WebhookReceiver`` (the JWT in ``Authorization``
signs the body's SHA-256); anything else is refused with 401. LiveKit retries deliveries, so
each event id is handled once (remembered in the cache for a day) and every update is
idempotent by itself too.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from google.protobuf.json_format import ParseError
from livekit import api

from callcenter.agent_dispatch import dispatch_agent_again
from callcenter.live_updates import announce_call_change
from callcenter.livekit_server import livekit_configured
from callcenter.livekit_tokens import agent_identity
from callcenter.models import Call
from recordings.egress import apply_egress_info

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024
SEEN_EVENT_SECONDS = 24 * 3600
AGENT_LOST = "The agent left the call before ending it (its worker stopped)."


def _call_of_room(room: api.Room) -> Call | None:
    return Call.objects.filter(room_name=room.name).first() if room.name else None


def _is_the_caller(call: Call, participant: api.ParticipantInfo) -> bool:
    """The web caller the call's token named, or the phone caller (a SIP participant)."""
    if participant.kind == api.ParticipantInfo.SIP:
        return True
    return bool(call.caller) and participant.identity == call.caller


def _is_the_calls_agent(call: Call, participant: api.ParticipantInfo) -> bool:
    """The agent of the job serving the call (livekit-agents names it ``agent-<job id>``),
    or any agent while no job has taken the call yet."""
    if participant.kind != api.ParticipantInfo.AGENT:
        return False
    return not call.worker_job_id or participant.identity == agent_identity(call.worker_job_id)


def handle_event(event: api.WebhookEvent) -> None:
    """Apply one verified event."""
    kind = event.event
    if kind in ("egress_started", "egress_updated", "egress_ended"):
        apply_egress_info(event.egress_info)
        return
    call = _call_of_room(event.room)
    if call is None:
        return
    changed = False
    # A call the desk placed is answered when the customer picks up, which its job records
    # (busy and no answer too): the agent joining, or the customer's phone leaving unanswered,
    # decide nothing.
    unanswered_call_out = call.placed_by_desk and call.status == Call.Status.WAITING
    if kind == "participant_joined" and event.participant.kind == api.ParticipantInfo.AGENT:
        if not call.placed_by_desk:
            changed = call.mark_active(timezone.now())
    elif kind == "participant_left" and unanswered_call_out:
        pass
    elif kind == "participant_left" and _is_the_caller(call, event.participant):
        # The caller hung up: the call is over. The agent leaves after it (and LiveKit closes
        # the room only then), so the agent's departure must not read as a lost worker.
        changed = call.mark_ended(timezone.now())
    elif kind == "participant_left" and _is_the_calls_agent(call, event.participant):
        # The worker ends its call before it leaves the room; the call's agent gone from a
        # live call means its worker stopped (crashed, killed). A new job resumes the call
        # from what is stored; if none can be asked for, the call has failed (the segments
        # stay). An agent another job replaced leaving decides nothing.
        if call.mark_agent_lost(timezone.now()):
            changed = True
            if not dispatch_agent_again(call):
                call.mark_ended(timezone.now(), failed_reason=AGENT_LOST)
    elif kind == "room_finished":
        changed = call.mark_ended(timezone.now())
    if changed:
        announce_call_change(call.pk)


def _first_delivery(event_id: str) -> bool:
    """Whether this event id is new. Without the cache every update is idempotent anyway."""
    try:
        return cache.add(f"livekit-webhook:{event_id}", 1, SEEN_EVENT_SECONDS)
    except Exception:
        logger.warning("webhook: cache unavailable, handling %s without dedup", event_id)
        return True


@csrf_exempt
@require_POST
def livekit_webhook(request: HttpRequest) -> JsonResponse:
    if not livekit_configured():
        return JsonResponse({"detail": "LiveKit is not configured."}, status=503)
    too_large = JsonResponse({"detail": "Body too large."}, status=413)
    try:
        if int(request.headers.get("Content-Length") or 0) > MAX_BODY_BYTES:
            return too_large  # said before reading it
        if len(request.body) > MAX_BODY_BYTES:
            return too_large
    except ValueError:
        return JsonResponse({"detail": "Content-Length must be a number."}, status=400)
    except RequestDataTooBig:
        return too_large
    receiver = api.WebhookReceiver(
        api.TokenVerifier(settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET)
    )
    try:
        body = request.body.decode()
    except UnicodeDecodeError:
        return JsonResponse({"detail": "The body must be UTF-8 JSON."}, status=400)
    try:
        event = receiver.receive(body, request.headers.get("Authorization", ""))
    except ParseError:
        # The signature was good (it is checked first); the body is not a webhook event.
        return JsonResponse({"detail": "The body is not a LiveKit webhook event."}, status=400)
    except Exception:
        return JsonResponse({"detail": "Signature missing or invalid."}, status=401)
    if event.id and not _first_delivery(event.id):
        return JsonResponse({"status": "already handled"})
    logger.info("webhook %s: %s in room %s", event.id, event.event, event.room.name or "-")
    handle_event(event)
    return JsonResponse({"status": "ok"})
