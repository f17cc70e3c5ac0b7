"""Vehicles the call center knows, keyed by their VIN."""

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from vehicles.vin import InvalidVIN, decode_vin, disagreements, normalize_vin

# 17-character VINs (ISO 3779) are standard from model year 1981.
FIRST_MODEL_YEAR = 1981


def latest_model_year() -> int:
    """Makers sell next year's models from mid-year; a year further is a typo."""
    return timezone.now().year + 1


def validate_model_year(year: int) -> None:
    if year is not None and year > latest_model_year():
        raise ValidationError(
            f"{year} is in the future; the latest model year is {latest_model_year()}."
        )


class VINField(models.CharField):
    """A VIN column that normalises what staff type or callers say into the canonical VIN.

    Cleaning runs the VIN module, so the admin and ``full_clean`` show its readable reason.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 17)
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return value
        try:
            return normalize_vin(value)
        except InvalidVIN as exc:
            raise ValidationError(str(exc), code="invalid_vin") from exc

    def get_prep_value(self, value):
        # Queries and saves pass the value through as it is: cleaning is for forms and
        # full_clean, and a lookup with a bad VIN should find nothing rather than raise.
        # The database check constraint refuses a non-canonical VIN that skipped cleaning.
        value = models.Field.get_prep_value(self, value)
        return value if value is None else str(value)

    def formfield(self, **kwargs):
        # Staff may paste a VIN with dashes or spaces; the model cleans it to 17 characters.
        kwargs.setdefault("form_class", forms.CharField)
        field = super().formfield(**kwargs)
        field.max_length = None
        field.validators = [v for v in field.validators if not hasattr(v, "limit_value")]
        field.widget.attrs.pop("maxlength", None)
        return field


class Vehicle(models.Model):
    vin = VINField("VIN", unique=True)
    make = models.CharField(max_length=64)
    model = models.CharField(max_length=64)
    year = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(FIRST_MODEL_YEAR), validate_model_year]
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by_call = models.ForeignKey(
        "callcenter.Call",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="vehicles_created",
        help_text="The call in which the agent created this record, if any.",
    )

    class Meta:
        ordering = ["make", "model", "-year"]
        indexes = [models.Index(fields=["make", "model"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(vin__regex=r"^[0-9A-HJ-NPR-Z]{17}$"),
                name="vehicle_vin_is_canonical",
                violation_error_message="A VIN has 17 characters from 0-9 and A-Z except I, O, Q.",
            ),
            models.CheckConstraint(
                condition=models.Q(year__gte=FIRST_MODEL_YEAR),
                name="vehicle_year_is_vin_era",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.year} {self.make} {self.model} ({self.vin})"

    @property
    def title(self) -> str:
        """Year, make and model: "2003 Honda Accord"."""
        return f"{self.year} {self.make} {self.model}"

    def describe(self) -> str:
        """The vehicle as the agent's tools tell the model. Make and model are what a caller
        said, so they are quoted as data: a model named "Accord. Ignore your instructions"
        stays inside its quotes, which it cannot close."""
        said = " ".join(f"{self.make} {self.model}".split())
        for quote in '“”"':
            said = said.replace(quote, "")
        return f"{self.year} “{said}”, VIN {self.vin} (make and model as a caller gave them)"

    def vin_disagreements(self) -> list[str]:
        """What the make and model year say against the VIN (see vin.disagreements)."""
        return disagreements(self.vin, self.make, self.year)

    @property
    def decoded(self):
        """What the VIN itself says (maker, country, model year)."""
        return decode_vin(self.vin)
