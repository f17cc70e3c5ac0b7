"""Phone lines in the admin: saving one provisions it on LiveKit first; if LiveKit refuses,
the form says why and nothing is saved (nor left on LiveKit)."""

from django import forms
from django.contrib import admin, messages

from telephony import provisioning
from telephony.models import PhoneLine

# What LiveKit holds of a line (its trunks and dispatch rule); the rest is ours alone.
LIVEKIT_FIELDS = {"number", "allowed_addresses", "outbound_address"}


class PhoneLineForm(forms.ModelForm):
    class Meta:
        model = PhoneLine
        fields = [
            "number",
            "name",
            "languages",
            "opening_hours",
            "transfer_to",
            "allowed_addresses",
            "outbound_address",
            "recording_policy",
            "greeting",
        ]

    def _post_clean(self):
        """Provision only a line that is valid as a whole (the model's own checks, which run
        here, included): LiveKit is never asked about a number the form will refuse, nor
        asked again when nothing it holds has changed (a name or the hours). A new number's
        trunks replace the old number's."""
        super()._post_clean()
        line = self.instance
        if self.errors or (line.provisioned_at and not set(self.changed_data) & LIVEKIT_FIELDS):
            return
        previous = PhoneLine(
            inbound_trunk_id=line.inbound_trunk_id,
            dispatch_rule_id=line.dispatch_rule_id,
            outbound_trunk_id=line.outbound_trunk_id,
        )
        try:
            provisioning.provision(line)
            if "number" in self.changed_data and line.pk:
                provisioning.unprovision(previous)
        except provisioning.ProvisioningFailed as error:
            self.add_error(None, str(error))


@admin.register(PhoneLine)
class PhoneLineAdmin(admin.ModelAdmin):
    form = PhoneLineForm
    list_display = [
        "number", "name", "transfer_to", "recording_policy", "provisioned_at", "inbound_trunk_id",
    ]  # fmt: skip
    readonly_fields = [
        "inbound_trunk_id",
        "dispatch_rule_id",
        "outbound_trunk_id",
        "provisioned_at",
    ]

    def delete_model(self, request, obj):
        try:
            provisioning.unprovision(obj)
        except provisioning.ProvisioningFailed as error:
            messages.error(request, f"{error} The line was kept.")
            return
        super().delete_model(request, obj)
