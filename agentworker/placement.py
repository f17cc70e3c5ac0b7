"""Where a call runs: the agent worker's host, and the LiveKit media node that carries its audio.

With several media nodes (LiveKit's distributed mode) a room lives on one node, and every
participant's media goes to that node's address (its ``rtc.node_ip``), whichever node their
signalling connection reached. The job's own peer connection tells which: the remote end of
its selected ICE candidate pair. LiveKit's APIs name no node for a room, so this is the one
place that knows it.
"""

from __future__ import annotations

import asyncio
import logging
import socket

from livekit import rtc

from agentworker.call_job import CallJob
from callcenter.models import Call

logger = logging.getLogger(__name__)

# The peer connection may still be choosing its candidate pair right after joining.
ATTEMPTS = 10
ATTEMPT_INTERVAL = 0.5


def selected_remote_address(stats: list) -> str:
    """The remote address of the selected (else a nominated) candidate pair, or ""."""
    pairs, remotes, selected = {}, {}, set()
    for entry in stats:
        kind = entry.WhichOneof("stats")
        if kind == "candidate_pair":
            pairs[entry.candidate_pair.rtc.id] = entry.candidate_pair
        elif kind == "remote_candidate":
            candidate = entry.remote_candidate
            remotes[candidate.rtc.id] = candidate.candidate.address
        elif kind == "transport" and entry.transport.transport.selected_candidate_pair_id:
            selected.add(entry.transport.transport.selected_candidate_pair_id)
    chosen = [pairs[key] for key in selected if key in pairs] or [
        pair for pair in pairs.values() if pair.candidate_pair.nominated
    ]
    for pair in chosen:
        address = remotes.get(pair.candidate_pair.remote_candidate_id, "")
        if address:
            return address
    return ""


async def media_node_address(room: rtc.Room) -> str:
    """The media node's address as the job's connection sees it ("" if it never settles)."""
    for _ in range(ATTEMPTS):
        try:
            stats = await room.get_rtc_stats()
        except RuntimeError:  # not connected (yet, or any more)
            return ""
        for side in (stats.subscriber_stats, stats.publisher_stats):
            address = selected_remote_address(list(side))
            if address:
                return address
        await asyncio.sleep(ATTEMPT_INTERVAL)
    return ""


async def record_placement(job: CallJob, room: rtc.Room) -> None:
    """Store on the call which worker host serves it and which media node carries it."""
    node = await media_node_address(room)
    if not node:
        logger.warning("call %s: the media node's address is unknown", job.call.pk)
    job.writer.change_call(Call.record_placement, worker_host=socket.gethostname(), media_node=node)
