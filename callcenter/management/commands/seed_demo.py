"""Fill an empty database with demo vehicles and a few finished calls, and an admin login.

Idempotent: run it as often as you like; it adds only what is missing.
"""

import os
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from tqdm import tqdm

from callcenter.models import Call, CallEvent, TranscriptSegment
from vehicles.models import Vehicle
from vehicles.vin import decode_vin, with_check_digit

ADMIN_PASSWORD_FILE = settings.BASE_DIR / "var" / "admin_password"

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

DEMO_CALLS = [
    (
        "resolved",
        [
            ("agent", "Thanks for calling the service desk. Could you read me your VIN?"),
            (
                "customer",
                "Sure, it's one H G C M eight two six three three A zero zero four three five two.",
            ),
            ("agent", "I have 1HGCM82633A004352, a 2003 Honda Accord. How can I help?"),
            ("customer", "When is the timing belt due?"),
            ("agent", "For that model it is due at 105,000 miles or seven years."),
        ],
    ),
    (
        "handed_off",
        [
            ("agent", "Thanks for calling the service desk. Could you read me your VIN?"),
            ("customer", "I'd rather talk to a person about a warranty claim."),
            ("agent", "Of course, I'm handing you over to a colleague now."),
        ],
    ),
]


def demo_vin(stem: str, year_code: str, serial: int) -> str:
    return with_check_digit(f"{stem}0{year_code}A{serial:06d}")


class Command(BaseCommand):
    help = "Add demo vehicles, a few finished calls and an admin user, if they are missing."

    def add_arguments(self, parser):
        parser.add_argument("--no-input", action="store_true", help="Do not print the password.")

    def handle(self, *args, **options):
        created_vehicles = 0
        with transaction.atomic():
            for index, (stem, make, model, code, year) in enumerate(
                tqdm(DEMO_MODELS, desc="vehicles", disable=options["verbosity"] < 1)
            ):
                vin = demo_vin(stem, code, 100000 + index)
                assert decode_vin(vin).model_year == year, vin
                _, created = Vehicle.objects.get_or_create(
                    vin=vin, defaults={"make": make, "model": model, "year": year}
                )
                created_vehicles += created
            created_calls = self._seed_calls()
        self.stdout.write(f"Added {created_vehicles} vehicles and {created_calls} calls.")
        self._ensure_admin(quiet=options["no_input"])

    def _seed_calls(self) -> int:
        if Call.objects.filter(caller__startswith="demo:").exists():
            return 0
        vehicle = Vehicle.objects.order_by("pk").first()
        now = timezone.now()
        for index, (outcome, lines) in enumerate(DEMO_CALLS):
            started = now - timedelta(days=index + 1, minutes=5)
            call = Call.objects.create(
                caller=f"demo:{index + 1}",
                status=Call.Status.ENDED,
                started_at=started,
                answered_at=started + timedelta(seconds=2),
                ended_at=started + timedelta(seconds=20 + 12 * len(lines)),
                outcome=outcome,
                needs_human=outcome == "handed_off",
                vehicle=vehicle if outcome == "resolved" else None,
            )
            sequence = 0
            for offset, (speaker, text) in enumerate(lines):
                sequence += 1
                at = started + timedelta(seconds=2 + 12 * offset)
                TranscriptSegment.objects.create(
                    call=call,
                    sequence=sequence,
                    speaker=speaker,
                    text=text,
                    started_at=at,
                    ended_at=at + timedelta(seconds=8),
                    language="en-US",
                )
            if outcome == "handed_off":
                sequence += 1
                CallEvent.objects.create(
                    call=call,
                    sequence=sequence,
                    type=CallEvent.Type.HANDOFF_REQUESTED,
                    payload={"reason": "warranty claim"},
                )
        return len(DEMO_CALLS)

    def _ensure_admin(self, *, quiet: bool) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            return
        given = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
        password = given or secrets.token_urlsafe(12)
        User.objects.create_superuser("admin", "admin@example.com", password)
        if given:
            self.stdout.write("Created superuser 'admin' with DJANGO_SUPERUSER_PASSWORD")
            return
        # Logs keep what is printed: the password goes to a file only its owner can read,
        # and on the screen only when a person is watching (a terminal), once.
        ADMIN_PASSWORD_FILE.parent.mkdir(parents=True, exist_ok=True)
        ADMIN_PASSWORD_FILE.touch(mode=0o600, exist_ok=True)
        ADMIN_PASSWORD_FILE.chmod(0o600)
        ADMIN_PASSWORD_FILE.write_text(password + "\n")
        where = ADMIN_PASSWORD_FILE.relative_to(settings.BASE_DIR)
        if not quiet and self.stdout.isatty():
            self.stdout.write(
                f"Created superuser 'admin' with password {password} (also in {where})"
            )
        else:
            self.stdout.write(f"Created superuser 'admin'; its password is in {where}")
