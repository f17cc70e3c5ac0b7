"""Mark live calls that have gone silent as failed (a worker that died without a webhook).

Run it every few minutes (cron, systemd timer, a Kubernetes CronJob).
"""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Max
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from callcenter.models import Call

STALE = "No activity for {minutes} minutes; the agent worker serving it must have stopped."


class Command(BaseCommand):
    help = "Fail live calls with no transcript or event for N minutes (default 15)."

    def add_arguments(self, parser):
        parser.add_argument("--idle-minutes", type=int, default=15)

    def handle(self, *args, idle_minutes: int, **options):
        if idle_minutes < 1:
            raise CommandError("--idle-minutes must be at least 1")
        cutoff = timezone.now() - timedelta(minutes=idle_minutes)
        live = Call.objects.filter(status__in=Call.LIVE_STATUSES).annotate(
            last_activity=Greatest(
                Coalesce(Max("segments__created_at"), "started_at"),
                Coalesce(Max("events__created_at"), "started_at"),
            )
        )
        stale = list(live.filter(last_activity__lt=cutoff))
        for call in stale:
            call.mark_ended(failed_reason=STALE.format(minutes=idle_minutes))
        self.stdout.write(f"Marked {len(stale)} silent calls as failed.")
