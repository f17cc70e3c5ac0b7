"""Recording policies and the caller's consent: what a call starts with, what the caller's
answers make of it, where staff set the policy and how the record reads."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync

from agentworker.audio_recording import consent_for, first_words
from callcenter.models import Call, CallEvent, WebCallPage
from recordings.consent import ANNOUNCEMENT, QUESTION, consent_after, consent_at_start
from recordings.models import RecordingConsent, RecordingPolicy
from telephony.models import PhoneLine

Consent = RecordingConsent


@pytest.mark.parametrize(
    ("policy", "recording_on", "expected"),
    [
        (RecordingPolicy.ANNOUNCE, True, Consent.ANNOUNCED),
        (RecordingPolicy.ASK, True, Consent.ASKED),
        (RecordingPolicy.OFF, True, Consent.NOT_RECORDED),
        (RecordingPolicy.ASK, False, Consent.NOT_RECORDED),
        (RecordingPolicy.ANNOUNCE, False, Consent.NOT_RECORDED),
    ],
)
def test_a_call_starts_with_the_consent_its_policy_asks_for(policy, recording_on, expected):
    assert consent_at_start(policy, recording_on) == expected


@pytest.mark.parametrize(
    ("current", "agrees", "expected"),
    [
        (Consent.ASKED, True, Consent.GRANTED),
        (Consent.ASKED, False, Consent.DECLINED),
        (Consent.ANNOUNCED, False, Consent.WITHDRAWN),
        (Consent.GRANTED, False, Consent.WITHDRAWN),
        (Consent.ANNOUNCED, True, Consent.ANNOUNCED),
        # A refusal is final: a later "yes" (or a model made to say one) records nothing.
        (Consent.DECLINED, True, Consent.DECLINED),
        (Consent.WITHDRAWN, True, Consent.WITHDRAWN),
        (Consent.NOT_RECORDED, True, Consent.NOT_RECORDED),
    ],
)
def test_the_callers_answer_changes_the_consent_only_as_the_caller_may(current, agrees, expected):
    assert consent_after(current, agrees) == expected


def test_the_agent_announces_or_asks_before_its_greeting():
    assert first_words(Consent.ANNOUNCED) == ANNOUNCEMENT
    assert first_words(Consent.ASKED) == QUESTION
    assert first_words(Consent.NOT_RECORDED) == ""


@pytest.mark.django_db
def test_a_lines_policy_or_the_web_pages_decides_and_a_resumed_call_keeps_its_own(settings):
    settings.RECORDING_MODE = "agent"
    line = PhoneLine.objects.create(number="+4930123456", name="Desk", recording_policy="ask")
    phone_call = Call.objects.create(channel=Call.Channel.PHONE, dialled_number=line.number)
    web_call = Call.objects.create()
    assert async_to_sync(consent_for)(phone_call, line, False) == Consent.ASKED
    assert async_to_sync(consent_for)(web_call, None, False) == Consent.ANNOUNCED
    WebCallPage.objects.update_or_create(pk=1, defaults={"recording_policy": "off"})
    assert async_to_sync(consent_for)(web_call, None, False) == Consent.NOT_RECORDED
    phone_call.set_recording_consent(Consent.DECLINED)
    assert async_to_sync(consent_for)(phone_call, line, True) == Consent.DECLINED
    settings.RECORDING_MODE = "off"
    assert async_to_sync(consent_for)(web_call, None, False) == Consent.NOT_RECORDED


@pytest.mark.django_db
def test_staff_set_the_web_pages_policy_in_the_admin_on_its_one_row(admin_client_logged_in):
    page = WebCallPage.current()
    changed = admin_client_logged_in.post(
        f"/admin/callcenter/webcallpage/{page.pk}/change/", {"recording_policy": "ask"}
    )
    assert changed.status_code == 302
    assert WebCallPage.current().recording_policy == RecordingPolicy.ASK
    assert admin_client_logged_in.get("/admin/callcenter/webcallpage/add/").status_code == 403
    deleted = admin_client_logged_in.get(f"/admin/callcenter/webcallpage/{page.pk}/delete/")
    assert deleted.status_code == 403
    assert WebCallPage.objects.count() == 1


def test_consent_and_pauses_read_as_sentences_in_the_record():
    declined = CallEvent(type=CallEvent.Type.RECORDING_CONSENT, payload={"consent": "declined"})
    assert declined.describe() == "Recording declined by the caller"
    paused = CallEvent(
        type=CallEvent.Type.RECORDING_PAUSED, payload={"seconds": 9.8, "reason": "card number"}
    )
    assert paused.describe() == "Recording paused 9.8 s: card number"
    forged = CallEvent(type=CallEvent.Type.RECORDING_CONSENT, payload={"consent": "<b>"})
    assert forged.describe() == "?"


@pytest.mark.django_db(transaction=True)
def test_a_withdrawal_deletes_what_every_job_recorded_and_what_is_still_uploading(tmp_path):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from recordings.models import Recording
    from recordings.storage import discard_call_recordings, upload_recording

    call = Call.objects.create(status=Call.Status.ACTIVE)
    # A job lost mid-call had uploaded its part; this job's part is still on its way.
    earlier = Recording.objects.create(call=call, source="agent", status="ready")
    earlier.file.name = default_storage.save(f"recordings/{call.pk}/a.ogg", ContentFile(b"OggS"))
    earlier.save()
    uploading = Recording.objects.create(call=call, source="agent")
    assert discard_call_recordings(call.pk) == []
    earlier.refresh_from_db()
    assert earlier.status == Recording.Status.DISCARDED and not earlier.file
    assert not default_storage.exists(f"recordings/{call.pk}/a.ogg")
    local = tmp_path / "audio.ogg"
    local.write_bytes(b"OggS audio")
    assert async_to_sync(upload_recording)(uploading.pk, local) is False
    uploading.refresh_from_db()
    assert uploading.status == Recording.Status.DISCARDED and not uploading.file
    assert not local.exists(), "nothing of it is kept on the worker either"
