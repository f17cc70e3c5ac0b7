"""Call lifecycle and the per-call sequence space shared by segments and events."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from callcenter.models import Call, CallEvent, TranscriptSegment
from vehicles.models import Vehicle


@pytest.mark.django_db
def test_new_calls_get_distinct_server_chosen_room_names():
    first, second = Call.objects.create(), Call.objects.create()
    assert first.room_name.startswith("call-")
    assert first.room_name != second.room_name
    assert first.status == Call.Status.WAITING


@pytest.mark.django_db
def test_segment_sequence_is_unique_per_call_so_a_replayed_write_cannot_duplicate():
    call = Call.objects.create()
    TranscriptSegment.objects.create(call=call, sequence=1, speaker="agent", text="Hello")
    with pytest.raises(IntegrityError), transaction.atomic():
        TranscriptSegment.objects.create(call=call, sequence=1, speaker="agent", text="Hello")
    other = Call.objects.create()
    TranscriptSegment.objects.create(call=other, sequence=1, speaker="agent", text="Hi")
    assert TranscriptSegment.objects.filter(call=call).count() == 1


@pytest.mark.django_db
def test_last_sequence_spans_segments_and_events():
    call = Call.objects.create()
    assert call.last_sequence() == 0
    TranscriptSegment.objects.create(call=call, sequence=1, speaker="customer", text="Hi")
    CallEvent.objects.create(call=call, sequence=2, type=CallEvent.Type.TOOL_CALL)
    assert call.last_sequence() == 2


@pytest.mark.django_db
def test_mark_active_then_ended_keeps_the_first_times():
    call = Call.objects.create()
    answered = timezone.now()
    call.mark_active(answered)
    call.mark_active(answered + timedelta(seconds=5))
    assert call.status == Call.Status.ACTIVE
    assert call.answered_at == answered

    ended = answered + timedelta(minutes=2)
    call.mark_ended(ended)
    call.mark_ended(ended + timedelta(minutes=1), failed_reason="late retry")
    call.refresh_from_db()
    assert call.status == Call.Status.ENDED
    assert call.ended_at == ended
    assert call.failure_reason == ""
    assert call.duration == timedelta(minutes=2)


@pytest.mark.django_db
def test_a_failed_call_keeps_its_reason():
    call = Call.objects.create()
    call.mark_ended(failed_reason="agent crashed")
    assert call.status == Call.Status.FAILED
    assert call.failure_reason == "agent crashed"
    assert not call.is_live


@pytest.mark.django_db
def test_each_named_change_counts_a_version_and_an_ended_call_keeps_its_record(
    django_user_model,
):
    call = Call.objects.create()
    vehicle = Vehicle.objects.create(
        vin="1HGCM82633A004352", make="Honda", model="Accord", year=2003
    )
    supervisor = django_user_model.objects.create_user("ana", is_staff=True)
    changes = [
        (call.mark_active, ()),
        (call.assign_job, ("AJ_first",)),
        (call.set_vehicle, (vehicle.pk,)),
        (call.flag_needs_human, ()),
        (call.take_over, (supervisor,)),
        (call.release_control, (supervisor.pk,)),
        (call.store_metrics, ({"turns": 2},)),
        (call.mark_ended, ()),
        (call.store_summary, ("Asked about brakes.", Call.Outcome.RESOLVED)),
    ]
    for number, (change, arguments) in enumerate(changes, start=1):
        assert change(*arguments) is True, change.__name__
        assert call.version == number, change.__name__
    stored = Call.objects.select_related("vehicle").get(pk=call.pk)
    assert (stored.worker_job_id, stored.vehicle, stored.needs_human) == ("AJ_first", vehicle, True)
    assert stored.controller is None and stored.metrics == {"turns": 2}
    assert stored.to_dict()["version"] == len(changes)
    # Once ended, a job that comes for the call (a caller rejoining) does not rewrite it.
    assert call.assign_job("AJ_second") is False
    assert call.take_over(supervisor) is False
    stored.refresh_from_db()
    assert (stored.worker_job_id, stored.version) == ("AJ_first", len(changes))
