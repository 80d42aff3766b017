"""Reads of the scoring domain."""

from __future__ import annotations

from django.db.models import QuerySet

from scoring.models import Client


def client_list() -> QuerySet[Client]:
    """Clients visible through the API (erased identities stay listed, pseudonymised)."""
    return Client.objects.all()
