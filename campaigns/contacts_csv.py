"""Contacts from a CSV file: all of it or nothing. Columns ``name``, ``phone`` (international
form) and ``consent_source`` are required; ``time_zone`` and ``vin`` may be given. A bad row is
named with its number and what is wrong with it, and no row is stored."""

from __future__ import annotations

import csv
import io

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from campaigns.models import Campaign, Contact
from vehicles.models import Vehicle

REQUIRED = ("name", "phone", "consent_source")
MAX_ROWS = 50_000


class BadContacts(ValueError):
    """The file cannot be taken; the message says where and why."""


def import_contacts(campaign: Campaign, data: bytes) -> int:
    """Add the file's contacts to ``campaign``; how many. Raises ``BadContacts``."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadContacts("The file is not UTF-8 text: save it as CSV (UTF-8).") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [name for name in REQUIRED if name not in (reader.fieldnames or [])]
    if missing:
        raise BadContacts(f"The first row must name the columns; missing: {', '.join(missing)}.")
    contacts, seen = [], set()
    for row_number, row in enumerate(reader, start=2):  # row 1 names the columns
        if row_number > MAX_ROWS + 1:
            raise BadContacts(f"At most {MAX_ROWS} contacts per file.")
        contact = _contact(campaign, row, row_number)
        if contact.phone in seen:
            raise BadContacts(f"Row {row_number}: {contact.phone} is in the file twice.")
        seen.add(contact.phone)
        contacts.append(contact)
    if not contacts:
        raise BadContacts("The file has no contacts.")
    taken = set(campaign.contacts.filter(phone__in=seen).values_list("phone", flat=True))
    if taken:
        raise BadContacts(f"Already in this campaign: {', '.join(sorted(taken)[:5])}.")
    try:
        with transaction.atomic():
            Contact.objects.bulk_create(contacts)
    except IntegrityError:  # another import added some of the numbers meanwhile
        raise BadContacts("Some of these numbers were added meanwhile: try again.") from None
    return len(contacts)


def _contact(campaign: Campaign, row: dict, row_number: int) -> Contact:
    values = {key: (value or "").strip() for key, value in row.items() if key}
    vehicle = None
    if values.get("vin"):
        vehicle = Vehicle.objects.filter(vin=values["vin"].upper()).first()
        if vehicle is None:
            raise BadContacts(f"Row {row_number}: no vehicle on file has the VIN {values['vin']}.")
    contact = Contact(
        campaign=campaign, name=values.get("name", ""), phone=values.get("phone", ""),
        consent_source=values.get("consent_source", ""), vehicle=vehicle,
    )  # fmt: skip
    if values.get("time_zone"):
        contact.time_zone = values["time_zone"]
    try:
        contact.full_clean(exclude=["campaign"], validate_unique=False)
    except ValidationError as error:
        problems = "; ".join(
            f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items()
        )
        raise BadContacts(f"Row {row_number}: {problems}") from None
    return contact
