"""Reads of the monitoring domain: drift samples, report history, dashboard figures.

Every query aggregates in the database over a bounded time range on an indexed column,
so the cost follows the range asked, not the size of the tables.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
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


def drift_day_model_version(*, purpose: str, day: date) -> Any | None:
    """The id of the model version that made most of the day's scored decisions (None: no decision).

    One aggregate query over the day's rows (indexed ``created_at``), grouped by version.
    """
    source = drift_sources()[purpose]
    start, end = day_bounds(day)
    top = (
        source.model._default_manager.filter(
            created_at__gte=start, created_at__lt=end, **{f"{source.score_field}__isnull": False}
        )
        .values("model_version")
        .annotate(n=Count("pk"))
        .order_by("-n", "model_version")
        .first()
    )
    return None if top is None else top["model_version"]


def drift_days_unreported(*, purpose: str, start: date, end: date) -> list[date]:
    """Days of ``start``..``end`` (inclusive) with scored decisions of ``purpose`` but no drift report:
    a report whose worker was killed, or whose task the broker refused or lost, leaves no row.

    One existence query per day without a report, each on the indexed ``created_at``.
    """
    reported = set(
        DriftReport.objects.filter(purpose=purpose, day__gte=start, day__lte=end).values_list("day", flat=True)
    )
    source = drift_sources()[purpose]
    missing = []
    day = start
    while day <= end:
        if day not in reported:
            first, after = day_bounds(day)
            decided = source.model._default_manager.filter(
                created_at__gte=first, created_at__lt=after, **{f"{source.score_field}__isnull": False}
            )
            if decided.exists():
                missing.append(day)
        day += timedelta(days=1)
    return missing


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
    from scoring.choices import ModelPurpose

    out = []
    for purpose in ModelPurpose.values:
        report = drift_report_latest(purpose=purpose)
        if report is not None:
            out.append(report)
    return out


def _rows(values: Iterable[Any]) -> list[dict[str, Any]]:
    """``QuerySet.values()`` rows as plain dicts (django-stubs types them as TypedDicts)."""
    return list(values)


def drift_history(*, start: date, end: date, purpose: str | None = None) -> list[dict[str, Any]]:
    """Reports from ``start`` to ``end`` (inclusive), oldest first: day, purpose, share, alert."""
    reports = DriftReport.objects.filter(day__gte=start, day__lte=end)
    if purpose:
        reports = reports.filter(purpose=purpose)
    return _rows(
        reports.order_by("day", "purpose").values(
            "day", "purpose", "drift_share", "alert", "alert_threshold", "status", "prediction_drift"
        )
    )


# --- The dashboard ---------------------------------------------------------------------------
#
# Latency percentiles come from a histogram counted in SQL: each call falls in a bucket
# whose bounds grow by 10 % (0.1 ms x 1.1^k), and a percentile is read from the
# cumulative counts (as Prometheus' histogram_quantile does), at the bucket's geometric
# middle: at most ~5 % off, whatever the number of calls, and with no sort of the rows.
LATENCY_FLOOR_MS = 0.1
LATENCY_RATIO = 1.1
SCORE_BINS = 20


def _latency_bucket() -> Any:
    import math

    from django.db.models import F, FloatField, IntegerField, Value
    from django.db.models.functions import Cast, Floor, Greatest, Ln

    latency = Greatest(F("latency_ms"), Value(LATENCY_FLOOR_MS), output_field=FloatField())
    return Cast(
        Floor(Ln(latency / Value(LATENCY_FLOOR_MS)) / Value(math.log(LATENCY_RATIO))), output_field=IntegerField()
    )


def _percentile(histogram: dict[int, int], q: float) -> float | None:
    total = sum(histogram.values())
    if not total:
        return None
    rank, seen = q * total, 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return float(LATENCY_FLOOR_MS * LATENCY_RATIO ** (bucket + 0.5))
    return None


def _trunc(period: str) -> Any:
    from django.db.models.functions import TruncDay, TruncHour

    return (TruncHour if period == "hour" else TruncDay)("created_at", tzinfo=UTC)


def decision_volume(*, start: datetime, end: datetime, period: str) -> list[dict[str, Any]]:
    """Credit decisions and approvals per hour (or day) of ``[start, end)``."""
    from scoring.models import Decision

    return _rows(
        Decision.objects.filter(created_at__gte=start, created_at__lt=end)
        .annotate(bucket=_trunc(period))
        .values("bucket")
        .annotate(decisions=Count("pk"), approved=Count("pk", filter=Q(decision="approve")))
        .order_by("bucket")
    )


def score_distribution(*, start: datetime, end: datetime, bins: int = SCORE_BINS) -> list[int]:
    """How many credit decisions fell in each of ``bins`` equal bands of the probability of default."""
    from django.db.models import F, IntegerField, Value
    from django.db.models.functions import Cast, Floor, Least

    from scoring.models import Decision

    band = Least(
        Cast(Floor(F("probability_default") * Value(bins)), output_field=IntegerField()),
        Value(bins - 1),
        output_field=IntegerField(),
    )
    counts = dict(
        Decision.objects.filter(created_at__gte=start, created_at__lt=end)
        .annotate(band=band)
        .values("band")
        .annotate(n=Count("pk"))
        .values_list("band", "n")
    )
    return [counts.get(i, 0) for i in range(bins)]


def api_latency_and_errors(*, start: datetime, end: datetime, period: str) -> list[dict[str, Any]]:
    """Per hour (or day): API calls, 4xx and 5xx answers, latency p50/p95/p99 (ms)."""
    from monitoring.models import ApiCall

    calls = ApiCall.objects.filter(created_at__gte=start, created_at__lt=end).annotate(bucket=_trunc(period))
    rows: dict[Any, dict[str, Any]] = {}
    for counted in calls.values("bucket").annotate(
        calls=Count("pk"),
        client_errors=Count("pk", filter=Q(status_code__gte=400, status_code__lt=500)),
        server_errors=Count("pk", filter=Q(status_code__gte=500)),
    ):
        rows[counted["bucket"]] = {**counted, "histogram": {}}
    for bucket, latency, n in (
        calls.annotate(latency_bucket=_latency_bucket())
        .values("bucket", "latency_bucket")
        .annotate(n=Count("pk"))
        .values_list("bucket", "latency_bucket", "n")
    ):
        rows[bucket]["histogram"][latency] = n
    out = []
    for bucket in sorted(rows):
        row = rows.pop(bucket)
        histogram = row.pop("histogram")
        row.update({f"p{q}": _percentile(histogram, q / 100) for q in (50, 95, 99)})
        out.append(row)
    return out


def fraud_alerts_by_decision(*, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Fraud alerts opened per day of ``[start, end)``, by the decision that opened them."""
    from django.db.models.functions import TruncDay

    from fraud.models import FraudAlert

    return _rows(
        FraudAlert.objects.filter(created_at__gte=start, created_at__lt=end)
        .annotate(bucket=TruncDay("created_at", tzinfo=UTC))
        .values("bucket", "fraud_check__decision")
        .annotate(n=Count("pk"))
        .order_by("bucket")
    )


def today_figures(*, now: datetime) -> dict[str, Any]:
    """The key figures of the day so far (UTC): decisions, approval rate, open alerts, p95, and the
    newest drift report of each purpose (each purpose is reported in a task of its own: the one
    written last must not hide another's alert)."""
    from fraud.choices import AlertStatus
    from fraud.models import FraudAlert
    from scoring.models import Decision

    start, _ = day_bounds(now.date())
    decided = Decision.objects.filter(created_at__gte=start, created_at__lt=now + timedelta(seconds=1)).aggregate(
        n=Count("pk"), approved=Count("pk", filter=Q(decision="approve"))
    )
    latency = api_latency_and_errors(start=start, end=now + timedelta(seconds=1), period="day")
    return {
        "decisions": decided["n"],
        "approval_rate": decided["approved"] / decided["n"] if decided["n"] else None,
        "open_alerts": FraudAlert.objects.exclude(status=AlertStatus.RESOLVED).count(),
        "p95_ms": latency[0]["p95"] if latency else None,
        "api_calls": latency[0]["calls"] if latency else 0,
        "drift": drift_latest_by_purpose(),
    }
