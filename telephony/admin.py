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
        ]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        line = self.instance
        for field in ("number", "allowed_addresses", "outbound_address"):
            setattr(line, field, data.get(field, ""))
        try:
            provisioning.provision(line)
        except provisioning.ProvisioningFailed as error:
            raise forms.ValidationError(str(error)) from error
        return data


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
