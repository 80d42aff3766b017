"""A DRF field's own check, without DRF's per-call machinery, for the inputs it plainly accepts.

``Field.run_validation`` costs a ``/fraude`` request about 340,000 instructions for its 14
fields (a tenth of the request): the empty-value protocol (``SkipField`` raised and caught
for each field the body leaves out), then the validators one by one, each building its
parameters and message arguments before it compares. For the shapes a well-behaved client
sends (a short ASCII id, a JSON number with two decimals, a known choice) the answer is a
few comparisons.

``plain_check(field)`` compiles those comparisons once from the field's own configuration
(its ``max_length``, ``allow_blank``, ``trim_whitespace``, ``decimal_places``, choices and
validators). The function it returns gives the value ``field.run_validation`` would give,
or ``MISS`` for anything it does not plainly accept, and the caller then asks the field
itself: every refusal, every message and every unusual input (a string where a number is
expected, a non-ASCII id, a float with a binary tail) still comes from DRF. So the plain
check decides nothing: it can only say "DRF would accept this, as that value", and
``tests/test_plainfields.py`` holds it to that on generated inputs, field type by field
type. A field of another type, a subclass it does not know, or a validator it does not
know gets no plain check (``None``): the field always answers.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Callable
from typing import Any, Final

from django.core import validators as django_validators
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from creditplatform.api.datetimes import UtcOffsetDateTimeField


class _Miss:
    def __repr__(self) -> str:
        return "MISS"


MISS: Final = _Miss()  # "not plainly accepted: ask the field"

PlainCheck = Callable[[Any], Any]


def skipped_when_absent(field: serializers.Field) -> bool:
    """True when DRF leaves ``field`` out of the values if the input omits it (``SkipField``):
    not required, no default, writable, in a serializer that is not partial."""
    return not field.read_only and not field.required and field.default is empty


def plain_check(
    field: serializers.Field, *, known: dict[type, Callable[..., PlainCheck | None]] | None = None
) -> PlainCheck | None:
    """The plain check of ``field`` (see the module's docstring), or None.

    ``known`` adds compilers for the caller's own field classes (matched by exact type, as
    the built-in ones are: a subclass may change what it accepts).
    """
    compilers: dict[type, Callable[..., PlainCheck | None]] = {**_COMPILERS, **(known or {})}
    compiler = compilers.get(type(field))
    if compiler is None or field.read_only:
        return None
    return compiler(field)


# --- validators ------------------------------------------------------------------------------


def _limits(field: serializers.Field, handled: tuple[type, ...]) -> tuple[list[Callable[[Any], bool]], bool]:
    """Plain tests of ``field``'s validators (each True when the value passes), and whether all were understood."""
    tests: list[Callable[[Any], bool]] = []
    for validator in field.validators:
        kind = type(validator)
        if kind not in handled and not hasattr(validator, "plain_refuses"):
            return [], False
        if kind is ProhibitSurrogateCharactersValidator or kind is django_validators.ProhibitNullCharactersValidator:
            continue  # text fields test these themselves (one pass over the value)
        test = _validator_test(validator)
        if test is None:
            return [], False
        tests.append(test)
    return tests, True


# Django's limit validators, as plain comparisons (``compare(clean(value), limit)`` refuses).
_COMPARISONS: dict[type, Callable[[Any, Any], bool]] = {
    django_validators.MaxLengthValidator: lambda value, limit: len(value) <= limit,
    django_validators.MinLengthValidator: lambda value, limit: len(value) >= limit,
    django_validators.MaxValueValidator: lambda value, limit: not value > limit,
    django_validators.MinValueValidator: lambda value, limit: not value < limit,
}


def _validator_test(validator: Any) -> Callable[[Any], bool] | None:
    """One validator as a plain test (True when the value passes), or None for one not understood.

    A ``RegexValidator`` subclass of the platform's own that refuses more than its pattern says
    names that in ``plain_refuses(value)`` (e.g. ``ExternalIdValidator``: the reserved prefix).
    """
    refuses = getattr(validator, "plain_refuses", None)
    if type(validator) is django_validators.RegexValidator or (
        refuses is not None and isinstance(validator, django_validators.RegexValidator)
    ):
        regex: Any = validator.regex  # compiled lazily by Django: read through once, here
        search = re.compile(regex.pattern, regex.flags).search
        if validator.inverse_match:
            matches: Callable[[Any], bool] = lambda value: search(value) is None  # noqa: E731
        else:
            matches = lambda value: search(value) is not None  # noqa: E731
        return matches if refuses is None else (lambda value: matches(value) and not refuses(value))
    passes = _COMPARISONS.get(type(validator))
    limit = getattr(validator, "limit_value", None)
    if passes is None or limit is None or callable(limit):  # a limit known only when called: the field's
        return None
    return lambda value: passes(value, limit)


