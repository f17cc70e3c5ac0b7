"""A new agent job for a live call whose agent was lost.

When a worker dies (crash, SIGKILL, its host gone), LiveKit ends its jobs and dispatches no
others: the caller would wait in a room without an agent. The web app, told by the
``participant_left`` webhook, asks LiveKit's agent dispatch service for a new job in the same
room, asking it to serve the call again (``JobRequest.serve_again``); LiveKit gives
it to a surviving worker by load, and the job resumes the call from the database
(``agentworker.resume``). A call no job takes up within ``AGENT_RESUME_SECONDS`` is failed by
the sweeper.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from django.conf import settings
from livekit import api

from callcenter.job_request import JobRequest
from callcenter.livekit_server import livekit_api
from callcenter.models import Call

logger = logging.getLogger(__name__)


async def dispatch_agent(room: str, request: JobRequest) -> str:
    """Ask LiveKit's agent dispatch for a job in ``room`` doing ``request``; its dispatch id.
    Every dispatch the web app asks for goes through here."""
    async with livekit_api() as lkapi:
        dispatch = await lkapi.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(
                agent_name=settings.LIVEKIT_AGENT_NAME, room=room, metadata=request.to_metadata()
            )
        )
        return dispatch.id


def dispatch_agent_again(call: Call) -> bool:
    """Ask LiveKit for a new agent job for ``call``; False (logged) when it could not."""
    try:
        dispatch_id = async_to_sync(dispatch_agent)(call.room_name, JobRequest.serve_again(call))
    except Exception:
        logger.warning("call %s: the agent could not be dispatched again", call.pk, exc_info=True)
        return False
    logger.info("call %s: its agent was lost; dispatched again (%s)", call.pk, dispatch_id)
    return True
