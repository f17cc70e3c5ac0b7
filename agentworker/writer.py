"""The ordered, retrying writer that turns a live call into rows and monitor messages.

The agent's event handlers must never wait on the database: they hand each write to the call's
``CallWriter``, which numbers it at once (segments and events share the call's sequence space)
and returns. One task per call drains the queue in order, writes through the ORM in a worker
thread, retries with backoff for as long as the database is away, and publishes each row to the
live monitor only after it is committed. Writes are idempotent on (call, sequence), so a retry
after a commit whose answer was lost writes nothing twice.

A writer that belongs to a job is fenced by it: each write commits only while the call is
still that job's (``Call.worker_job_id``, checked under the call's row lock). A job whose call
another job took over (its media node died and the caller came back through another, or its
worker was cut off and reconnected) writes nothing more; its writer drops the write and says
so once, and the job leaves (``on_taken_over``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from asgiref.sync import sync_to_async
from django.db import DatabaseError, InterfaceError, connection, transaction

from callcenter import live_updates
from callcenter.models import Call, CallEvent, TranscriptSegment
from callcenter.redaction import redact_card_numbers, redact_card_numbers_in

logger = logging.getLogger(__name__)

# Seconds between attempts while the database is away; the last repeats until it is back.
RETRY_DELAYS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)


class TakenOver(Exception):
    """The call is served by another job now: this job's writes are refused."""


@dataclass
class _Write:
    """One queued write: a function run in the ORM thread returning the message to publish."""

    apply: Callable[[], dict[str, Any] | None]
    description: str
    queued_at: float = field(default_factory=time.monotonic)


