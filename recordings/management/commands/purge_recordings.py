"""Delete recordings older than the retention period (files, and rows unless kept)."""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from recordings.models import Recording


class Command(BaseCommand):
    help = "Delete recordings older than N days (RECORDING_RETENTION_DAYS by default)."

    def add_arguments(self, parser):
        parser.add_argument("--older-than-days", type=int, default=None)
        parser.add_argument(
            "--dry-run", action="store_true", help="say what would go; delete nothing"
        )
        rows = parser.add_mutually_exclusive_group()
        rows.add_argument("--keep-rows", action="store_true", help="delete files only")
        rows.add_argument("--delete-rows", action="store_true", help="delete files and rows")

    def handle(self, *args, older_than_days, dry_run, keep_rows, delete_rows, **options):
        days = settings.RECORDING_RETENTION_DAYS if older_than_days is None else older_than_days
        if days < 1:
            raise CommandError("--older-than-days must be at least 1")
        drop_rows = delete_rows or (settings.RECORDING_RETENTION_DELETE_ROWS and not keep_rows)
        cutoff = timezone.now() - timedelta(days=days)
        old = Recording.objects.filter(created_at__lt=cutoff).exclude(
            status=Recording.Status.RECORDING
        )
        if not drop_rows:
            old = old.exclude(file="")
        total = old.count()
        verb = "Would delete" if dry_run else "Deleting"
        what = "files and rows" if drop_rows else "files"
        self.stdout.write(f"{verb} {what} of {total} recordings older than {days} days.")
        if dry_run or total == 0:
            return
        deleted, failed = 0, 0
        for recording in tqdm(
            old.iterator(), total=total, disable=True if options["verbosity"] < 1 else None
        ):
            try:
                if recording.file.name:
                    recording.file.storage.delete(recording.file.name)
            except Exception as exc:  # one unreachable object must not stop the rest
                failed += 1
                self.stderr.write(f"recording {recording.pk}: {exc}")
                continue
            if drop_rows:
                recording.delete()
            else:
                Recording.objects.filter(pk=recording.pk).update(file="")
            deleted += 1
        self.stdout.write(f"Deleted {deleted}; {failed} failed.")
        if failed:
            raise CommandError(f"{failed} recordings could not be deleted; see above")
