"""Phone lines: a number callers dial, provisioned on LiveKit as an inbound SIP trunk and a
dispatch rule that puts each call in its own room with the agent (telephony.provisioning)."""

import re

from django.core.exceptions import ValidationError
from django.db import models

E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def validate_e164(number: str) -> None:
    if not E164.match(number or ""):
        raise ValidationError(
            "Give the number in international form: a + and 7 to 15 digits, e.g. +4930123456."
        )


class PhoneLine(models.Model):
    number = models.CharField(
        max_length=16, unique=True, validators=[validate_e164], help_text="The dialled number."
    )
    name = models.CharField(max_length=80, help_text="What staff call this line.")
    languages = models.CharField(
        max_length=80, default="en-US", help_text="Languages callers may speak, comma-separated."
    )
    opening_hours = models.CharField(max_length=120, blank=True)
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
    inbound_trunk_id = models.CharField(max_length=64, blank=True, editable=False)
    outbound_trunk_id = models.CharField(max_length=64, blank=True, editable=False)
    dispatch_rule_id = models.CharField(max_length=64, blank=True, editable=False)
    provisioned_at = models.DateTimeField(null=True, blank=True, editable=False)
    provisioning_error = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["number"]

    def __str__(self) -> str:
        return f"{self.name} ({self.number})"

    @property
    def livekit_name(self) -> str:
        """How its trunk and dispatch rule are named on LiveKit (found again by it)."""
        return f"callcenter {self.number}"

    @property
    def room_prefix(self) -> str:
        return f"phone-{self.number.lstrip('+')}-"
