"""Playback from local storage: supervisors only, HTTP ranges, no path from the request."""

import pytest
from django.core.files.base import ContentFile

from callcenter.models import Call
from recordings.models import Recording
from recordings.views import parse_range

AUDIO = bytes(range(256)) * 4  # 1024 bytes


@pytest.fixture
def ready_recording(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    }
    call = Call.objects.create(status=Call.Status.ENDED)
    recording = Recording.objects.create(call=call, source="agent", status="ready", format="ogg")
    recording.file.save("audio.ogg", ContentFile(AUDIO))
    return recording


def audio(client, recording, **headers):
    return client.get(f"/recordings/{recording.pk}/audio", **headers)


def body(response):
    return b"".join(response.streaming_content)


@pytest.mark.django_db
def test_the_whole_file_streams_with_accept_ranges(staff_client, ready_recording):
    response = audio(staff_client, ready_recording)
    assert response.status_code == 200
    assert response["Content-Type"] == "audio/ogg"
    assert response["Accept-Ranges"] == "bytes"
    assert body(response) == AUDIO


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=1000-", 1000, 1023),
        ("bytes=-24", 1000, 1023),
        ("bytes=10-5000", 10, 1023),
    ],
)
def test_a_range_request_gets_206_with_exactly_those_bytes(
    staff_client, ready_recording, header, first, last
):
    response = audio(staff_client, ready_recording, HTTP_RANGE=header)
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {first}-{last}/1024"
    assert response["Content-Length"] == str(last - first + 1)
    assert body(response) == AUDIO[first : last + 1]


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["bytes=2000-", "bytes=-0", "bytes=50-10", "pages=1-2"])
def test_an_unsatisfiable_range_gets_416(staff_client, ready_recording, header):
    response = audio(staff_client, ready_recording, HTTP_RANGE=header)
    assert response.status_code == 416
    assert response["Content-Range"] == "bytes */1024"


@pytest.mark.django_db
def test_playback_is_for_supervisors_only(
    client, customer_user, ready_recording, django_user_model
):
    assert audio(client, ready_recording).status_code == 302  # to the login page
    client.force_login(customer_user)
    assert audio(client, ready_recording).status_code == 403
    client.force_login(django_user_model.objects.create_user("plainstaff", is_staff=True))
    assert audio(client, ready_recording).status_code == 403


@pytest.mark.django_db
def test_unready_or_unknown_recordings_are_404(staff_client, ready_recording):
    Recording.objects.filter(pk=ready_recording.pk).update(status="uploading")
    assert audio(staff_client, ready_recording).status_code == 404
    assert staff_client.get("/recordings/999999/audio").status_code == 404
    assert staff_client.get("/recordings/..%2F..%2Fetc%2Fpasswd/audio").status_code == 404


def test_parse_range_reads_multi_ranges_as_the_whole_file():
    assert parse_range("bytes=0-1,5-6", 100) is None
    assert parse_range("", 100) is None


@pytest.mark.django_db
def test_the_admin_shows_a_player_for_a_ready_recording(admin_client_logged_in, ready_recording):
    response = admin_client_logged_in.get(
        f"/admin/recordings/recording/{ready_recording.pk}/change/"
    )
    assert f'src="/recordings/{ready_recording.pk}/audio"' in response.content.decode()
