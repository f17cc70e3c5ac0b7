"""Card numbers never reach the recording: while a caller reads one out, the recorder writes
silence over both channels (PCI DSS "pause and resume").

The live transcript tells when: the redactor's own rule (``callcenter.redaction``) on every
transcript of the caller's, interim or final, and the agent's question when it asks for a
card. A pause starts where the caller began the words that held a number (or when the agent
asked for one) and ends when the number is complete or the caller moved on (their next words
hold no digits).

Speech is transcribed after it was spoken, so the recorder (livekit-agents' ``RecorderIO``,
which writes both channels on one timeline) is handed audio late: every frame waits
``HOLD_SECONDS``, and the caller's words wait until their transcript is in. Whatever falls in
a pause is handed over as silence; nothing of it is ever written to disk.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections import deque
from collections.abc import Callable

from livekit import rtc
from livekit.agents import llm
from livekit.agents.voice import events as voice_events
from livekit.agents.voice.recorder_io.recorder_io import RecorderIO, _Captured, _Flush

from callcenter.redaction import DIGIT_WORDS, redact_card_numbers, trailing_digits

# Every frame waits this long: the VAD says the caller started speaking about this late.
HOLD_SECONDS = 1.0
# How long before the VAD's "started speaking" the caller's first word may have begun.
SPEECH_LEAD_SECONDS = 0.6
# A transcript that never comes releases what it held after this long.
MAX_HOLD_SECONDS = 30.0
# A pause that no complete number and no change of topic ended ends after this long.
MAX_PAUSE_SECONDS = 120.0
# Words ending in a few digits are held this long for the caller's next words: a number read
# in parts is a card number only with them.
CARRY_SECONDS = 10.0
CARRY_DIGITS = 4
# After a card number, digits the caller reads are its security code or expiry date.
AFTER_CARD_SECONDS = 60.0
CARD_REASON = "card number"

# The agent asking for a card: the caller's next words are a card number.
CARD_QUESTION = re.compile(
    r"\b(card number|number on (the|your) card|credit card|debit card|card details|"
    r"long number|security code|cvv|cvc|expiry|expiration)\b",
    re.IGNORECASE,
)
ANY_DIGIT = re.compile(r"\d|\b(" + "|".join(w for w in DIGIT_WORDS if len(w) > 1) + r")\b", re.I)


class CardPause:
    """When the recording must be silent, from what the caller and the agent said. Times are
    wall-clock seconds, as the recorder places audio."""

    def __init__(self) -> None:
        self.speaking_since: float | None = None  # the caller's current words began
        self.untranscribed_from: float | None = None  # words not transcribed yet begin here
        self.carry = ""  # the caller's last words, ending in digits a number may go on from
        self.carry_from: float | None = None  # ...which began here, held until
        self.carry_until = 0.0
        self.card_heard_at: float | None = None
        self.paused_since: float | None = None
        self.heard_digits = False  # in this pause
        self.quiet_answers = 0  # the caller's answers without digits in this pause
        self.spans: list[tuple[float, float]] = []  # finished pauses

    def caller_started_speaking(self, at: float) -> None:
        self.speaking_since = at - SPEECH_LEAD_SECONDS
        if self.untranscribed_from is None:
            self.untranscribed_from = self.speaking_since

    def caller_stopped_speaking(self) -> None:
        self.speaking_since = None

    def agent_said(self, text: str, at: float) -> None:
        """The agent finished saying ``text``: if it asked for a card, the pause starts."""
        if self.paused_since is None and CARD_QUESTION.search(text):
            self._pause(at)

    def _pause(self, at: float) -> None:
        self.paused_since, self.heard_digits, self.quiet_answers = at, False, 0

    def caller_transcript(self, text: str, final: bool, at: float) -> tuple[float, float] | None:
        """A transcript of the caller's words; the pause it ended, if any."""
        carried = self.carry if self.carry_from is not None and at < self.carry_until else ""
        words = f"{carried} {text}".strip()
        began = min(
            value for value in (self.untranscribed_from, self.speaking_since, at)
            if value is not None
        )  # fmt: skip
        if redact_card_numbers(text) != text:
            has_card = True
        elif carried and redact_card_numbers(words) != words:
            has_card, began = True, min(began, self.carry_from)  # from its first part
        else:
            has_card = False
        has_digits = bool(ANY_DIGIT.search(text))
        after_card = (
            has_digits
            and self.card_heard_at is not None
            and at - self.card_heard_at < AFTER_CARD_SECONDS
        )
        if (has_card or after_card) and self.paused_since is None:
            self._pause(began)
        if not final:
            return None
        # Words still being spoken after this transcript are the next one's.
        self.untranscribed_from = self.speaking_since
        if has_card:
            self.card_heard_at = at
        if not has_card and trailing_digits(words) >= CARRY_DIGITS:
            first = min(began, self.carry_from) if carried else began
            self.carry, self.carry_from, self.carry_until = words[-300:], first, at + CARRY_SECONDS
        else:
            self.carry, self.carry_from = "", None
        if self.paused_since is None:
            return None
        self.heard_digits |= has_digits
        if has_card or after_card:
            return self.resume(at)  # the number (or its code) is complete
        if not has_digits:
            self.quiet_answers += 1
            # The caller moved on: after digits, or at a second answer without any ("one
            # moment" before reading the number does not end the pause).
            if self.heard_digits or self.quiet_answers >= 2:
                return self.resume(at)
        return None

    def resume(self, at: float) -> tuple[float, float]:
        span = (self.paused_since, at)
        self.spans.append(span)
        self.paused_since = None
        return span

    def overdue(self, now: float) -> tuple[float, float] | None:
        """A pause that went on too long, ended."""
        if self.paused_since is not None and now - self.paused_since > MAX_PAUSE_SECONDS:
            return self.resume(now)
        return None

    def releasable_until(self, now: float) -> float:
        """Audio that ended before this time may be handed to the recorder."""
        point = now - HOLD_SECONDS
        if self.untranscribed_from is not None:
            point = min(point, max(self.untranscribed_from, now - MAX_HOLD_SECONDS))
        if self.carry_from is not None and now < self.carry_until:
            point = min(point, self.carry_from)
        return point

    def silent(self, start: float, end: float, caller: bool = True) -> bool:
        """Whether audio from ``start`` to ``end`` falls in a pause; for the ``caller``'s
        channel, also whether it was never transcribed (handed over only when no transcript
        came in time, or at the end: what no transcript showed free of a card number is not
        kept)."""
        if self.paused_since is not None and end > self.paused_since:
            return True
        if caller and self.untranscribed_from is not None and start >= self.untranscribed_from:
            return True
        return any(start < to and end > since for since, to in self.spans)


