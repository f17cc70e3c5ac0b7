"""Egress recording: the request LiveKit receives (a local Twirp stand-in), and its end."""

import pytest
from aiohttp import web
from livekit import api

from callcenter.models import Call
from recordings.egress import start_call_egress, stop_call_egress
from recordings.models import Recording

KEY, SECRET = "APIegress", "egress-secret-0123456789-0123456789-0123"


class TwirpEgressStandIn:
    """Answers LiveKit's Egress Twirp calls and keeps what it was asked."""

    def __init__(self):
        self.requests = []

    async def __aenter__(self):
        app = web.Application()
        app.router.add_post("/twirp/livekit.Egress/{method}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc):
        await self.runner.cleanup()

    async def handle(self, request):
        method = request.match_info["method"]
        claims = api.TokenVerifier(KEY, SECRET).verify(
            request.headers["Authorization"].removeprefix("Bearer ")
        )
        body = await request.read()
        if method == "StartRoomCompositeEgress":
            message = api.RoomCompositeEgressRequest.FromString(body)
            info = api.EgressInfo(egress_id="EG_test", status=api.EgressStatus.EGRESS_STARTING)
        else:
            message = api.StopEgressRequest.FromString(body)
            info = api.EgressInfo(
                egress_id=message.egress_id, status=api.EgressStatus.EGRESS_ENDING
            )
        self.requests.append((method, claims, message))
        return web.Response(body=info.SerializeToString(), content_type="application/protobuf")


@pytest.mark.django_db(transaction=True)
async def test_egress_records_the_room_audio_only_straight_to_the_bucket(settings):
    settings.S3_BUCKET = "recordings"
    settings.S3_ENDPOINT_URL = "https://minio.internal:9000"
    settings.S3_ACCESS_KEY_ID, settings.S3_SECRET_ACCESS_KEY = "minio", "minio-secret"
    settings.S3_ADDRESSING_STYLE = "path"
    call = await Call.objects.acreate(status=Call.Status.ACTIVE)
    async with TwirpEgressStandIn() as livekit:
        lkapi = api.LiveKitAPI(livekit.url, KEY, SECRET, failover=False)
        recording = await start_call_egress(call, lkapi)
        await stop_call_egress(recording, lkapi)
        await lkapi.aclose()

    (start_method, claims, request), (stop_method, _, stop) = livekit.requests
    assert start_method == "StartRoomCompositeEgress"
    assert claims.video.room_record is True
    assert request.room_name == call.room_name
    assert request.audio_only is True
    (output,) = request.file_outputs
    assert output.file_type == api.EncodedFileType.OGG
    assert str(call.pk) in output.filepath
    assert (output.s3.bucket, output.s3.endpoint, output.s3.force_path_style) == (
        "recordings",
        "https://minio.internal:9000",
        True,
    )
    assert (stop_method, stop.egress_id) == ("StopEgress", "EG_test")
    await recording.arefresh_from_db()
    assert (recording.egress_id, recording.status, recording.file.name) == (
        "EG_test",
        Recording.Status.RECORDING,
        output.filepath,
    )


@pytest.mark.django_db(transaction=True)
async def test_an_egress_that_cannot_start_leaves_a_failed_recording_with_the_reason():
    call = await Call.objects.acreate(status=Call.Status.ACTIVE)
    lkapi = api.LiveKitAPI("http://127.0.0.1:9", KEY, SECRET, failover=False)
    with pytest.raises(Exception):  # noqa: B017 - whatever the transport raises
        await start_call_egress(call, lkapi)
    await lkapi.aclose()
    recording = await Recording.objects.aget(call=call)
    assert recording.status == Recording.Status.FAILED
    assert "egress did not start" in recording.error


@pytest.mark.django_db(transaction=True)
async def test_a_caller_who_withdraws_has_the_egress_stopped_and_its_file_deleted(settings):
    from asgiref.sync import sync_to_async
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from recordings.egress import apply_egress_info, stop_discarded_egresses
    from recordings.storage import discard_call_recordings

    call = await Call.objects.acreate(status=Call.Status.ACTIVE)
    async with TwirpEgressStandIn() as livekit:
        lkapi = api.LiveKitAPI(livekit.url, KEY, SECRET, failover=False)
        recording = await start_call_egress(call, lkapi)
        running = await sync_to_async(discard_call_recordings)(call.pk)
        assert running == [recording]
        await stop_discarded_egresses(running, lkapi)
        await lkapi.aclose()
    assert [method for method, _, _ in livekit.requests] == [
        "StartRoomCompositeEgress", "StopEgress"
    ]  # fmt: skip
    # LiveKit finishes writing the file, then says so: what it wrote is deleted.
    key = recording.file.name
    await sync_to_async(default_storage.save)(key, ContentFile(b"OggS audio"))
    finished = api.EgressInfo(egress_id="EG_test", status=api.EgressStatus.EGRESS_COMPLETE)
    finished.file_results.add(filename=key, size=10)
    await sync_to_async(apply_egress_info)(finished)
    await recording.arefresh_from_db()
    assert recording.status == Recording.Status.DISCARDED and not recording.file
    assert not await sync_to_async(default_storage.exists)(key)
