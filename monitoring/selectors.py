"""Reads of the monitoring domain: drift samples, report history, dashboard figures.

Every query aggregates in the database over a bounded time range on an indexed column,
so the cost follows the range asked, not the size of the tables.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import Avg, Count, Model, Q, QuerySet

from monitoring.models import DriftReport

UUID_SPACE = 2**128


@dataclass(frozen=True)
class DriftSource:
    """Where the decisions of one model purpose are stored, and which field is the model's score."""

    model: type[Model]
    score_field: str


def drift_sources() -> dict[str, DriftSource]:
    from fraud.models import FraudCheck
    from scoring.models import Decision

    return {
        "credit": DriftSource(Decision, "probability_default"),
        # Rule-only checks (no model serving) have no model score: they are not the model's inputs.
        "fraud": DriftSource(FraudCheck, "model_score"),
    }


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


@dataclass(frozen=True)
class DaySample:
    rows_day: int  # every decision of the champion that day
    mean_score: float | None  # over all of them (SQL), not only the sample
    adverse_share: float | None  # share at or above the model's threshold, over all of them
    features: list[dict[str, Any]]  # the sample's input snapshots
    scores: list[float | None]


def drift_day_sample(*, purpose: str, model_version: Any, day: date, size: int) -> DaySample:
    """A uniform random sample of about ``size`` of the day's decisions by ``model_version``.

    The day's figures (count, mean score, share at or above the threshold) are exact, one
    aggregate query. The sample takes the rows whose primary key falls below a cut point:
    the keys are random UUIDs (version 4), so ``id < size/N × 2^128`` keeps each row with
    probability size/N, independently of the time of day, without sorting or numbering
    the day's rows (``ORDER BY random()`` would sort them all). The same day gives the
    same sample, so a report run again gives the same answer.
    """
    source = drift_sources()[purpose]
    start, end = day_bounds(day)
    rows: QuerySet[Any] = source.model._default_manager.filter(
        model_version=model_version,
        created_at__gte=start,
        created_at__lt=end,
        **{f"{source.score_field}__isnull": False},
    )
    stats = rows.aggregate(
        n=Count("pk"),
        mean=Avg(source.score_field),
        adverse=Count("pk", filter=Q(**{f"{source.score_field}__gte": model_version.threshold})),
    )
    total = stats["n"]
    if total > size:
        rows = rows.filter(pk__lt=uuid.UUID(int=min(UUID_SPACE - 1, size * UUID_SPACE // total)))
    sample = list(rows.order_by().values_list("features", source.score_field))
    return DaySample(
        rows_day=total,
        mean_score=stats["mean"],
        adverse_share=stats["adverse"] / total if total else None,
        features=[features or {} for features, _ in sample],
        scores=[score for _, score in sample],
    )


def drift_report_latest(*, purpose: str | None = None) -> DriftReport | None:
    reports = DriftReport.objects.select_related("model_version")
    if purpose:
        reports = reports.filter(purpose=purpose)
    return reports.order_by("-day", "-updated_at").first()


def drift_latest_by_purpose() -> list[DriftReport]:
    """The newest report of each purpose (for /metrics): one indexed query per purpose."""
    out = []
    for purpose in DriftReport.objects.order_by().values_list("purpose", flat=True).distinct():
        report = drift_report_latest(purpose=purpose)
        if report is not None:
            out.append(report)
    return out


def drift_history(*, start: date, end: date, purpose: str | None = None) -> list[dict[str, Any]]:
    """Reports from ``start`` to ``end`` (inclusive), oldest first: day, purpose, share, alert."""
    reports = DriftReport.objects.filter(day__gte=start, day__lte=end)
    if purpose:
        reports = reports.filter(purpose=purpose)
    return list(
        reports.order_by("day", "purpose").values(
            "day", "purpose", "drift_share", "alert", "alert_threshold", "status", "prediction_drift"
        )
    )
