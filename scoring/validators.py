"""Validation shared by serializers and forms."""

from __future__ import annotations

import datetime as dt
import re

from django.core.validators import RegexValidator
from django.utils import timezone
from rest_framework import serializers

# Patterns are anchored with \A and \Z, never ^ and $: "$" also matches before a final
# newline, so "C1001\n" would pass as an id and become a second client next to "C1001".
EXTERNAL_ID_CHARS = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}"  # unanchored, for URL patterns
EXTERNAL_ID_PATTERN = rf"\A{EXTERNAL_ID_CHARS}\Z"
EXTERNAL_ID_MESSAGE = "Use 1-64 letters, digits, '_', '.', ':' or '-', starting with a letter or digit."
external_id_validator = RegexValidator(EXTERNAL_ID_PATTERN, EXTERNAL_ID_MESSAGE)
phone_validator = RegexValidator(r"\A\+?[0-9][0-9 ().-]{5,24}\Z", "Enter a phone number such as +33 6 12 34 56 78.")
no_control_chars = RegexValidator(r"\A[^\x00-\x1f\x7f]*\Z", "Control characters are not allowed.")
no_control_chars_multiline = RegexValidator(
    r"\A[^\x00-\x09\x0b\x0c\x0e-\x1f\x7f]*\Z", "Control characters are not allowed."
)


def is_external_id(value: object) -> bool:
    """True for a well-formed external id (client_id, application_id, transaction_id)."""
    return isinstance(value, str) and re.fullmatch(EXTERNAL_ID_CHARS, value) is not None


def validate_birth_date(value: dt.date) -> dt.date:
    today = timezone.now().date()
    if value > today:
        raise serializers.ValidationError("Birth date cannot be in the future.")
    age = today.year - value.year - ((today.month, today.day) < (value.month, value.day))
    if age < 16 or age > 120:
        raise serializers.ValidationError("Birth date must give an age between 16 and 120.")
    return value
