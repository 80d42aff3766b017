"""Reads of the review queue: what a case page shows, in plain words."""

from __future__ import annotations

from typing import Any

from scoring.choices import ReviewStatus
from scoring.models import Decision, ReviewCase


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def band_position(decision: Decision) -> str:
    """Where the score sits against the threshold and the version's refer band, in words."""
    version = decision.model_version
    p, threshold = decision.probability_default, decision.threshold_used
    side = "at or above" if p >= threshold else "below"
    text = f"{pct(p)}, {side} the threshold of {pct(threshold)}"
    if version.refer_lower is None or version.refer_upper is None:
        return f"{text}; this version has no refer band."
    lower, upper = version.refer_lower, version.refer_upper
    if lower <= p <= upper:
        width = upper - lower
        where = f"{(p - lower) / width:.0%} of the way up" if width > 0 else "on it"
        return f"{text}; inside the refer band {pct(lower)}–{pct(upper)} ({where})."
    return f"{text}; outside the refer band {pct(lower)}–{pct(upper)} (referred for missing information)."


def shadow_opinion(decision: Decision) -> str:
    if decision.shadow_model_version_id is None:
        return "No challenger model was scoring in shadow."
    if decision.shadow_probability is None:
        return f"The challenger ({decision.shadow_model_version.version}) could not take these inputs."
    verdict = "refuse" if decision.shadow_prediction else "approve"
    return (
        f"The challenger ({decision.shadow_model_version.version}) would {verdict}: "
        f"probability of default {pct(decision.shadow_probability)}."
    )


def earlier_decisions(decision: Decision, limit: int = 10) -> list[Decision]:
    """The same client's other decisions, newest first (none for an anonymous applicant)."""
    if decision.client_id is None:
        return []
    return list(
        Decision.objects.filter(client_id=decision.client_id, created_at__lt=decision.created_at)
        .select_related("model_version")
        .order_by("-created_at")[:limit]
    )


def pending_review_ids(decision_ids: list[Any]) -> set[Any]:
    """Which of these decisions have a case not yet closed."""
    return set(
        ReviewCase.objects.filter(decision_id__in=decision_ids)
        .exclude(status=ReviewStatus.CLOSED)
        .values_list("decision_id", flat=True)
    )
