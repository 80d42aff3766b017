"""Serializers of the scoring API."""

from __future__ import annotations

from rest_framework import serializers

from creditplatform.api.serializers import StrictModelSerializer
from scoring.models import Client
from scoring.validators import (
    external_id_validator,
    no_control_chars,
    no_control_chars_multiline,
    phone_validator,
    validate_birth_date,
)


class ClientSerializer(StrictModelSerializer):
    """A client's external id and identity. ``client_id`` is set at creation only."""

    client_id = serializers.CharField(max_length=64, validators=[external_id_validator])
    first_name = serializers.CharField(max_length=100, required=False, allow_blank=True, validators=[no_control_chars])
    last_name = serializers.CharField(max_length=100, required=False, allow_blank=True, validators=[no_control_chars])
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True, validators=[phone_validator])
    birth_date = serializers.DateField(required=False, allow_null=True, validators=[validate_birth_date])
    address = serializers.CharField(
        max_length=500, required=False, allow_blank=True, validators=[no_control_chars_multiline]
    )

    class Meta:
        model = Client
        fields = [
            "client_id",
            "first_name",
            "last_name",
            "email",
            "phone",
            "birth_date",
            "address",
            "erased_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["erased_at", "created_at", "updated_at"]

    def validate_client_id(self, value: str) -> str:
        if self.instance is not None and value != self.instance.client_id:
            raise serializers.ValidationError("The external id of a client cannot change.")
        if self.instance is None and Client.objects.filter(client_id=value).exists():
            raise serializers.ValidationError("A client with this client_id already exists.")
        return value