def silence_like(frame: rtc.AudioFrame) -> rtc.AudioFrame:
    return rtc.AudioFrame(
        data=bytes(frame.samples_per_channel * frame.num_channels * 2),  # 16-bit samples
        sample_rate=frame.sample_rate,
        num_channels=frame.num_channels,
        samples_per_channel=frame.samples_per_channel,
    )


class CardSafeRecorder(RecorderIO):
    """livekit-agents' recorder, handed each frame only once ``CardPause`` knows whether it
    falls in a pause (then as silence), and never told to write past a frame it holds."""

    def __init__(
        self, *, agent_session, pause: CardPause, clock: Callable[[], float] = time.time,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:  # fmt: skip
        super().__init__(agent_session=agent_session, loop=loop)
        self.pause = pause
        self._clock = clock
        self._held: deque = deque()
        self._closing = False

    async def aclose(self) -> None:
        self._closing = True  # all that is held goes to the file now
        await super().aclose()

    def _put(self, item) -> None:
        if item is not None and not isinstance(item, _Flush) and not self._closing:
            self._held.append(item)
            self._release(self.pause.releasable_until(self._clock()))
            return
        point = math.inf if self._closing else self.pause.releasable_until(self._clock())
        self._release(point)
        if isinstance(item, _Flush):
            held_from = min(
                (held.started_at for held in self._held if isinstance(held, _Captured)),
                default=math.inf,
            )
            item = _Flush(until=min(item.until, held_from))
        super()._put(item)

    def _release(self, until: float) -> None:
        """Hand over, in the order they came, the held items that end before ``until``."""
        while self._held:
            item = self._held[0]
            if isinstance(item, _Captured):
                end = item.started_at + item.frame.duration
                if end > until:
                    return
                if self.pause.silent(item.started_at, end, caller=item.channel == 0):
                    item = _Captured(item.channel, item.started_at, silence_like(item.frame))
            self._held.popleft()
            super()._put(item)


class RecordingPauses:
    """Feeds ``CardPause`` from one session's events, and notes each pause on the call
    (``note(seconds, reason)``)."""

    def __init__(self, session, note: Callable[[float, str], None]) -> None:
        self.pause = CardPause()
        self._note = note
        session.on("user_state_changed", self._user_state)
        session.on("user_input_transcribed", self._transcribed)
        session.on("conversation_item_added", self._item_added)

    def _user_state(self, event: voice_events.UserStateChangedEvent) -> None:
        if event.new_state == "speaking":
            self.pause.caller_started_speaking(event.created_at)
        else:
            self.pause.caller_stopped_speaking()

    def _transcribed(self, event: voice_events.UserInputTranscribedEvent) -> None:
        self._ended(
            self.pause.caller_transcript(event.transcript, event.is_final, event.created_at)
            or self.pause.overdue(event.created_at)
        )

    def _item_added(self, event: voice_events.ConversationItemAddedEvent) -> None:
        item = event.item
        if isinstance(item, llm.ChatMessage) and item.role == "assistant":
            self.pause.agent_said(item.text_content or "", time.time())

    def finish(self) -> None:
        """The call is over: a pause still running ends with it."""
        if self.pause.paused_since is not None:
            self._ended(self.pause.resume(time.time()))

    def _ended(self, span: tuple[float, float] | None) -> None:
        if span is not None:
            self._note(round(span[1] - span[0], 1), CARD_REASON)
