"""Fill an empty database with demo data that makes the product look alive: vehicles, two
weeks of calls (summaries, outcomes, metrics, tool calls, a handoff, failed calls) and a short
recording that plays; an admin, a "Supervisors" group and a supervisor to log in as.

Idempotent: run it as often as you like; it adds only what is missing, and says how to log in.
"""

import os
import secrets
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from tqdm import tqdm

from callcenter.demo import DEMO_CALLER_PREFIX, add_demo_book, add_demo_calls
from callcenter.models import Call
from callcenter.permissions import MONITOR_PERMISSION
from recordings.models import Recording
from vehicles.models import Vehicle
from vehicles.vin import decode_vin, with_check_digit

ADMIN_PASSWORD_FILE = settings.BASE_DIR / "var" / "admin_password"
SUPERVISOR_PASSWORD_FILE = settings.BASE_DIR / "var" / "supervisor_password"
SUPERVISORS_GROUP = "Supervisors"
# What supervisors do besides watching calls: read the call records and keep vehicles right.
SUPERVISOR_PERMISSIONS = [
    MONITOR_PERMISSION, "callcenter.view_call", "vehicles.view_vehicle", "vehicles.change_vehicle",
    "vehicles.add_vehicle", "recordings.view_recording", "appointments.view_appointment",
    "appointments.add_appointment", "appointments.change_appointment",
    "appointments.view_servicetype",
]  # fmt: skip
# The people who take the callers the agent hands over (the desk page), and book for them.
DESK_GROUP = "Desk staff"
DESK_PERMISSIONS = [
    "desk.answer_handoffs", "callcenter.view_call", "vehicles.view_vehicle",
    "appointments.view_appointment",
    "appointments.add_appointment", "appointments.change_appointment",
    "appointments.view_servicetype",
]  # fmt: skip

# (WMI + VDS stem, make, model, year code, year). Serial numbers are made up per row.
DEMO_MODELS = [
    ("1HGCM826", "Honda", "Accord", "3", 2003),
    ("1HGCV1F3", "Honda", "Accord", "L", 2020),
    ("2HGFC2F5", "Honda", "Civic", "H", 2017),
    ("5FNRL6H7", "Honda", "Odyssey", "N", 2022),
    ("4T1BF1FK", "Toyota", "Camry", "E", 2014),
    ("JTDKN3DU", "Toyota", "Prius", "A", 2010),
    ("5TDKZ3DC", "Toyota", "Sienna", "J", 2018),
    ("1FTFW1ET", "Ford", "F-150", "D", 2013),
    ("1FMCU0GD", "Ford", "Escape", "K", 2019),
    ("3FA6P0H7", "Ford", "Fusion", "G", 2016),
    ("1G1ZD5ST", "Chevrolet", "Malibu", "M", 2021),
    ("1GCUYDED", "Chevrolet", "Silverado", "P", 2023),
    ("1N4AL3AP", "Nissan", "Altima", "F", 2015),
    ("5N1AZ2MH", "Nissan", "Murano", "B", 2011),
    ("KMHD84LF", "Hyundai", "Elantra", "H", 2017),
    ("5XYZUDLB", "Kia", "Sorento", "K", 2019),
    ("JF2SJAEC", "Subaru", "Forester", "G", 2016),
    ("JM1BL1V7", "Mazda", "Mazda3", "C", 2012),
    ("WVWZZZ3C", "Volkswagen", "Passat", "9", 2009),
    ("WBA8E9G5", "BMW", "3 Series", "J", 2018),
    ("WDDGF8AB", "Mercedes-Benz", "C-Class", "D", 2013),
    ("5YJ3E1EA", "Tesla", "Model 3", "K", 2019),
    ("YV1A22MK", "Volvo", "S90", "L", 2020),
    ("1C4RJFAG", "Jeep", "Grand Cherokee", "E", 2014),
]


def demo_vin(stem: str, year_code: str, serial: int) -> str:
    return with_check_digit(f"{stem}0{year_code}A{serial:06d}")