def _passing(value: Any, tests: list[Callable[[Any], bool]]) -> Any:
    """``value`` when it passes every test, else MISS."""
    for test in tests:
        if not test(value):
            return MISS
    return value


_TEXT_VALIDATORS = (
    django_validators.MaxLengthValidator,
    django_validators.MinLengthValidator,
    django_validators.ProhibitNullCharactersValidator,
    ProhibitSurrogateCharactersValidator,
    django_validators.RegexValidator,
)
_NUMBER_VALIDATORS = (django_validators.MaxValueValidator, django_validators.MinValueValidator)


# --- field types -----------------------------------------------------------------------------


def char_check(field: serializers.CharField) -> PlainCheck | None:
    """``CharField``: a ``str`` (DRF would turn 42 into "42"; that is left to the field), ASCII
    (no surrogate), without NUL, passing the field's lengths and patterns."""
    tests, understood = _limits(field, _TEXT_VALIDATORS)
    if not understood:
        return None
    trim, allow_blank = field.trim_whitespace, field.allow_blank

    def check(data: Any) -> Any:
        if type(data) is not str:
            return MISS
        value = data.strip() if trim else data
        if not value:  # DRF: "" (or only whitespace, when trimmed) is blank
            return "" if allow_blank else MISS
        if not value.isascii() or "\x00" in value:
            return MISS
        return _passing(value, tests)

    return check


def choice_check(field: serializers.ChoiceField) -> PlainCheck | None:
    """``ChoiceField``: one of the choices' keys as a ``str`` (or "" when blank is allowed)."""
    if field.validators or field.allow_null:
        return None
    choices = dict(field.choice_strings_to_values)
    allow_blank = field.allow_blank

    def check(data: Any) -> Any:
        if type(data) is not str:
            return MISS
        if data == "" and allow_blank:
            return ""
        return choices.get(data, MISS)

    return check


def decimal_number_check(field: serializers.DecimalField) -> PlainCheck | None:
    """A ``DecimalField`` fed JSON numbers: an ``int`` or ``float`` (never ``bool``) whose decimal
    text fits the field's digits and places, then its value limits.

    DRF reads the number's ``str``, checks the digits and quantizes to ``decimal_places``; a
    value that passed the precision check is quantized exactly, so the quantum and the
    precision are computed once here instead of on every call. Only for fields that are not
    localized and round with the context's default (a quantization that cannot round).
    """
    if field.localize or field.decimal_places is None or field.max_digits is None:
        return None
    tests, understood = _limits(field, _NUMBER_VALIDATORS)
    if not understood:
        return None
    max_digits, places, whole = field.max_digits, field.decimal_places, field.max_whole_digits
    quantum = decimal.Decimal(".1") ** places
    context = decimal.Context(prec=max_digits)

    def check(data: Any) -> Any:
        kind = type(data)
        if kind is not int and kind is not float:
            return MISS
        value = decimal.Decimal(str(data))
        if not value.is_finite():
            return MISS
        _, digits, exponent = value.as_tuple()
        assert isinstance(exponent, int)  # finite
        if exponent >= 0:
            total = len(digits) + exponent
            after = 0
        elif len(digits) > -exponent:
            total = len(digits)
            after = -exponent
        else:
            total = after = -exponent
        if total > max_digits or after > places or (whole is not None and total - after > whole):
            return MISS
        value = value.quantize(quantum, context=context)
        return _passing(value, tests)

    return check


_INT_BOUND = 10**18  # beyond it, DRF's ``str(data)`` may hit Python's limit on digits: the field answers


def integer_check(field: serializers.IntegerField) -> PlainCheck | None:
    """``IntegerField``: an ``int`` (never ``bool``; DRF's ``int(str(data))`` is the same number),
    within the field's limits."""
    tests, understood = _limits(field, _NUMBER_VALIDATORS)
    if not understood:
        return None

    def check(data: Any) -> Any:
        if type(data) is not int or not -_INT_BOUND < data < _INT_BOUND:
            return MISS
        return _passing(data, tests)

    return check


def datetime_check(field: serializers.DateTimeField) -> PlainCheck | None:
    """``DateTimeField``: a ``str`` the field's own ``to_internal_value`` parses (ISO 8601 and the
    field's time zone rules are DRF's), without the empty-value protocol around it."""
    if field.validators:
        return None

    def check(data: Any) -> Any:
        if type(data) is not str:
            return MISS
        try:
            return field.to_internal_value(data)
        except serializers.ValidationError:
            return MISS

    return check


_COMPILERS: dict[type, Callable[..., PlainCheck | None]] = {
    serializers.CharField: char_check,
    serializers.ChoiceField: choice_check,
    serializers.DecimalField: decimal_number_check,
    serializers.IntegerField: integer_check,
    serializers.DateTimeField: datetime_check,
    UtcOffsetDateTimeField: datetime_check,  # DRF's parsing, then one comparison on the parsed value
}
