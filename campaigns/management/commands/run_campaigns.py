"""The dialler: ``manage.py run_campaigns`` settles ended campaign calls and dials what is due,
every ``--every`` seconds, until stopped. Run as many as you like, on any hosts
(``campaigns.dialler``: PostgreSQL row locks keep them apart)."""

import signal
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

from callcenter.livekit_server import missing_livekit_settings
from campaigns.dialler import run_once


class Command(BaseCommand):
    help = "Dial the running campaigns' due contacts, paced, until stopped."

    def add_arguments(self, parser):
        parser.add_argument("--every", type=float, default=2.0, help="seconds between rounds")
        parser.add_argument("--once", action="store_true", help="one round, then exit")

    def handle(self, *args, every: float, once: bool, **options):
        missing = missing_livekit_settings()
        if missing:
            raise CommandError(f"cannot dial: set {', '.join(missing)}")
        if every <= 0:
            raise CommandError("--every must be more than 0 seconds")
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        while not stopping:
            close_old_connections()
            try:
                placed = run_once()
            except Exception as error:  # the database blinked: the next round tries again
                self.stderr.write(f"dialler round failed: {error}")
                placed = 0
            if placed:
                self.stdout.write(f"{placed} call(s) placed")
            if once:
                return
            time.sleep(every)
