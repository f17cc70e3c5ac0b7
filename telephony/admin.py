"""Phone lines in the admin: saving one provisions it on LiveKit first; if LiveKit refuses,
the form says why and nothing is saved (nor left on LiveKit)."""

from django import forms
from django.contrib import admin, messages

from telephony import provisioning
from telephony.models import PhoneLine


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
        ]

    def _post_clean(self):
        """Provision only a line that is valid as a whole (the model's own checks, which run
        here, included): LiveKit is never asked about a number the form will refuse."""
        super()._post_clean()
        if self.errors:
            return
        try:
            provisioning.provision(self.instance)
        except provisioning.ProvisioningFailed as error:
            self.add_error(None, str(error))


@admin.register(PhoneLine)
class PhoneLineAdmin(admin.ModelAdmin):
    form = PhoneLineForm
    list_display = ["number", "name", "transfer_to", "provisioned_at", "inbound_trunk_id"]
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
