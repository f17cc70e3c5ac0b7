"""Many calls, few PostgreSQL connections: job processes through PgBouncer in transaction mode.

Every job process keeps one database connection for its whole call (reconnecting per write
costs milliseconds), so straight to PostgreSQL a hundred calls hold a hundred of its
connections (``max_connections`` is 100 by default). Through PgBouncer in transaction mode a
call's connection holds a server connection only while a write runs. These tests run real
writers in processes of their own through the PgBouncer ``make services`` starts.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from callcenter.models import Call, TranscriptSegment
from tests.support.local_services import MostServerConnections, end_other_connections

ROOT = Path(__file__).resolve().parent.parent

# PgBouncer is the `pooled_database` fixture's to require (it skips, or fails in CI, without).
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def start_writer(call: Call, segments: int, environment: dict[str, str]) -> subprocess.Popen:
    """A process writing the call's transcript as its job would (tests.support)."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.call_transcript_writer", str(call.pk),
         str(segments), "0.1"],
        cwd=ROOT, env={**os.environ, **environment}, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_calls_written_through_pgbouncer_share_a_few_server_connections(pooled_database):
    calls = [Call.objects.create() for _ in range(10)]
    segments_per_call = 15
    # Only the writers' server connections count: none left from earlier tests, not this one's.
    end_other_connections()
    connection.close()
    sampler = MostServerConnections(every=0.02)
    sampler.start()
    writers = []
    for call in calls:
        writers.append(start_writer(call, segments_per_call, pooled_database))
        time.sleep(0.1)  # calls arrive one after another
    try:
        failures = [w.stderr.read()[-2000:] for w in writers if w.wait(timeout=120) != 0]
    finally:
        sampler.done.set()
        sampler.join(timeout=5)
    assert not failures, failures[0]
    for call in calls:
        stored = TranscriptSegment.objects.filter(call=call).order_by("sequence")
        assert [s.text for s in stored] == [f"turn {n}" for n in range(segments_per_call)]
    # Straight to PostgreSQL that is one server connection per call for the whole call; here
    # a write takes one for a millisecond or two (more at once only while the processes start).
    assert 1 <= sampler.most <= len(calls) // 2, (
        f"{sampler.most} server connections for {len(calls)} calls"
    )