class CallWriter:
    """Persists and publishes everything one live call produces, in order, losing nothing."""

    def __init__(
        self,
        call_id: UUID | str,
        *,
        last_sequence: int = 0,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
        publish: Callable[[dict[str, Any]], Awaitable[None]] | None = live_updates.publish,
        job_id: str | None = None,
        on_taken_over: Callable[[], None] | None = None,
    ) -> None:
        self.call_id = UUID(str(call_id))
        self.job_id = job_id  # the fence: writes commit only while the call is this job's
        self._on_taken_over = on_taken_over
        self.taken_over = False
        self._sequence = last_sequence
        self._retry_delays = retry_delays
        self._publish = publish
        self._queue: asyncio.Queue[_Write | None] = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self.attempts_failed = 0

    @classmethod
    async def open(cls, call_id: UUID | str, **options) -> CallWriter:
        """A writer that continues the call's sequence where an earlier job left it."""
        call = await Call.objects.aget(pk=call_id)
        last = await sync_to_async(call.last_sequence)()
        writer = cls(call_id, last_sequence=last, **options)
        writer.start()
        return writer

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._drain(), name=f"call-writer-{self.call_id}")

    def next_sequence(self) -> int:
        self._sequence += 1
        return self._sequence

    # --- What the agent hands over (never blocks) -------------------------------------------

    def segment(
        self,
        speaker: str,
        text: str,
        *,
        started_at: datetime | None = None,
        ended_at: datetime | None = None,
        language: str = "",
        interrupted: bool = False,
        speaker_name: str = "",
    ) -> int:
        """Queue one transcript segment (card numbers removed); returns its sequence number."""
        text = redact_card_numbers(text)
        sequence = self.next_sequence()
        call_id = self.call_id

        def apply() -> dict[str, Any]:
            segment = TranscriptSegment(
                call_id=call_id,
                sequence=sequence,
                speaker=speaker,
                speaker_name=speaker_name[:150],
                text=text,
                started_at=started_at,
                ended_at=ended_at,
                language=language,
                interrupted=interrupted,
            )
            # One INSERT ... ON CONFLICT DO NOTHING: a replay of a committed write is a no-op.
            TranscriptSegment.objects.bulk_create([segment], ignore_conflicts=True)
            return segment.to_message()

        self._put(_Write(apply, f"segment {sequence}"))
        return sequence

    def event(self, type: str, payload: dict[str, Any] | None = None) -> int:
        """Queue one call event (tool call, handoff request, participant change, error), with
        card numbers removed from its payload."""
        sequence = self.next_sequence()
        call_id = self.call_id
        payload = redact_card_numbers_in(payload or {})

        def apply() -> dict[str, Any]:
            event = CallEvent(call_id=call_id, sequence=sequence, type=type, payload=payload)
            CallEvent.objects.bulk_create([event], ignore_conflicts=True)
            return event.to_message()

        self._put(_Write(apply, f"event {sequence} {type}"))
        return sequence

    def change_call(self, change: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Queue one of the call's named changes (``Call.set_vehicle``, ``Call.mark_ended``...)
        with its arguments, then publish the call as it is stored. The named changes are safe
        to run again (a retry after a lost commit runs it twice)."""
        if getattr(Call, change.__name__, None) is not change:
            raise TypeError(f"{change.__qualname__} is not a named change of Call")
        call_id = self.call_id

        def apply() -> dict[str, Any]:
            change(Call.objects.get(pk=call_id), *args, **kwargs)
            return live_updates.call_message(call_id)

        self._put(_Write(apply, change.__name__))

    async def flush(self) -> None:
        """Wait until everything queued so far is written and published."""
        await self._queue.join()

    async def close(self) -> None:
        """Write what is queued, then stop."""
        if self._task is None:
            return
        self._queue.put_nowait(None)
        await self._task
        self._task = None

    # --- The drain --------------------------------------------------------------------------

    def _put(self, write: _Write) -> None:
        if self._task is None:
            self.start()
        self._queue.put_nowait(write)

    async def _drain(self) -> None:
        while True:
            write = await self._queue.get()
            try:
                if write is None:
                    return
                message = await self._write_until_stored(write)
                if message is not None and self._publish is not None:
                    await self._publish_quietly(message)
            finally:
                self._queue.task_done()

    async def _write_until_stored(self, write: _Write) -> dict[str, Any] | None:
        attempt = 0
        while True:
            if self.taken_over:
                return None
            try:
                return await sync_to_async(_run_in_orm_thread)(write.apply, self._fence())
            except TakenOver:
                self._was_taken_over(write)
                return None
            except (DatabaseError, InterfaceError) as exc:
                self.attempts_failed += 1
                delay = self._retry_delays[min(attempt, len(self._retry_delays) - 1)]
                attempt += 1
                logger.warning(
                    "call %s: writing %s failed (%s); retrying in %.2fs",
                    self.call_id,
                    write.description,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)

    async def still_ours(self) -> bool:
        """Whether the call is still this writer's job's (True without a job, or while the
        database cannot say: the fence still guards every write)."""
        if self.job_id is None or self.taken_over:
            return not self.taken_over
        try:
            ours = await Call.objects.filter(pk=self.call_id, worker_job_id=self.job_id).aexists()
        except (DatabaseError, InterfaceError):
            return True
        self.taken_over = not ours
        return ours

    def _fence(self) -> tuple[UUID, str] | None:
        return (self.call_id, self.job_id) if self.job_id else None

    def _was_taken_over(self, write: _Write) -> None:
        self.taken_over = True
        logger.warning(
            "call %s: taken over by another job; job %s stops writing (dropped %s and after)",
            self.call_id,
            self.job_id,
            write.description,
        )
        if self._on_taken_over is not None:
            self._on_taken_over()

    async def _publish_quietly(self, message: dict[str, Any]) -> None:
        # The row is stored; a monitor that misses the live message catches up on resume.
        try:
            await self._publish(message)
        except Exception:
            logger.warning("call %s: publishing to the monitor failed", self.call_id, exc_info=1)


def _run_in_orm_thread(
    apply: Callable[[], dict[str, Any] | None], fence: tuple[UUID, str] | None
) -> dict[str, Any] | None:
    # The connection is kept between writes (reconnecting per write costs milliseconds); one
    # that failed is closed below, so the retry opens a fresh one.
    try:
        if fence is None:
            return apply()
        call_id, job_id = fence
        with transaction.atomic():
            # The row lock orders this write with a new job's Call.assign_job.
            ours = Call.objects.select_for_update().filter(pk=call_id, worker_job_id=job_id)
            if not ours.values_list("pk", flat=True)[:1]:
                raise TakenOver
            return apply()
    except (DatabaseError, InterfaceError):
        # A broken connection must not be reused by the next attempt.
        connection.close()
        raise
