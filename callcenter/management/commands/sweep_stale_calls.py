"""End the live calls that will not end by themselves: calls no agent answered within
UNANSWERED_CALL_MINUTES (the caller's page never connected, or no worker took the job), calls
whose lost agent no new job took up within AGENT_RESUME_SECONDS, and calls gone silent (a
worker that died without LiveKit telling us).

Run it every minute or so: ``--every 60`` keeps it running (``make run`` does), or from cron,
a systemd timer or a Kubernetes CronJob.
"""

import time
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Max
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from callcenter.live_updates import announce_call_change
from callcenter.models import Call

STALE = "No activity for {minutes} minutes; the agent worker serving it must have stopped."
NOT_RESUMED = "The agent's worker stopped, and no other worker took the call up within {seconds} s."


class Command(BaseCommand):
    help = (
        "Fail calls no agent answered within UNANSWERED_CALL_MINUTES, and live calls with no "
        "transcript or event for N minutes (default 15); with --every, again and again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--idle-minutes", type=int, default=15)
        parser.add_argument(
            "--unanswered-minutes", type=int, default=settings.UNANSWERED_CALL_MINUTES
        )
        parser.add_argument(
            "--every", type=int, default=0, metavar="SECONDS", help="repeat until stopped"
        )

    def handle(self, *args, idle_minutes: int, unanswered_minutes: int, every: int, **options):
        if idle_minutes < 1 or unanswered_minutes < 1:
            raise CommandError("--idle-minutes and --unanswered-minutes must be at least 1")
        if every < 0:
            raise CommandError("--every must be a number of seconds, at least 1")
        while True:
            self.sweep(idle_minutes, unanswered_minutes)
            if not every:
                return
            time.sleep(every)

    def sweep(self, idle_minutes: int, unanswered_minutes: int) -> None:
        wait = timedelta(minutes=unanswered_minutes)
        # mark_ended fails each as Call.NEVER_ANSWERED: the rule the webhooks apply too.
        never_answered = [call for call in Call.objects.unanswered_for(wait) if call.mark_ended()]
        for call in never_answered:
            announce_call_change(call.pk)
        if never_answered:  # a quiet console when there was nothing to do
            self.stdout.write(f"Marked {len(never_answered)} unanswered calls as failed.")
        lost_before = timezone.now() - timedelta(seconds=settings.AGENT_RESUME_SECONDS)
        reason = NOT_RESUMED.format(seconds=settings.AGENT_RESUME_SECONDS)
        not_resumed = [
            call
            for call in Call.objects.live().filter(agent_lost_at__lt=lost_before)
            if call.mark_ended(failed_reason=reason)
        ]
        for call in not_resumed:
            announce_call_change(call.pk)
        if not_resumed:
            self.stdout.write(f"Marked {len(not_resumed)} calls whose agent was lost as failed.")
        cutoff = timezone.now() - timedelta(minutes=idle_minutes)
        live = Call.objects.live().annotate(
            last_activity=Greatest(
                Coalesce(Max("segments__created_at"), "started_at"),
                Coalesce(Max("events__created_at"), "started_at"),
            )
        )
        stale = [
            call
            for call in live.filter(last_activity__lt=cutoff)
            if call.mark_ended(failed_reason=STALE.format(minutes=idle_minutes))
        ]
        for call in stale:
            announce_call_change(call.pk)
        if stale:
            self.stdout.write(f"Marked {len(stale)} silent calls as failed.")
