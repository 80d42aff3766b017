"""Dates and times the API reads: one rule for UTC offsets, in query strings and bodies alike.

A UTC offset beyond ±14:00 names no real time zone (the range runs from -12:00 to
Kiribati's +14:00), yet Python parses up to ±23:59 and PostgreSQL stores up to ±15:59: such
a value is a typo or a probe. List filters (``creditplatform.api.filters``) and body fields
(``/fraude``'s ``timestamp``) refuse it with the same message, from the same constant.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from rest_framework import serializers

MAX_UTC_OFFSET = dt.timedelta(hours=14)  # Kiribati (+14:00); the lowest is -12:00


def _hours_minutes(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds()) // 60
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


UTC_OFFSET_MESSAGE = (
    f"The UTC offset must be between -{_hours_minutes(MAX_UTC_OFFSET)} and +{_hours_minutes(MAX_UTC_OFFSET)}."
)


def utc_offset_out_of_range(value: dt.datetime) -> bool:
    """True when ``value`` (parsed, not yet converted) carries an offset beyond ±14:00."""
    offset = value.utcoffset()
    return offset is not None and abs(offset) > MAX_UTC_OFFSET


class UtcOffsetDateTimeField(serializers.DateTimeField):
    """DRF's ``DateTimeField`` refusing an offset beyond ±14:00 (a 400 naming the field).

    The offset is read on the value DRF has just parsed, before it is converted to the
    field's time zone (which forgets it): one comparison, on the decision path too
    (``creditplatform.api.plainfields`` checks this class as it checks DRF's own).
    """

    default_error_messages = {"offset": UTC_OFFSET_MESSAGE}

    def enforce_timezone(self, value: dt.datetime) -> Any:
        if utc_offset_out_of_range(value):
            self.fail("offset")
        return super().enforce_timezone(value)
