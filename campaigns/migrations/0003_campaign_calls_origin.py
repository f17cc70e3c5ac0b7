from django.db import migrations


def campaign_calls_are_campaigns(apps, schema_editor):
    """Calls a campaign placed before Call.origin existed."""
    Call = apps.get_model("callcenter", "Call")
    Call.objects.filter(campaign_attempt__isnull=False).update(origin="campaign")


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0002_contact_later_asked"),
        ("callcenter", "0019_call_origin"),
    ]

    operations = [
        migrations.RunPython(campaign_calls_are_campaigns, migrations.RunPython.noop),
    ]
