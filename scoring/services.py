"""Writes of the scoring domain: <entity>_<action>(*, ...), one transaction each."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from scoring.models import Client


@transaction.atomic
def client_create(*, client_id: str, **identity: Any) -> Client:
    """Create a client from validated identity fields."""
    client = Client(client_id=client_id, **identity)
    client.full_clean()
    client.save()
    return client


@transaction.atomic
def client_update(*, client: Client, **changes: Any) -> Client:
    """Update a client's identity fields (the external id never changes)."""
    changes.pop("client_id", None)
    for field, value in changes.items():
        setattr(client, field, value)
    client.full_clean()
    client.save()
    return client


def client_get_or_create(*, client_id: str) -> Client:
    """The client with this external id, created bare if unknown (API callers send ids only)."""
    client, _ = Client.objects.get_or_create(client_id=client_id)
    return client
