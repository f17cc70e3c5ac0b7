"""Recordings on S3 (moto's server over HTTP): upload, presigned playback, blinks, retention."""

import asyncio
import urllib.request
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from callcenter.models import Call
from recordings.models import Recording
from recordings.storage import upload_recording
from tests.support.s3 import S3Server

AUDIO = b"OggS" + bytes(range(256)) * 40


@pytest.fixture
def s3(settings):
    server = S3Server()
    server.start()
    server.client().create_bucket(Bucket=server.bucket)
    settings.STORAGES = {**settings.STORAGES, "default": server.storage_settings()}
    yield server
    server.stop()


def local_recording(tmp_path, name="audio.ogg"):
    path = tmp_path / name
    path.write_bytes(AUDIO)
    return path


def object_bytes(server, key):
    return server.client().get_object(Bucket=server.bucket, Key=key)["Body"].read()


@pytest.mark.django_db(transaction=True)
async def test_an_agent_recording_is_uploaded_and_the_local_file_removed(s3, tmp_path):
    call = await Call.objects.acreate(status=Call.Status.ENDED)
    recording = await Recording.objects.acreate(call=call, source="agent", format="ogg")
    path = local_recording(tmp_path)
    assert await upload_recording(recording.pk, path)
    await recording.arefresh_from_db()
    assert recording.status == Recording.Status.READY
    assert recording.size_bytes == len(AUDIO)
    assert str(call.pk) in recording.file.name
    assert object_bytes(s3, recording.file.name) == AUDIO
    assert not path.exists()


@pytest.mark.django_db(transaction=True)
async def test_an_upload_survives_the_store_going_away_and_coming_back(s3, tmp_path):
    call = await Call.objects.acreate(status=Call.Status.ENDED)
    recording = await Recording.objects.acreate(call=call, source="agent", format="ogg")
    path = local_recording(tmp_path)
    s3.stop()
    upload = asyncio.create_task(upload_recording(recording.pk, path, retry_delays=(0.2,)))
    await asyncio.sleep(1.0)
    await recording.arefresh_from_db()
    assert recording.status == Recording.Status.UPLOADING
    assert path.exists(), "the local file is kept while the store is away"
    s3.start()
    assert await asyncio.wait_for(upload, 30)
    await recording.arefresh_from_db()
    assert recording.status == Recording.Status.READY
    assert object_bytes(s3, recording.file.name) == AUDIO
    assert not path.exists()


@pytest.mark.django_db(transaction=True)
async def test_an_upload_that_never_succeeds_is_failed_and_keeps_the_file(s3, tmp_path):
    call = await Call.objects.acreate(status=Call.Status.ENDED)
    recording = await Recording.objects.acreate(call=call, source="agent")
    path = local_recording(tmp_path)
    s3.stop()
    assert not await upload_recording(recording.pk, path, retry_delays=(0.01,), max_attempts=3)
    await recording.arefresh_from_db()
    assert recording.status == Recording.Status.FAILED
    assert str(path) in recording.error
    assert path.exists()
    s3.start()


@pytest.mark.django_db
def test_playback_on_s3_redirects_to_a_presigned_url_with_the_same_bytes(s3, client, staff_user):
    call = Call.objects.create(status=Call.Status.ENDED)
    key = f"recordings/2026/11/24/{call.pk}/call.ogg"
    s3.client().put_object(Bucket=s3.bucket, Key=key, Body=AUDIO)
    recording = Recording.objects.create(
        call=call, source="egress", status="ready", file=key, format="ogg"
    )
    client.force_login(staff_user)
    response = client.get(f"/recordings/{recording.pk}/audio")
    assert response.status_code == 302
    url = response["Location"]
    assert "X-Amz-Signature" in url and "X-Amz-Expires=60" in url
    with urllib.request.urlopen(url, timeout=10) as presigned:  # noqa: S310 (local moto)
        assert presigned.read() == AUDIO


@pytest.mark.django_db
def test_retention_deletes_old_objects_and_dry_run_deletes_none(s3):
    call = Call.objects.create(status=Call.Status.ENDED)
    recordings = []
    for age_days in (200, 100, 5):
        key = f"recordings/old/{age_days}.ogg"
        s3.client().put_object(Bucket=s3.bucket, Key=key, Body=AUDIO)
        recording = Recording.objects.create(call=call, source="egress", status="ready", file=key)
        Recording.objects.filter(pk=recording.pk).update(
            created_at=timezone.now() - timedelta(days=age_days)
        )
        recordings.append(recording)

    def keys():
        listing = s3.client().list_objects_v2(Bucket=s3.bucket)
        return sorted(item["Key"] for item in listing.get("Contents", []))

    out = StringIO()
    call_command(
        "purge_recordings", "--older-than-days", "30", "--dry-run", stdout=out, verbosity=0
    )
    assert "Would delete files of 2 recordings" in out.getvalue()
    assert len(keys()) == 3

    call_command("purge_recordings", "--older-than-days", "30", stdout=StringIO(), verbosity=0)
    assert keys() == ["recordings/old/5.ogg"]
    kept = {r.pk: r.file.name for r in Recording.objects.all()}
    assert kept == {
        recordings[0].pk: "",
        recordings[1].pk: "",
        recordings[2].pk: "recordings/old/5.ogg",
    }

    call_command(
        "purge_recordings",
        "--older-than-days",
        "30",
        "--delete-rows",
        stdout=StringIO(),
        verbosity=0,
    )
    assert Recording.objects.count() == 1


def test_retention_refuses_a_nonsense_period():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="at least 1"):
        call_command("purge_recordings", "--older-than-days", "0")


def test_a_finished_recording_is_spooled_out_of_the_job_directory(settings, tmp_path):
    from recordings.storage import spool_recording

    settings.RECORDING_SPOOL_DIR = tmp_path / "spool"
    job_directory = tmp_path / "job"
    job_directory.mkdir()
    recording = local_recording(job_directory)
    spooled = spool_recording(recording, "0b6a3c6e-9c9e-4a43-9d0a-2d3f0f4f2a11")
    assert spooled == tmp_path / "spool" / "0b6a3c6e-9c9e-4a43-9d0a-2d3f0f4f2a11.ogg"
    assert spooled.read_bytes() == AUDIO
    assert not recording.exists()
