"""Reads of the scoring domain."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Avg, Count, F, Q, QuerySet
from django.db.models.functions import Abs

from scoring.choices import CreditDecisionOutcome
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


CALLER_PREFIXES = ("apikey:", "user:", "oidc:")


def decision_search(queryset: QuerySet[Decision], term: str) -> QuerySet[Decision]:
    """The admin's search of decisions: one exact, indexed match chosen by the term's shape.

    A UUID is a decision's or a batch job's id, ``apikey:…``/``user:…``/``oidc:…`` the caller,
    anything else a client's external id. ``icontains`` over the client join read every one
    of 2,000,000 decisions (5 s); each of these reads only the rows it finds (the caller, not
    indexed, is the one exception: a scan, for an audit question asked rarely).
    """
    term = term.strip()
    if not term:
        return queryset
    try:
        as_uuid = uuid.UUID(term)
    except ValueError:
        as_uuid = None
    if as_uuid is not None:
        return queryset.filter(Q(pk=as_uuid) | Q(batch_job_id=as_uuid))
    if term.startswith(CALLER_PREFIXES):
        return queryset.filter(caller=term)
    return queryset.filter(client_id__in=Client.objects.filter(client_id=term).values("pk"))


def model_version_list() -> QuerySet[ModelVersion]:
    """Registry entries (the model files stay in their own table)."""
    return ModelVersion.objects.all()


def shadow_agreement(*, model_version: ModelVersion) -> dict[str, Any]:
    """How a version's shadow verdicts compared with the champion's on the same decisions."""
    rows = Decision.objects.filter(shadow_model_version=model_version)
    scored = rows.filter(shadow_probability__isnull=False)
    stats = scored.aggregate(
        n=Count("id"),
        same=Count("id", filter=Q(prediction=F("shadow_prediction"))),
        mean_abs=Avg(Abs(F("probability_default") - F("shadow_probability"))),
        refused_approved=Count("id", filter=Q(prediction=1, shadow_prediction=0)),
        approved_refused=Count("id", filter=Q(prediction=0, shadow_prediction=1)),
    )
    total = rows.count()
    return {
        "decisions": total,
        "unscored": total - stats["n"],
        "agreement": stats["same"] / stats["n"] if stats["n"] else None,
        "mean_abs_difference": stats["mean_abs"],
        "champion_refused_challenger_approved": stats["refused_approved"],
        "champion_approved_challenger_refused": stats["approved_refused"],
    }


def referral_rate(*, model_version: ModelVersion) -> dict[str, Any]:
    """A version's own decisions and how many were referred to an underwriter (rate None without decisions)."""
    stats = Decision.objects.filter(model_version=model_version).aggregate(
        n=Count("id"), referred=Count("id", filter=Q(decision=CreditDecisionOutcome.REFER))
    )
    return {
        "decisions": stats["n"],
        "referred": stats["referred"],
        "rate": stats["referred"] / stats["n"] if stats["n"] else None,
    }


def refer_band_text(model_version: ModelVersion) -> str:
    """The version's refer band in words (the model card and the promotion evidence)."""
    if model_version.refer_lower is None or model_version.refer_upper is None:
        return "none: every decision is approve or refuse"
    return f"{model_version.refer_lower:g} – {model_version.refer_upper:g} (bounds included)"
