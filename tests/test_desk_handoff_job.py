"""The agent job's side of a handoff when the job is a new one for a call whose worker was
lost: the caller still waiting for a person goes on waiting, to the same deadline."""

import asyncio
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from agentworker.call_job import CallJob
from agentworker.desk_handoff import NOBODY_CAME, DeskHandoff
from agentworker.writer import CallWriter
from callcenter.models import Call, CallEvent
from desk import routing
from desk.models import Handoff

pytestmark = pytest.mark.django_db(transaction=True)


class SessionReplies:
    """What the job asks of its session here: a reply with instructions (kept to check)."""

    def __init__(self) -> None:
        self.replies: list[dict] = []

    def generate_reply(self, **options) -> None:
        self.replies.append(options)


async def a_job(call: Call) -> tuple[DeskHandoff, SessionReplies, CallWriter]:
    writer = await CallWriter.open(call.pk)
    session = SessionReplies()
    return DeskHandoff(CallJob(call, writer, agent=None, session=session)), session, writer


async def test_a_new_job_goes_on_waiting_for_the_handoff_and_keeps_its_deadline(settings):
    settings.HANDOFF_WAIT_SECONDS = 30
    call = await Call.objects.acreate(status=Call.Status.ACTIVE)
    handoff = await sync_to_async(routing.open_handoff)(call, "warranty claim", {})
    # Asked for 29 s ago on the lost job: the new one tells the caller in about a second.
    await Handoff.objects.filter(pk=handoff.pk).aupdate(
        requested_at=timezone.now() - timedelta(seconds=29)
    )
    desk, session, writer = await a_job(call)

    await desk.pick_up()
    await asyncio.wait_for(desk._waiting, 10)
    await writer.flush()

    assert (await Handoff.objects.aget(pk=handoff.pk)).status == Handoff.Status.CALLBACK
    assert session.replies == [{"instructions": NOBODY_CAME}]
    assert await CallEvent.objects.filter(
        call=call, type=CallEvent.Type.HANDOFF_UNANSWERED
    ).aexists()
    await desk.finish(ours=False)
    await writer.close()


async def test_a_new_job_of_a_call_without_a_waiting_handoff_waits_for_nothing():
    call = await Call.objects.acreate(status=Call.Status.ACTIVE)
    handoff = await sync_to_async(routing.open_handoff)(call, "warranty claim", {})
    await sync_to_async(routing.to_callback)(handoff.pk)  # over before the worker was lost
    desk, session, writer = await a_job(call)

    await desk.pick_up()

    assert desk._waiting is None and session.replies == []
    await writer.close()
