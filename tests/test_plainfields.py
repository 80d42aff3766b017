"""A field's plain check (``creditplatform.api.plainfields``) only ever says what DRF would say.

For every field configuration below and any JSON value, the plain check either gives MISS
(the field itself then answers) or the exact value ``field.run_validation`` returns: same
type, same text (``Decimal("26.70")`` is not ``Decimal("26.7")``). And it does accept the
shapes a well-behaved client sends, or it would save nothing.

Pure: no database. Examples are bounded per test and derandomised (tests/conftest.py).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.core.validators import MaxValueValidator, RegexValidator
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework import serializers

from creditplatform.api.datetimes import UtcOffsetDateTimeField
from creditplatform.api.plainfields import MISS, plain_check, skipped_when_absent
from fraud.api.serializers import FraudeInputSerializer, _fraude_input_check
from scoring.validators import external_id_validator, no_control_chars

CHOICES = [("web", "Web"), ("mobile", "Mobile"), ("1", "One")]

FIELDS: dict[str, serializers.Field] = {
    "char": serializers.CharField(),
    "char-raw-id": serializers.CharField(max_length=12, trim_whitespace=False, validators=[external_id_validator]),
    "char-blank": serializers.CharField(allow_blank=True, max_length=5, validators=[no_control_chars]),
    "char-min": serializers.CharField(min_length=3, max_length=6),
    "char-inverse": serializers.CharField(validators=[RegexValidator(r"[0-9]", inverse_match=True)]),
    "choice": serializers.ChoiceField(choices=CHOICES),
    "choice-blank": serializers.ChoiceField(choices=CHOICES, allow_blank=True),
    "decimal": serializers.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0")),
    "decimal-small": serializers.DecimalField(max_digits=5, decimal_places=3, max_value=Decimal("12.5")),
    "decimal-whole": serializers.DecimalField(max_digits=6, decimal_places=0),
    "integer": serializers.IntegerField(),
    "integer-range": serializers.IntegerField(min_value=0, max_value=100),
    "datetime-utc": serializers.DateTimeField(default_timezone=dt.UTC),
    "datetime": serializers.DateTimeField(),
    "datetime-offset": UtcOffsetDateTimeField(default_timezone=dt.UTC),
}

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(),
    st.floats(min_value=-1e6, max_value=1e6).map(lambda x: round(x, 2)),
    st.decimals(allow_nan=False, places=3, min_value=-(10**4), max_value=10**4),
    st.text(max_size=14),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,14}", fullmatch=True),
    st.sampled_from(["", " ", " web", "web", "mobile", "1", "WEB", "\x00a", "a\x1fb", "é", "\ud800", "12", "1.5"]),
    st.datetimes().map(lambda d: d.isoformat()),
    st.datetimes(timezones=st.just(dt.UTC)).map(lambda d: d.isoformat()),
    st.sampled_from(
        [
            "2025-10-25T09:12:00Z",
            "2025-10-25T09:12:00+02:00",
            "2025-10-25T09:12:00+23:59",
            "2025-10-25",
            "25/10/2025",
            "x",
        ]
    ),
)
JSON_VALUES = st.one_of(
    JSON_SCALARS, st.lists(JSON_SCALARS, max_size=2), st.dictionaries(st.text(max_size=3), JSON_SCALARS, max_size=2)
)


def _drf(field: serializers.Field, value: Any) -> Any:
    """What DRF answers: the value, or the exception it raised."""
    try:
        return field.run_validation(value)
    except (serializers.ValidationError, serializers.SkipField) as exc:
        return exc


def _same(plain: Any, drf: Any) -> bool:
    return type(plain) is type(drf) and plain == drf and str(plain) == str(drf)


@pytest.mark.parametrize("name", FIELDS)
@settings(max_examples=400, deadline=None)
@given(value=JSON_VALUES)
def test_a_plain_check_accepts_only_what_drf_accepts_and_as_drf_does(name: str, value: Any) -> None:
    field = FIELDS[name]
    check = plain_check(field)
    assert check is not None, name
    got = check(value)
    if got is not MISS:
        expected = _drf(field, value)
        assert not isinstance(expected, Exception), (name, value, got, expected)
        assert _same(got, expected), (name, value, got, expected)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("char", "  hello ", "hello"),
        ("char-raw-id", "BENCH-C00001", "BENCH-C00001"),
        ("char-blank", "", ""),
        ("char-blank", "ab", "ab"),
        ("char-inverse", "abc", "abc"),
        ("choice", "mobile", "mobile"),
        ("choice-blank", "", ""),
        ("decimal", 26.7, Decimal("26.70")),
        ("decimal", 2000, Decimal("2000.00")),
        ("decimal", -0.0, Decimal("-0.00")),
        ("decimal-small", 12.5, Decimal("12.500")),
        ("decimal-whole", 120, Decimal("120")),
        ("integer", -5, -5),
        ("integer-range", 100, 100),
        ("datetime-utc", "2025-10-25T09:12:00+02:00", dt.datetime(2025, 10, 25, 7, 12, tzinfo=dt.UTC)),
        ("datetime-offset", "2025-10-25T09:12:00+14:00", dt.datetime(2025, 10, 24, 19, 12, tzinfo=dt.UTC)),
    ],
)
def test_a_plain_check_accepts_the_plain_shapes(name: str, value: Any, expected: Any) -> None:
    got = plain_check(FIELDS[name])(value)  # type: ignore[misc]
    assert _same(got, expected), got
    assert _same(got, FIELDS[name].run_validation(value))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("char", 42),  # DRF turns it into "42"; the field answers that
        ("char-raw-id", "-bad"),  # refused by the pattern: the field's message
        ("char-raw-id", "ABCDEFGHIJKLM"),  # too long
        ("char-raw-id", " id"),  # not trimmed: refused by the pattern
        ("char-blank", "a\x01"),  # control character
        ("char", "café"),  # not ASCII: the field checks surrogates itself
        ("char-min", "ab"),
        ("char-inverse", "a1"),
        ("choice", "WEB"),
        ("choice", 1),  # DRF reads str(1): the field answers
        ("decimal", True),
        ("decimal", "12.5"),  # text where a number is expected: the field answers
        ("decimal", 0.001),  # three places
        ("decimal", -1),  # below the minimum
        ("decimal", float("nan")),
        ("decimal", 1e20),
        ("decimal-small", 12.6),
        ("integer", 2.0),  # DRF accepts it as 2; left to the field
        ("integer", True),
        ("integer-range", 101),
        ("datetime-utc", "25/10/2025"),
        ("datetime-utc", None),
        ("datetime-offset", "2025-10-25T09:12:00+23:59"),  # no real time zone: the field's 400
    ],
)
def test_a_plain_check_leaves_everything_else_to_the_field(name: str, value: Any) -> None:
    assert plain_check(FIELDS[name])(value) is MISS  # type: ignore[misc]


def test_fields_it_does_not_know_get_no_plain_check() -> None:
    class Upper(serializers.CharField):
        def to_internal_value(self, data: Any) -> str:
            return str(super().to_internal_value(data)).upper()

    def odd(value: Any) -> None:
        pass

    assert plain_check(Upper()) is None  # a subclass may accept differently
    assert plain_check(serializers.CharField(validators=[odd])) is None  # a validator it cannot read
    assert (
        plain_check(serializers.IntegerField(validators=[MaxValueValidator(lambda: 5)])) is None
    )  # a limit known late
    assert plain_check(serializers.DecimalField(max_digits=5, decimal_places=2, localize=True)) is None
    assert plain_check(serializers.CharField(read_only=True)) is None
    assert plain_check(serializers.EmailField()) is None


def test_skipped_when_absent_is_drfs_skipfield() -> None:
    for field in [
        serializers.CharField(),
        serializers.CharField(required=False),
        serializers.CharField(required=False, default="x"),
        serializers.IntegerField(required=False, allow_null=True),
    ]:
        skipped = isinstance(_drf(field, serializers.empty), serializers.SkipField)
        assert skipped_when_absent(field) is skipped, field


def test_every_fraude_field_has_a_plain_check() -> None:
    """/fraude's input check runs the plain checks (its speed depends on it): a field whose
    type or validators they stop recognising would silently fall back to DRF."""
    check = _fraude_input_check()
    assert set(check.plain) == set(FraudeInputSerializer().fields)
    assert [name for name, plain in check.plain.items() if plain is None] == []
    assert check.skipped == {name for name, field in check.fields.items() if not field.required}
