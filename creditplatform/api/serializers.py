"""Serializer helpers."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class StrictFieldsMixin:
    """Reject fields the serializer does not declare (a typo must not pass silently).

    Read-only fields count as unknown on input: a client cannot set ``decision`` or
    ``created_at`` by sending them.
    """

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            fields = self.fields  # type: ignore[attr-defined]
            errors: dict[str, Any] = {}
            for name, value in data.items():
                field = fields.get(name)
                if field is None or field.read_only:
                    errors[str(name)] = ["Unknown field."]
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
