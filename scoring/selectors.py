"""Reads of the scoring domain."""

from __future__ import annotations

from django.db.models import QuerySet

from scoring.models import Client, Decision, ModelVersion


def client_list() -> QuerySet[Client]:
    """Clients visible through the API (erased identities stay listed, pseudonymised)."""
    return Client.objects.all()


def decision_list() -> QuerySet[Decision]:
    """Credit decisions with the few linked columns their representation needs."""
    return Decision.objects.select_related("client", "application", "model_version").only(
        *(f.name for f in Decision._meta.concrete_fields),
        "client__client_id",
        "application__application_id",
        "model_version__version",
    )


def model_version_list() -> QuerySet[ModelVersion]:
    """Registry entries (the model files stay in their own table)."""
    return ModelVersion.objects.all()
