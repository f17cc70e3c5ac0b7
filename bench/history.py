"""History at size: --calls calls with --segments-per-call transcript segments each (loaded
with COPY), then p50/p95 of the call list (filtered, paginated), a call with its transcript,
and transcript full-text search, all through the real API views.

    .venv/bin/python -m bench.history --calls 1000000 --segments-per-call 20
"""

from __future__ import annotations

import argparse
import io
import random
import time
import uuid
from datetime import UTC, datetime, timedelta

from bench.common import percentiles, report, setup_django

WORDS = [
    "timing",
    "belt",
    "brakes",
    "squeaking",
    "oil",
    "change",
    "tyre",
    "pressure",
    "warranty",
    "recall",
    "battery",
    "engine",
    "light",
    "transmission",
    "coolant",
    "wipers",
    "alignment",
    "service",
    "appointment",
    "invoice",
    "lease",
    "mileage",
    "noise",
    "vibration",
    "clutch",
    "exhaust",
    "filter",
    "airbag",
    "window",
    "heater",
]
CHUNK = 50_000


def load(calls: int, per_call: int) -> dict:
    """Bring the tables to the requested size with COPY; the GIN index is built afterwards."""
    from django.db import connection

    from callcenter.models import Call

    have = Call.objects.count()
    if have >= calls:
        return {"calls_in_table": have, "load_seconds": 0}
    rng = random.Random(have)
    started = time.monotonic()
    now = datetime.now(UTC)
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX IF EXISTS segment_text_search")
        for first in range(have, calls, CHUNK):
            call_rows, segment_rows = io.StringIO(), io.StringIO()
            for number in range(first, min(first + CHUNK, calls)):
                call_id = uuid.UUID(int=rng.getrandbits(128), version=4)
                started_at = now - timedelta(minutes=number * 2)
                ended_at = started_at + timedelta(seconds=rng.randint(60, 600))
                outcome = rng.choice(["resolved", "vehicle_registered", "handed_off", "unresolved"])
                call_rows.write(
                    f"{call_id}\tbench-{number}\tended\tweb\tbench\t{started_at.isoformat()}\t"
                    f"{started_at.isoformat()}\t{ended_at.isoformat()}\t\t{outcome}\t"
                    f"{'t' if outcome == 'handed_off' else 'f'}\t\t{{}}\t\n"
                )
                for sequence in range(1, per_call + 1):
                    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12)))
                    speaker = "customer" if sequence % 2 else "agent"
                    segment_rows.write(
                        f"{call_id}\t{sequence}\t{speaker}\t{text}\t\\N\t\\N\ten-US\tf\t"
                        f"{started_at.isoformat()}\n"
                    )
            with cursor.copy(
                "COPY callcenter_call (id, room_name, status, channel, caller, started_at, "
                "answered_at, ended_at, summary, outcome, needs_human, failure_reason, metrics, "
                "worker_job_id) FROM STDIN"
            ) as copy:
                copy.write(call_rows.getvalue())
            with cursor.copy(
                "COPY callcenter_transcriptsegment (call_id, sequence, speaker, text, "
                "started_at, ended_at, language, interrupted, created_at) FROM STDIN"
            ) as copy:
                copy.write(segment_rows.getvalue())
        loaded = time.monotonic() - started
    return {"load_seconds": round(loaded, 1)}


RARE_MENTION = "Jane from the service team called about the airbag recall"
RARE_MENTIONS = 2_000


def seed_rare_mentions() -> None:
    """One segment in 10,000 names someone (``jane``): a search for a rare word."""
    from callcenter.models import Call, TranscriptSegment

    if TranscriptSegment.objects.filter(sequence=1000).exists():
        return
    calls = Call.objects.order_by("?").values_list("pk", "started_at")[:RARE_MENTIONS]
    TranscriptSegment.objects.bulk_create(
        TranscriptSegment(
            call_id=pk, sequence=1000, speaker="agent", text=RARE_MENTION, created_at=at
        )
        for pk, at in calls
    )


def build_search_index() -> float:
    from django.db import connection

    migration = __import__(
        "callcenter.migrations.0003_transcript_search_index", fromlist=["CREATE"]
    )
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '512MB'")
        cursor.execute(migration.CREATE)
        cursor.execute("ANALYZE callcenter_call")
        cursor.execute("ANALYZE callcenter_transcriptsegment")
    return round(time.monotonic() - started, 1)


def timed(client, url: str, repeats: int) -> dict:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        response = client.get(url() if callable(url) else url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return percentiles(timings)


def measure(repeats: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.test import Client
    from rest_framework.test import APIClient

    from callcenter.models import Call

    user, _ = get_user_model().objects.get_or_create(username="bench-supervisor", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="monitor_calls"))
    client = APIClient(HTTP_HOST="127.0.0.1")
    client.force_authenticate(user)
    pages = Client(HTTP_HOST="127.0.0.1")
    pages.force_login(user)
    ids = list(Call.objects.order_by("?").values_list("pk", flat=True)[: repeats * 2])
    api_ids, page_ids = ids[:repeats], ids[repeats:]
    rng = random.Random(7)
    client.get("/api/calls/")  # warm-up: permissions, connections
    return {
        "call_list_first_page_ms": timed(client, "/api/calls/?page_size=50", repeats),
        "call_list_filtered_ms": timed(
            client, "/api/calls/?outcome=handed_off&needs_human=true&page_size=50", repeats
        ),
        "call_detail_ms": timed(client, lambda: f"/api/calls/{api_ids.pop()}/", repeats),
        "search_ms": timed(
            client,
            lambda: f"/api/transcripts/search/?q={rng.choice(WORDS)}+{rng.choice(WORDS)}",
            repeats,
        ),
        "search_phrase_ms": timed(
            client,
            lambda: f'/api/transcripts/search/?q="{rng.choice(WORDS)} {rng.choice(WORDS)}"',
            repeats,
        ),
        "search_rare_word_ms": timed(client, "/api/transcripts/search/?q=jane", repeats),
        # The supervisors' pages, rendered: history list, filtered, searched; a call's page.
        "history_page_ms": timed(pages, "/history/", repeats),
        "history_page_filtered_ms": timed(pages, "/history/?outcome=handed_off", repeats),
        "history_page_search_ms": timed(
            pages, lambda: f"/history/?q={rng.choice(WORDS)}+{rng.choice(WORDS)}", repeats
        ),
        "call_page_ms": timed(pages, lambda: f"/history/{page_ids.pop()}/", repeats),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--segments-per-call", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    setup_django()
    from callcenter.models import Call, TranscriptSegment

    figures = load(args.calls, args.segments_per_call)
    figures["index_seconds"] = build_search_index()
    seed_rare_mentions()
    figures["calls"] = Call.objects.count()
    figures["segments"] = TranscriptSegment.objects.count()
    figures.update(measure(args.repeats))
    report("history", figures)


if __name__ == "__main__":
    main()
