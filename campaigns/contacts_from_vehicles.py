"""Contacts chosen from the vehicles on file: those whose last service was before a date, a
recall's VINs (a list or a range), makes, models and model years. Each vehicle's customer is
the one of its latest appointment with a phone number (the book is where the desk keeps who
brings a vehicle in); a vehicle with none is counted as skipped, never guessed. All or
nothing, like the CSV import."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time

import phonenumbers
from django.db import IntegrityError, transaction
from django.db.models import Max, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from appointments.models import Appointment, shop_time_zone
from campaigns.contacts_csv import MAX_ROWS, BadContacts
from campaigns.models import Campaign, Contact
from vehicles.models import Vehicle

VIN_SEPARATORS = re.compile(r"[\s,;]+")
# A recall's list of VINs given at once; makes or models named at once.
MAX_VINS = 10_000
MAX_NAMES = 50


@dataclass(frozen=True)
class VehicleFilter:
    """Which vehicles' customers to call; empty parts do not narrow the choice."""

    last_service_before: date | None = None
    vins: tuple[str, ...] = ()
    vin_from: str = ""
    vin_to: str = ""
    makes: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    year_from: int | None = None
    year_to: int | None = None
    skip_booked: bool = True  # not those with an appointment ahead

    @property
    def narrows(self) -> bool:
        return any(
            [self.last_service_before, self.vins, self.vin_from, self.vin_to, self.makes,
             self.models, self.year_from, self.year_to]
        )  # fmt: skip

    def vehicles(self) -> QuerySet[Vehicle]:
        vehicles = Vehicle.objects.all()
        if self.vins:
            vehicles = vehicles.filter(vin__in=self.vins)
        if self.vin_from:
            vehicles = vehicles.filter(vin__gte=self.vin_from)
        if self.vin_to:
            vehicles = vehicles.filter(vin__lte=self.vin_to)
        if self.makes:
            vehicles = vehicles.filter(_any_of("make", self.makes))
        if self.models:
            vehicles = vehicles.filter(_any_of("model", self.models))
        if self.year_from:
            vehicles = vehicles.filter(year__gte=self.year_from)
        if self.year_to:
            vehicles = vehicles.filter(year__lte=self.year_to)
        if self.last_service_before:
            before = datetime.combine(self.last_service_before, time.min, shop_time_zone())
            vehicles = vehicles.annotate(
                last_service=Max(
                    "appointments__start",
                    filter=Q(appointments__status=Appointment.Status.DONE),
                )
            ).filter(last_service__lt=before)
        if self.skip_booked:
            ahead = Appointment.objects.active().filter(start__gte=timezone.now())
            vehicles = vehicles.exclude(pk__in=ahead.values("vehicle_id"))
        return vehicles


def _any_of(name: str, values) -> Q:
    wanted = Q()
    for value in values:
        wanted |= Q(**{f"{name}__iexact": value})
    return wanted


def vins_given(text: str) -> tuple[str, ...]:
    return tuple(v.upper() for v in VIN_SEPARATORS.split(text or "") if v)


@dataclass
class Added:
    contacts: int = 0
    no_phone: int = 0  # vehicles whose customer has no phone number in the book
    already: int = 0  # numbers the campaign has already
    skipped_vins: list[str] = field(default_factory=list)


def add_contacts_from_vehicles(
    campaign: Campaign, chosen: VehicleFilter, consent_source: str
) -> Added:
    """Add a contact for each chosen vehicle's customer; what was added and skipped."""
    if not chosen.narrows:
        raise BadContacts("Choose the vehicles: give at least one of the criteria.")
    latest = Appointment.objects.filter(vehicle=OuterRef("pk")).order_by("-start", "-pk")
    phoned = latest.filter(contact__regex=r"^\+?[0-9 ()./-]{7,}$")
    vehicles = chosen.vehicles().annotate(
        customer=Subquery(phoned.values("customer_name")[:1]),
        phone=Subquery(phoned.values("contact")[:1]),
    )
    rows = list(vehicles.order_by("pk").values("pk", "vin", "customer", "phone")[: MAX_ROWS + 1])
    if len(rows) > MAX_ROWS:
        raise BadContacts(f"More than {MAX_ROWS} vehicles match: narrow the choice.")
    region = phonenumbers.region_code_for_number(phonenumbers.parse(campaign.line.number))
    taken = set(campaign.contacts.values_list("phone", flat=True))
    added, contacts = Added(), []
    for row in rows:
        phone = _international(row["phone"], region)
        if phone is None:
            added.no_phone += 1
            added.skipped_vins.append(row["vin"])
        elif phone in taken:
            added.already += 1
        else:
            taken.add(phone)
            contacts.append(
                Contact(
                    campaign=campaign,
                    name=row["customer"][:120],
                    phone=phone,
                    vehicle_id=row["pk"],
                    consent_source=consent_source[:200],
                )
            )
    try:
        with transaction.atomic():
            Contact.objects.bulk_create(contacts)
    except IntegrityError:  # another import added some of the numbers meanwhile
        raise BadContacts("Some of these numbers were added meanwhile: try again.") from None
    added.contacts = len(contacts)
    return added


def _international(number: str | None, region: str) -> str | None:
    """``number`` as the book holds it, in international form; None when it is none."""
    if not number:
        return None
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
