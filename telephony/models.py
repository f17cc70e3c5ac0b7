"""Phone lines: a number callers dial, provisioned on LiveKit as an inbound SIP trunk and a
dispatch rule that puts each call in its own room with the agent (telephony.provisioning)."""

import re

from django.core.exceptions import ValidationError
from django.db import models

from recordings.models import RecordingPolicy
from telephony.hours import EXAMPLE, is_open, spoken, validate_opening_hours

E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def validate_e164(number: str) -> None:
    if not E164.match(number or ""):
        raise ValidationError(
            "Give the number in international form: a + and 7 to 15 digits, e.g. +4930123456."
        )


LANGUAGE = re.compile(r"^[a-z]{2,3}-[A-Z]{2}$")


def language_list(text: str) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def validate_languages(text: str) -> None:
    wrong = [code for code in language_list(text) if not LANGUAGE.match(code)]
    if wrong or not language_list(text):
        raise ValidationError(
            "Give languages as codes with their region, comma-separated, e.g. en-US, de-DE."
        )


CALLBACKS_NEED_ALLOWED_ADDRESSES = (
    "A line that calls back needs its provider's addresses here: with none, anyone may send "
    "calls with any caller ID to it, and so choose the number the desk calls back."
)


class PhoneLine(models.Model):
    number = models.CharField(
        max_length=16, unique=True, validators=[validate_e164], help_text="The dialled number."
    )
    name = models.CharField(max_length=80, help_text="What staff call this line.")
    languages = models.CharField(
        max_length=80, default="en-US", validators=[validate_languages],
        help_text="Languages callers may speak, comma-separated (e.g. en-US, de-DE); the first "
        "is the agent's voice.",
    )  # fmt: skip
    opening_hours = models.CharField(
        max_length=120, blank=True, validators=[validate_opening_hours],
        help_text=f"When people answer transfers, e.g. “{EXAMPLE}”; empty: always.",
    )  # fmt: skip
    transfer_to = models.CharField(
        max_length=120, blank=True,
        help_text="Where callers go when they ask for a person: tel:+49… or sip:desk@pbx.",
    )  # fmt: skip
    allowed_addresses = models.CharField(
        max_length=200, blank=True,
        help_text="The SIP provider's addresses (comma-separated IPs or CIDRs); empty: any.",
    )  # fmt: skip
    outbound_address = models.CharField(
        max_length=120, blank=True,
        help_text="The provider's SIP server for calls out (callbacks), e.g. sip.example.com:5060.",
    )  # fmt: skip
    recording_policy = models.CharField(
        max_length=16, choices=RecordingPolicy.choices, default=RecordingPolicy.ANNOUNCE,
        help_text="How calls on this line are recorded, when RECORDING_MODE is on.",
    )  # fmt: skip
    greeting = models.CharField(
        max_length=300, blank=True,
        help_text="What the agent says first, in the line's first language, always the same: "
        "played at once. Empty: the web call page's greeting on a line in its language, "
        "else the agent words one in the line's language.",
    )  # fmt: skip
    inbound_trunk_id = models.CharField(max_length=64, blank=True, editable=False)
    outbound_trunk_id = models.CharField(max_length=64, blank=True, editable=False)
    dispatch_rule_id = models.CharField(max_length=64, blank=True, editable=False)
    provisioned_at = models.DateTimeField(null=True, blank=True, editable=False)
    provisioning_error = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["number"]

    def __str__(self) -> str:
        return f"{self.name} ({self.number})"

    def clean(self) -> None:
        if self.outbound_address and not self.allowed_addresses.strip():
            raise ValidationError({"allowed_addresses": CALLBACKS_NEED_ALLOWED_ADDRESSES})

    @property
    def livekit_name(self) -> str:
        """How its trunk and dispatch rule are named on LiveKit (found again by it)."""
        return f"callcenter {self.number}"

    @property
    def language_list(self) -> list[str]:
        return language_list(self.languages)

    def is_open(self, at=None) -> bool:
        """Whether people answer transfers now (or ``at``)."""
        return is_open(self.opening_hours, at)

    @property
    def hours_spoken(self) -> str:
        return spoken(self.opening_hours)

    @property
    def room_prefix(self) -> str:
        return f"phone-{self.number.lstrip('+')}-"
