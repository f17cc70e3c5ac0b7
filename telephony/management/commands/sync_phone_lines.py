"""``manage.py sync_phone_lines``: provision every phone line on LiveKit (as saving it in the
admin does), one line of output each; exits non-zero if any line failed."""

from django.core.management.base import BaseCommand, CommandError

from telephony import provisioning
from telephony.models import PhoneLine


class Command(BaseCommand):
    help = "Provision every phone line's SIP trunk and dispatch rule on LiveKit."

    def handle(self, *args, **options):
        failed = 0
        for line in PhoneLine.objects.all():
            try:
                provisioning.provision(line)
            except provisioning.ProvisioningFailed as error:
                failed += 1
                PhoneLine.objects.filter(pk=line.pk).update(provisioning_error=str(error))
                self.stderr.write(f"{line.number}: {error}")
                continue
            line.save()
            self.stdout.write(
                f"{line.number}: trunk {line.inbound_trunk_id}, rule {line.dispatch_rule_id}"
            )
        if failed:
            raise CommandError(f"{failed} phone line(s) could not be provisioned")
