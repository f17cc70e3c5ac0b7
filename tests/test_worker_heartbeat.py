"""A caller hears at once when no agent worker could answer: workers say they are registered
(``agentworker.heartbeat``), and the web app takes a call only while one for its agent name
has said so lately."""

import asyncio
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from agentworker.heartbeat import Heartbeat
from callcenter.models import Call, WorkerHeartbeat

LIVEKIT = {
    "LIVEKIT_URL": "wss://voice.example.com",
    "LIVEKIT_API_KEY": "APItestkey",
    "LIVEKIT_API_SECRET": "test-secret-that-is-long-enough-for-hs256-0123456789",
}


@pytest.fixture
def livekit(settings):
    for name, value in LIVEKIT.items():
        setattr(settings, name, value)
    return settings


def start_call():
    return APIClient().post("/api/calls/", {}, format="json")


@pytest.mark.django_db
def test_with_no_worker_registered_a_call_start_says_so_at_once(livekit):
    answer = start_call()
    assert answer.status_code == 503
    assert "Voice calls are not available right now" in answer.json()["detail"]
    assert not Call.objects.exists()


@pytest.mark.django_db
def test_a_worker_silent_too_long_no_longer_counts_and_another_agents_never(livekit):
    WorkerHeartbeat.beat("AW_other", "another-agent", "host-b")
    WorkerHeartbeat.beat("AW_gone", livekit.LIVEKIT_AGENT_NAME, "host-a")
    assert start_call().status_code == 201
    WorkerHeartbeat.objects.filter(worker_id="AW_gone").update(
        seen_at=timezone.now() - WorkerHeartbeat.believed_for() - timedelta(seconds=1)
    )
    assert start_call().status_code == 503


@pytest.mark.django_db(transaction=True)
async def test_a_registered_worker_keeps_beating_and_a_new_registration_takes_over(settings):
    settings.WORKER_HEARTBEAT_SECONDS = 0.05
    heartbeat = Heartbeat("callcenter-agent")
    heartbeat.registered("AW_first")
    await asyncio.sleep(0.3)
    first = await WorkerHeartbeat.objects.aget(worker_id="AW_first")
    await asyncio.sleep(0.3)
    await first.arefresh_from_db()
    assert timezone.now() - first.seen_at < timedelta(seconds=0.3)  # it keeps beating

    heartbeat.registered("AW_second")  # registered again after a lost connection
    await asyncio.sleep(0.3)
    await first.arefresh_from_db()
    stopped_at = first.seen_at
    await asyncio.sleep(0.3)
    await first.arefresh_from_db()
    assert first.seen_at == stopped_at
    assert await WorkerHeartbeat.objects.filter(worker_id="AW_second").aexists()
    heartbeat.task.cancel()
