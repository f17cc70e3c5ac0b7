"""One call's database use as a job process has it, for the connection-pooling test.

    python -m tests.support.call_transcript_writer CALL_ID SEGMENTS INTERVAL_SECONDS

Sets Django up from the environment (DATABASE_URL, DATABASE_TRANSACTION_POOLING), opens the
call's ``CallWriter`` and hands it a caller segment every INTERVAL_SECONDS, as a call's turns
arrive, holding its connection between them the way a job process does for a whole call.
Exits 0 once every segment is written.
"""

import asyncio
import sys


async def write_transcript(call_id: str, segments: int, interval: float) -> None:
    from agentworker.writer import CallWriter

    writer = await CallWriter.open(call_id, publish=None)
    for number in range(segments):
        writer.segment("customer", f"turn {number}")
        await asyncio.sleep(interval)
    await writer.close()


def main() -> None:
    import django

    call_id, segments, interval = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    django.setup()
    asyncio.run(write_transcript(call_id, segments, interval))


if __name__ == "__main__":
    main()
