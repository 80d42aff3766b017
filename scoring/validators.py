"""Validation shared by serializers and forms."""

from __future__ import annotations

import datetime as dt

from django.core.validators import RegexValidator
from django.utils import timezone
from rest_framework import serializers

EXTERNAL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
external_id_validator = RegexValidator(
    EXTERNAL_ID_PATTERN,
    "Use 1-64 letters, digits, '_', '.', ':' or '-', starting with a letter or digit.",
)
phone_validator = RegexValidator(r"^\+?[0-9][0-9 ().-]{5,24}$", "Enter a phone number such as +33 6 12 34 56 78.")
no_control_chars = RegexValidator(r"^[^\x00-\x1f\x7f]*$", "Control characters are not allowed.")
no_control_chars_multiline = RegexValidator(
    r"^[^\x00-\x09\x0b\x0c\x0e-\x1f\x7f]*$", "Control characters are not allowed."
)


def validate_birth_date(value: dt.date) -> dt.date:
    today = timezone.now().date()
    if value > today:
        raise serializers.ValidationError("Birth date cannot be in the future.")
    age = today.year - value.year - ((today.month, today.day) < (value.month, value.day))
    if age < 16 or age > 120:
        raise serializers.ValidationError("Birth date must give an age between 16 and 120.")
    return value
