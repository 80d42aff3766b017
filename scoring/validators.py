"""Validation shared by serializers and forms."""

from __future__ import annotations

import datetime as dt
import re

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.utils import timezone
from django.utils.deconstruct import deconstructible
from rest_framework import serializers

# Patterns are anchored with \A and \Z, never ^ and $: "$" also matches before a final
# newline, so "C1001\n" would pass as an id and become a second client next to "C1001".
EXTERNAL_ID_CHARS = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}"  # unanchored, for URL patterns
EXTERNAL_ID_PATTERN = rf"\A{EXTERNAL_ID_CHARS}\Z"
EXTERNAL_ID_MESSAGE = "Use 1-64 letters, digits, '_', '.', ':' or '-', starting with a letter or digit."
# The erasure's namespace (privacy.erasure.TOKEN_PREFIX): an erased client's id becomes
# erased-<random>, as do the transaction references it keeps. Never a new id: data sent under
# an erased client's token would sit beside its kept records where no request can erase it
# (a GDPR request for an erased client is refused), and the erasure leaves an id of that
# shape as it is, taking it for one of its own tokens.
ERASED_PREFIX = "erased-"
RESERVED_ID_MESSAGE = "Ids starting with 'erased-' are reserved: they name erased clients, who take no new data."


@deconstructible
class ExternalIdValidator(RegexValidator):
    """The external id pattern, outside the erasure's namespace (``ERASED_PREFIX``)."""

    def __call__(self, value: object) -> None:
        super().__call__(value)
        if isinstance(value, str) and self.plain_refuses(value):
            raise ValidationError(RESERVED_ID_MESSAGE, code="reserved")

    @staticmethod
    def plain_refuses(value: str) -> bool:
        """What this validator refuses beyond its pattern (creditplatform.api.plainfields compiles
        the pattern and adds this: the decision paths check their ids without the field protocol)."""
        return value.startswith(ERASED_PREFIX)


external_id_validator = ExternalIdValidator(EXTERNAL_ID_PATTERN, EXTERNAL_ID_MESSAGE)
# Look-ups (filters): an erased client's token is still found by it.
external_id_lookup_validator = RegexValidator(EXTERNAL_ID_PATTERN, EXTERNAL_ID_MESSAGE)
phone_validator = RegexValidator(r"\A\+?[0-9][0-9 ().-]{5,24}\Z", "Enter a phone number such as +33 6 12 34 56 78.")
# Control characters are Unicode's Cc: C0, DEL and the C1 block (U+0080-U+009F, where NEL,
# U+0085, breaks a line and CSI, U+009B, starts a terminal escape); and the characters that
# break a line or reorder what is shown without being seen: the line and paragraph separators
# (U+2028, U+2029) and the bidirectional embeddings, overrides and isolates (U+202A-U+202E,
# U+2066-U+2069), with which "IBAN FR76...1234" can display as another account in the admin.
_HIDDEN = r"\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
no_control_chars = RegexValidator(rf"\A[^\x00-\x1f{_HIDDEN}]*\Z", "Control characters are not allowed.")
no_control_chars_multiline = RegexValidator(
    rf"\A[^\x00-\x09\x0b\x0c\x0e-\x1f{_HIDDEN}]*\Z", "Control characters are not allowed."
)


def external_id_problem(value: object) -> str | None:
    """Why ``value`` is not an external id a caller may send (client_id, application_id,
    transaction_id), or None when it is one: ``external_id_validator``'s rule, as a message."""
    if not isinstance(value, str) or re.fullmatch(EXTERNAL_ID_CHARS, value) is None:
        return EXTERNAL_ID_MESSAGE
    if value.startswith(ERASED_PREFIX):
        return RESERVED_ID_MESSAGE
    return None


def is_external_id(value: object) -> bool:
    """True for a well-formed external id a caller may send (``external_id_problem``)."""
    return external_id_problem(value) is None


def validate_birth_date(value: dt.date) -> dt.date:
    today = timezone.now().date()
    if value > today:
        raise serializers.ValidationError("Birth date cannot be in the future.")
    age = today.year - value.year - ((today.month, today.day) < (value.month, value.day))
    if age < 16 or age > 120:
        raise serializers.ValidationError("Birth date must give an age between 16 and 120.")
    return value