class Command(BaseCommand):
    help = (
        "Add demo vehicles, two weeks of calls with a recording, an admin and a supervisor, "
        "if they are missing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--no-input", action="store_true", help="Do not print passwords.")

    def handle(self, *args, **options):
        created_vehicles = 0
        with transaction.atomic():
            for index, (stem, make, model, code, year) in enumerate(
                tqdm(
                    # None: tqdm draws its bar only on a terminal, never into a log.
                    DEMO_MODELS,
                    desc="vehicles",
                    disable=True if options["verbosity"] < 1 else None,
                )
            ):
                vin = demo_vin(stem, code, 100000 + index)
                assert decode_vin(vin).model_year == year, vin
                _, created = Vehicle.objects.get_or_create(
                    vin=vin, defaults={"make": make, "model": model, "year": year}
                )
                created_vehicles += created
            calls = self._seed_calls()
            self._ensure_supervisors_group()
        recorded = self._record(calls[-1]) if calls else ""
        self.stdout.write(f"Added {created_vehicles} vehicles and {len(calls)} calls.{recorded}")
        quiet = options["no_input"]
        self._ensure_user(
            "admin", ADMIN_PASSWORD_FILE, "DJANGO_SUPERUSER_PASSWORD", quiet, superuser=True
        )
        self._ensure_user("supervisor", SUPERVISOR_PASSWORD_FILE, "DEMO_SUPERVISOR_PASSWORD", quiet)

    def _seed_calls(self) -> list[Call]:
        if Call.objects.filter(caller__startswith=DEMO_CALLER_PREFIX).exists():
            return []
        vehicles = list(Vehicle.objects.filter(vin__in=self._demo_vins()).order_by("vin"))
        calls = add_demo_calls(vehicles, timezone.now())
        add_demo_book(vehicles, timezone.now())
        return calls

    @staticmethod
    def _demo_vins() -> list[str]:
        return [
            demo_vin(stem, code, 100000 + index)
            for index, (stem, _make, _model, code, _year) in enumerate(DEMO_MODELS)
        ]

    def _record(self, call: Call) -> str:
        """A short recording of ``call``'s transcript spoken by espeak-ng, so the history's
        player has something to play; skipped (and said) without espeak-ng."""
        espeak = shutil.which("espeak-ng")
        if not espeak:
            return " No demo recording: espeak-ng is missing (make test-tools installs it)."
        text = " ".join(segment.text for segment in call.segments.order_by("sequence"))
        with tempfile.TemporaryDirectory() as folder:
            spoken = Path(folder) / "call.wav"
            # A fixed program, the text one argument (no shell): nothing is interpreted.
            subprocess.run([espeak, "-w", str(spoken), text], check=True, capture_output=True)  # noqa: S603
            audio = spoken.read_bytes()
            with wave.open(str(spoken)) as reader:
                seconds = reader.getnframes() / reader.getframerate()
        recording = Recording(
            call=call, source=Recording.Source.AGENT, status=Recording.Status.READY,
            format="wav", duration_seconds=round(seconds, 1), size_bytes=len(audio),
        )  # fmt: skip
        recording.file.save("demo.wav", ContentFile(audio), save=True)
        return f" The latest call has a {seconds:.0f}-second recording."

    def _ensure_supervisors_group(self) -> None:
        """The roles as groups an administrator puts people in: Supervisors, Desk staff."""
        for group_name, permissions in (
            (SUPERVISORS_GROUP, SUPERVISOR_PERMISSIONS),
            (DESK_GROUP, DESK_PERMISSIONS),
        ):
            group, _ = Group.objects.get_or_create(name=group_name)
            for name in permissions:
                app_label, codename = name.split(".")
                group.permissions.add(
                    Permission.objects.get(content_type__app_label=app_label, codename=codename)
                )

    def _ensure_user(
        self, username: str, password_file: Path, variable: str, quiet: bool, *, superuser=False
    ) -> None:
        """Create ``username`` once (the admin, or a supervisor in the Supervisors group);
        later runs say how to log in."""
        User = get_user_model()
        where = password_file.relative_to(settings.BASE_DIR)
        exists = (
            User.objects.filter(is_superuser=True).exists()
            if superuser
            else User.objects.filter(username=username).exists()
        )
        if exists:
            found = f" (its first password is in {where})" if password_file.exists() else ""
            self.stdout.write(
                f"Log in at /admin/ as '{username}'{found}; to set a new password run "
                f"python manage.py changepassword {username}"
            )
            return
        given = os.environ.get(variable)
        password = given or secrets.token_urlsafe(12)
        if superuser:
            User.objects.create_superuser(username, f"{username}@example.com", password)
        else:
            user = User.objects.create_user(username, password=password, is_staff=True)
            user.groups.add(Group.objects.get(name=SUPERVISORS_GROUP))
        role = "superuser" if superuser else "supervisor"
        if given:
            self.stdout.write(f"Created {role} '{username}' with {variable}")
            return
        # Logs keep what is printed: the password goes to a file only its owner can read,
        # and on the screen only when a person is watching (a terminal), once.
        password_file.parent.mkdir(parents=True, exist_ok=True)
        password_file.touch(mode=0o600, exist_ok=True)
        password_file.chmod(0o600)
        password_file.write_text(password + "\n")
        if not quiet and self.stdout.isatty():
            self.stdout.write(
                f"Created {role} '{username}' with password {password} (also in {where})"
            )
        else:
            self.stdout.write(f"Created {role} '{username}'; its password is in {where}")
