"""Serializer helpers."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from django.utils import timezone
from rest_framework import ISO_8601, serializers
from rest_framework.settings import api_settings

from creditplatform.hot_settings import hot_settings

_DATETIME = serializers.DateTimeField()
_UTC = ZoneInfo("UTC")  # the default zone when TIME_ZONE is "UTC" (ZoneInfo keeps one instance per key)


def api_datetime(value: dt.datetime | None) -> str | None:
    """A timestamp as the API writes it: ISO 8601 in ``TIME_ZONE``, ``Z`` for UTC.

    That is what DRF's ``DateTimeField().to_representation(value)`` writes for an aware
    datetime, computed without the field's look-ups (its unset ``format`` and ``timezone``
    attributes and the current time zone's thread-local, each a miss that formats an
    ``AttributeError`` and catches it): about 60,000 instructions a call, on every decision
    answered. The zone is the default one, not a zone activated for the request: nothing
    in the platform activates one, and an API's timestamps should not depend on it.
    Anything else (a naive datetime, ``USE_TZ`` off, another output format in
    ``REST_FRAMEWORK``) is DRF's field's.
    """
    if value is None:
        return None
    if (
        type(value) is not dt.datetime
        or value.utcoffset() is None
        or not hot_settings.USE_TZ
        or api_settings.DATETIME_FORMAT != ISO_8601
    ):
        return str(_DATETIME.to_representation(value))
    zone = timezone.get_default_timezone()
    if value.tzinfo is not zone and not (value.tzinfo is dt.UTC and zone is _UTC):
        value = value.astimezone(zone)  # (``timezone.now()`` is in ``dt.UTC``: the same text as in ``_UTC``)
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def in_key_order(value: Any, keys: tuple[str, ...]) -> Any:
    """A stored JSON object, or list of objects, with ``keys`` first and in that order.

    PostgreSQL's ``jsonb`` keeps an object's keys sorted by length, not as they were
    written, so a decision read back (a replay, a ``GET``) would list its reasons' or rules'
    keys in another order than the answer that stored it: the same JSON, different bytes.
    Keys not in ``keys`` follow, as stored. What is already in order (built by this request,
    or read from SQLite) is given back as it is, at the cost of a look at each object.
    """
    if isinstance(value, list):
        return value if all(_keys_are(item, keys) for item in value) else [in_key_order(item, keys) for item in value]
    if _keys_are(value, keys):
        return value
    return {**{key: value[key] for key in keys if key in value}, **value}


def _keys_are(value: Any, keys: tuple[str, ...]) -> bool:
    return not isinstance(value, dict) or tuple(value) == keys


# Fields that take a list: in a form body, sent once per item.
_LIST_FIELDS = (serializers.ListField, serializers.MultipleChoiceField, serializers.ManyRelatedField)


class StrictFieldsMixin:
    """Reject fields the serializer does not declare (a typo must not pass silently).

    Read-only fields count as unknown on input: a client cannot set ``decision`` or
    ``created_at`` by sending them. In a form or multipart body a field sent twice is
    refused too (a ``QueryDict`` would otherwise give the last one and drop the others
    unseen: two ``file`` parts, and the first file is never scored), unless the field
    takes a list.
    """

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            fields = self.fields  # type: ignore[attr-defined]
            errors: dict[str, Any] = {}
            for name, value in data.items():
                field = fields.get(name)
                if field is None or field.read_only:
                    errors[str(name)] = ["Unknown field."]
                elif hasattr(data, "getlist") and len(data.getlist(name)) > 1 and not isinstance(field, _LIST_FIELDS):
                    errors[str(name)] = ["Sent more than once: send this field once."]
                elif isinstance(field, serializers.CharField) and value is not None and not isinstance(value, str):
                    # DRF's CharField turns 42.5 into "42.5"; a number where text is expected is a client bug.
                    errors[str(name)] = ["Not a valid string."]
            if errors:
                # Report the other fields' problems too, so one round trip shows them all.
                try:
                    super().to_internal_value({k: v for k, v in data.items() if str(k) not in errors})  # type: ignore[misc]
                except serializers.ValidationError as exc:
                    if isinstance(exc.detail, dict):
                        errors = {**{str(k): v for k, v in exc.detail.items()}, **errors}
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)  # type: ignore[misc]


class StrictSerializer(StrictFieldsMixin, serializers.Serializer):
    """A plain serializer that rejects unknown fields."""


class StrictModelSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """A model serializer that rejects unknown fields."""
