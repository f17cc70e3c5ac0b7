"""Mark live calls that have gone silent as failed (a worker that died without a webhook).

Run it every few minutes (cron, systemd timer, a Kubernetes CronJob).
"""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Max
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from callcenter.models import Call

STALE = "No activity for {minutes} minutes; the agent worker serving it must have stopped."
UNANSWERED = "Never answered: no agent joined within {minutes} minutes."


class Command(BaseCommand):
    help = (
        "Fail live calls with no transcript or event for N minutes (default 15), and calls "
        "no agent answered within UNANSWERED_CALL_MINUTES."
    )

    def add_arguments(self, parser):
        parser.add_argument("--idle-minutes", type=int, default=15)
        parser.add_argument(
            "--unanswered-minutes", type=int, default=settings.UNANSWERED_CALL_MINUTES
        )

    def handle(self, *args, idle_minutes: int, unanswered_minutes: int, **options):
        if idle_minutes < 1 or unanswered_minutes < 1:
            raise CommandError("--idle-minutes and --unanswered-minutes must be at least 1")
        never_answered = list(
            Call.objects.filter(
                status=Call.Status.WAITING,
                started_at__lt=timezone.now() - timedelta(minutes=unanswered_minutes),
            )
        )
        for call in never_answered:
            call.mark_ended(failed_reason=UNANSWERED.format(minutes=unanswered_minutes))
        self.stdout.write(f"Marked {len(never_answered)} unanswered calls as failed.")
        cutoff = timezone.now() - timedelta(minutes=idle_minutes)
        live = Call.objects.live().annotate(
            last_activity=Greatest(
                Coalesce(Max("segments__created_at"), "started_at"),
                Coalesce(Max("events__created_at"), "started_at"),
            )
        )
        stale = list(live.filter(last_activity__lt=cutoff))
        for call in stale:
            call.mark_ended(failed_reason=STALE.format(minutes=idle_minutes))
        self.stdout.write(f"Marked {len(stale)} silent calls as failed.")
