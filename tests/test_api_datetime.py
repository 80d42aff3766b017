"""``api_datetime`` writes a timestamp exactly as DRF's ``DateTimeField`` represents it.

Pure: no database. Examples are bounded per test and derandomised (tests/conftest.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework import serializers

from creditplatform.api.serializers import api_datetime

ZONES = st.sampled_from(
    [dt.UTC, ZoneInfo("Europe/Paris"), ZoneInfo("America/New_York"), dt.timezone(dt.timedelta(hours=5, minutes=30))]
)
AWARE = st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2090, 1, 1), timezones=ZONES)


def _drf(value: Any) -> Any:
    return serializers.DateTimeField().to_representation(value)


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris"])
@settings(max_examples=200, deadline=None)
@given(value=AWARE)
def test_an_aware_timestamp_is_written_as_drf_writes_it(zone: str, value: dt.datetime) -> None:
    with override_settings(TIME_ZONE=zone):
        assert api_datetime(value) == _drf(value)


def test_utc_ends_in_z_and_other_zones_keep_their_offset() -> None:
    moment = dt.datetime(2026, 12, 6, 9, 30, 15, 123456, tzinfo=ZoneInfo("Europe/Paris"))
    assert api_datetime(moment) == "2026-12-06T08:30:15.123456Z"
    with override_settings(TIME_ZONE="Europe/Paris"):
        assert api_datetime(moment) == "2026-12-06T09:30:15.123456+01:00"


@pytest.mark.parametrize("value", [None, dt.datetime(2026, 12, 6, 9, 30), "2026-12-06T09:30:00Z"], ids=repr)
def test_anything_else_is_drfs_answer(value: Any) -> None:
    assert api_datetime(value) == (None if value is None else _drf(value))


def test_another_output_format_is_drfs_answer() -> None:
    moment = dt.datetime(2026, 12, 6, 9, 30, tzinfo=dt.UTC)
    with override_settings(REST_FRAMEWORK={"DATETIME_FORMAT": "%d/%m/%Y %H:%M"}):
        assert api_datetime(moment) == "06/12/2026 09:30" == _drf(moment)
