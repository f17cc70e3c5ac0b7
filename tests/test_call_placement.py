"""Where a call ran: the media node read from the job's WebRTC statistics, and the worker host,
stored on the call and shown to supervisors (the cluster tests prove it over real nodes)."""

import pytest
from livekit.rtc._proto import stats_pb2

from agentworker.placement import selected_remote_address
from callcenter.models import Call


def stats(*entries) -> list:
    return [stats_pb2.RtcStats(**entry) for entry in entries]


def pair(pair_id: str, remote_id: str, nominated: bool) -> dict:
    return {
        "candidate_pair": stats_pb2.RtcStats.CandidatePair(
            rtc=stats_pb2.RtcStatsData(id=pair_id),
            candidate_pair=stats_pb2.CandidatePairStats(
                remote_candidate_id=remote_id, nominated=nominated
            ),
        )
    }


def remote(candidate_id: str, address: str) -> dict:
    return {
        "remote_candidate": stats_pb2.RtcStats.RemoteCandidate(
            rtc=stats_pb2.RtcStatsData(id=candidate_id),
            candidate=stats_pb2.IceCandidateStats(address=address),
        )
    }


def transport(selected_pair: str) -> dict:
    return {
        "transport": stats_pb2.RtcStats.Transport(
            rtc=stats_pb2.RtcStatsData(id="T1"),
            transport=stats_pb2.TransportStats(selected_candidate_pair_id=selected_pair),
        )
    }


def test_the_media_node_is_the_remote_end_of_the_selected_candidate_pair():
    entries = stats(
        remote("R1", "10.0.0.21"),
        remote("R2", "10.0.0.22"),
        pair("P1", "R1", nominated=True),
        pair("P2", "R2", nominated=False),
        transport("P2"),  # the transport's choice wins over an earlier nomination
    )
    assert selected_remote_address(entries) == "10.0.0.22"


def test_without_a_transport_choice_the_nominated_pair_counts():
    entries = stats(remote("R1", "10.0.0.21"), pair("P1", "R1", nominated=True))
    assert selected_remote_address(entries) == "10.0.0.21"


def test_no_pair_chosen_yet_gives_no_address():
    entries = stats(remote("R1", "10.0.0.21"), pair("P1", "R1", nominated=False))
    assert selected_remote_address(entries) == ""


@pytest.mark.django_db
def test_the_placement_is_stored_and_shown_on_the_calls_history_page(client, staff_user):
    call = Call.objects.create()
    assert call.record_placement("worker2", "10.0.0.22")
    call.refresh_from_db()
    assert (call.worker_host, call.media_node, call.version) == ("worker2", "10.0.0.22", 1)
    client.force_login(staff_user)
    page = client.get(f"/history/{call.pk}/").content.decode()
    assert "worker worker2 · media node 10.0.0.22" in page
    detail = client.get(f"/api/calls/{call.pk}/").json()
    assert (detail["worker_host"], detail["media_node"]) == ("worker2", "10.0.0.22")
