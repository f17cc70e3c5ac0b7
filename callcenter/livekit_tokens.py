"""Every LiveKit access token the server mints, in one place, with the least grants each needs.

Rooms, identities and lifetimes are chosen here from the Call, never taken from a request.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from livekit import api

from callcenter.job_request import JobRequest
from callcenter.livekit_server import livekit_credentials

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from callcenter.models import Call

# A caller needs minutes to connect; the session outlives the token once joined.
CALLER_TOKEN_TTL = timedelta(minutes=10)
# Callers' identities (web calls) start with this; the agent's session is linked to it.
CALLER_IDENTITY_PREFIX = "caller-"
# Supervisors' identities start with this; the agent job hears such a participant's microphone
# as the supervisor's (agentworker.supervisor_voice), never as the caller's.
SUPERVISOR_IDENTITY_PREFIX = "supervisor-"
# A person at the desk who took a handoff: heard and transcribed by the agent job like a
# supervisor, under their own name (agentworker.desk_handoff).
DESK_IDENTITY_PREFIX = "desk-"


def agent_identity(job_id: str) -> str:
    """The identity of a job's agent in its room (livekit-agents' default, ``agent-<job id>``)."""
    return f"agent-{job_id}"


LISTEN_IN_TOKEN_TTL = timedelta(minutes=5)


def public_url() -> str:
    """Where browsers reach LiveKit: LIVEKIT_PUBLIC_URL, else LIVEKIT_URL."""
    return settings.LIVEKIT_PUBLIC_URL or settings.LIVEKIT_URL


def new_caller_identity() -> str:
    """A fresh participant identity for a caller (stored on the Call as ``caller``)."""
    return f"{CALLER_IDENTITY_PREFIX}{secrets.token_hex(6)}"


def caller_token(call: Call) -> str:
    """A token for the customer of ``call``: that room only, audio and data, agent dispatched.

    The identity is the call's ``caller``. The token's room configuration dispatches the named
    agent with the call as its request, so the agent joins only rooms the server created.
    """
    key, secret = livekit_credentials()
    identity = call.caller
    grants = api.VideoGrants(
        room_join=True,
        room=call.room_name,
        can_publish=True,
        can_publish_sources=["microphone"],
        can_subscribe=True,
        can_publish_data=True,
        can_update_own_metadata=False,
        hidden=False,
    )
    room_config = api.RoomConfiguration(
        agents=[
            api.RoomAgentDispatch(
                agent_name=settings.LIVEKIT_AGENT_NAME,
                metadata=JobRequest.web_call(call).to_metadata(),
            )
        ]
    )
    token = (
        api.AccessToken(key, secret)
        .with_identity(identity)
        .with_name("Caller")
        .with_grants(grants)
        .with_room_config(room_config)
        .with_ttl(CALLER_TOKEN_TTL)
    )
    return token.to_jwt()


def _staff_token(
    call: Call,
    user: AbstractBaseUser,
    *,
    speaks: bool,
    prefix: str = SUPERVISOR_IDENTITY_PREFIX,
    name: str = "",
    attributes: dict[str, str] | None = None,
) -> tuple[str, str]:
    """A staff member's short-lived token for ``call``: to listen (hidden, subscribe only) or
    to speak (visible, microphone only). Never data: staff steer the agent through their
    page's socket and the API, not the room."""
    key, secret = livekit_credentials()
    identity = f"{prefix}{user.pk}-{secrets.token_hex(4)}"
    grants = api.VideoGrants(
        room_join=True,
        room=call.room_name,
        can_publish=speaks,
        can_publish_sources=["microphone"] if speaks else [],
        can_publish_data=False,
        can_subscribe=True,
        can_update_own_metadata=False,
        hidden=not speaks,
    )
    token = (
        api.AccessToken(key, secret)
        .with_identity(identity)
        .with_name(name or f"Supervisor {user.get_username()}")
        .with_grants(grants)
        .with_ttl(LISTEN_IN_TOKEN_TTL)
    )
    if attributes:
        token = token.with_attributes(attributes)
    return identity, token.to_jwt()


def listen_in_token(call: Call, user: AbstractBaseUser) -> tuple[str, str]:
    """A token for a supervisor to listen to ``call``: hidden, subscribe only, short-lived."""
    return _staff_token(call, user, speaks=False)


def barge_in_token(call: Call, user: AbstractBaseUser) -> tuple[str, str]:
    """A token for a supervisor to join ``call`` and speak: visible, microphone, short-lived."""
    return _staff_token(call, user, speaks=True, attributes={"callcenter.role": "supervisor"})


BRIEF_IDENTITY_PREFIX = "brief-"
BRIEF_TOKEN_TTL = timedelta(minutes=1)


def brief_token(call: Call) -> tuple[str, str]:
    """For the agent job's private briefing of the person who took the call: a participant
    that publishes one audio track (whose subscribers it limits to that person) and hears
    nothing; that room only, a minute to join."""
    key, secret = livekit_credentials()
    identity = f"{BRIEF_IDENTITY_PREFIX}{secrets.token_hex(4)}"
    grants = api.VideoGrants(
        room_join=True,
        room=call.room_name,
        can_publish=True,
        can_publish_sources=["microphone"],
        can_publish_data=False,
        can_subscribe=False,
        can_update_own_metadata=False,
    )
    token = (
        api.AccessToken(key, secret)
        .with_identity(identity)
        .with_name("Brief")
        .with_grants(grants)
        .with_ttl(BRIEF_TOKEN_TTL)
    )
    return identity, token.to_jwt()


def desk_token(call: Call, user: AbstractBaseUser, name: str) -> tuple[str, str]:
    """A token for the person at the desk who accepted ``call``'s handoff: that room only,
    visible, microphone only, short-lived (it admits them once; their session then lasts
    until they hand back or the call ends)."""
    return _staff_token(
        call,
        user,
        speaks=True,
        prefix=DESK_IDENTITY_PREFIX,
        name=name,
        attributes={"callcenter.role": "desk"},
    )
