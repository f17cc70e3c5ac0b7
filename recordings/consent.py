"""A call's recording consent: what the policy asks at the start, and what the caller's
answer or a later refusal makes of it.

- ``announce``: the greeting says the call is recorded; it is recorded (ANNOUNCED).
- ``ask``: nothing is recorded until the caller agrees (GRANTED); a caller who declines
  (DECLINED) or never answers (ASKED) has no audio stored.
- A caller who asks mid-call not to be recorded (WITHDRAWN) stops the recording at once, and
  what was already recorded of the call is deleted: no audio of the call is kept.

Transcripts are not audio: they are kept as for every call (card numbers removed), whatever
the consent.
"""

from __future__ import annotations

from recordings.models import RecordingConsent, RecordingPolicy

KEEPS_AUDIO = {RecordingConsent.ANNOUNCED, RecordingConsent.GRANTED}

ANNOUNCEMENT = "This call is recorded for quality and training."
QUESTION = "May we record this call for quality and training? Please say yes or no."


def consent_at_start(policy: str, recording_on: bool) -> RecordingConsent:
    """The consent a call starts with under ``policy`` (``recording_on``: RECORDING_MODE is
    not off)."""
    if not recording_on or policy == RecordingPolicy.OFF:
        return RecordingConsent.NOT_RECORDED
    if policy == RecordingPolicy.ASK:
        return RecordingConsent.ASKED
    return RecordingConsent.ANNOUNCED


def consent_after(current: str, agrees: bool) -> RecordingConsent:
    """The consent after the caller said whether they agree. Agreeing counts only as the
    answer to the question; once refused, a call is not recorded again."""
    if current == RecordingConsent.ASKED:
        return RecordingConsent.GRANTED if agrees else RecordingConsent.DECLINED
    if not agrees and current in KEEPS_AUDIO:
        return RecordingConsent.WITHDRAWN
    return RecordingConsent(current)
