"""Performance of model versions on matured labels: the figures (no Django) and the monthly report.

A decision's label is **mature** when an outcome says it defaulted within the horizon
(``PERFORMANCE_HORIZON_MONTHS``), or that it had not defaulted over at least the horizon;
every other decision is **immature**. Figures are computed only when at least
``PERFORMANCE_MIN_OUTCOMES`` labels matured, with at least one default and one non-default;
otherwise the report gives the counts and nothing else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

import numpy as np
from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve

DECILES = 10
PSI_BINS = 10
PSI_FLOOR = 1e-4  # an empty bin counts as this share (PSI is undefined on zeros)


def calibration_by_decile(y: np.ndarray, p: np.ndarray, bins: int = DECILES) -> list[dict[str, Any]]:
    """Predicted against observed default rate, by score decile (quantile bins of the predictions).

    The bins are those of scikit-learn's ``calibration_curve(strategy="quantile")``; empty
    bins (ties) are left out.
    """
    edges = np.percentile(p, np.linspace(0, 100, bins + 1))
    ids = np.searchsorted(edges[1:-1], p)
    out = []
    for b in range(bins):
        mask = ids == b
        n = int(mask.sum())
        if n:
            out.append(
                {
                    "decile": b + 1,
                    "n": n,
                    "predicted": float(p[mask].mean()),
                    "observed": float(y[mask].mean()),
                    "upper": float(edges[b + 1]),
                }
            )
    return out


def psi(reference: np.ndarray, current: np.ndarray, bins: int = PSI_BINS) -> float | None:
    """Population stability index of ``current`` against ``reference`` (deciles of the reference)."""
    if len(reference) == 0 or len(current) == 0:
        return None
    edges = np.unique(np.percentile(reference, np.linspace(0, 100, bins + 1))[1:-1])
    ref = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1) / len(reference)
    cur = np.bincount(np.searchsorted(edges, current, side="right"), minlength=len(edges) + 1) / len(current)
    ref, cur = np.maximum(ref, PSI_FLOOR), np.maximum(cur, PSI_FLOOR)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def performance_figures(
    *,
    y: np.ndarray,
    p: np.ndarray,
    refused: np.ndarray,
    cost_fn: float,
    cost_fp: float,
) -> dict[str, Any]:
    """AUC, Gini, KS, Brier, calibration and the business cost of the decisions taken, on matured labels."""
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    refused = np.asarray(refused, dtype=bool)
    auc = float(roc_auc_score(y, p))
    fpr, tpr, _ = roc_curve(y, p)
    fn = int(np.sum((y == 1) & ~refused))
    fp = int(np.sum((y == 0) & refused))
    cost = cost_fn * fn + cost_fp * fp
    return {
        "auc": auc,
        "gini": 2 * auc - 1,
        "ks": float(np.max(tpr - fpr)),
        "brier": float(brier_score_loss(y, p)),
        "default_rate": float(y.mean()),
        "mean_predicted": float(p.mean()),
        "calibration": calibration_by_decile(y, p),
        "false_negatives": fn,
        "false_positives": fp,
        "business_cost": cost,
        "business_cost_per_decision": cost / len(y),
        "cost_false_negative": cost_fn,
        "cost_false_positive": cost_fp,
    }


@dataclass(frozen=True)
class Scored:
    """What one version said on a set of decisions (its probability and verdict) and the matured labels."""

    probabilities: np.ndarray  # every decision considered
    refused: np.ndarray  # every decision considered: the verdict at the threshold (the business cost)
    labels: np.ndarray  # 1 default, 0 none, -1 immature
    # Every decision considered: approved (the decision taken; a referred one is not approved).
    # None: the verdict at the threshold stands for it (a challenger in shadow refers nobody).
    approved: np.ndarray | None = None


def summarise(
    scored: Scored, *, cost_fn: float, cost_fp: float, reference_scores: np.ndarray, min_outcomes: int
) -> dict[str, Any]:
    """Counts always; figures only on enough matured labels of both kinds."""
    mature = scored.labels >= 0
    y = scored.labels[mature]
    summary: dict[str, Any] = {
        "decisions": len(scored.labels),
        "matured": int(mature.sum()),
        "immature": int((~mature).sum()),
        "defaults": int(y.sum()),
        "sufficient": False,
        "metrics": {},
    }
    if len(scored.labels) == 0:
        return summary
    approval_rate = float(scored.approved.mean() if scored.approved is not None else 1 - scored.refused.mean())
    stability = psi(reference_scores, scored.probabilities)
    if len(y) >= min_outcomes and 0 < y.sum() < len(y):
        figures = performance_figures(
            y=y, p=scored.probabilities[mature], refused=scored.refused[mature], cost_fn=cost_fn, cost_fp=cost_fp
        )
        summary["sufficient"] = True
        summary["metrics"] = {**figures, "approval_rate": approval_rate, "psi": stability}
    else:
        summary["metrics"] = {"approval_rate": approval_rate, "psi": stability}
    return summary


def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


# --- The report, from the database ---------------------------------------------------------


def labelled(decisions: Any, horizon: int, as_of: date) -> Any:
    """``decisions`` annotated with ``label``: 1 (defaulted within the horizon), 0 (no default
    over at least the horizon), -1 (immature), from the outcomes observed by ``as_of``.

    Computed by the database (the outcomes joined and aggregated per decision), so that a
    report reads a few numbers per decision rather than holding every decision's id and
    outcomes in memory.
    """
    from django.db.models import Case, IntegerField, Max, Q, Value, When

    seen = Q(outcomes__observed_on__lte=as_of)

    def any_outcome(condition: Q) -> Max:
        return Max(Case(When(seen & condition, then=Value(1)), default=Value(0), output_field=IntegerField()))

    return decisions.annotate(
        defaulted_within=any_outcome(Q(outcomes__defaulted=True, outcomes__horizon_months__lte=horizon)),
        clean_over=any_outcome(Q(outcomes__defaulted=False, outcomes__horizon_months__gte=horizon)),
        label=Case(
            When(defaulted_within=1, then=Value(1)),
            When(clean_over=1, then=Value(0)),
            default=Value(-1),
            output_field=IntegerField(),
        ),
    )


ROWS_PER_FETCH = 20_000


def columns(rows: Any, count: int) -> list[list[Any]]:
    """The ``count`` columns of a ``values_list`` queryset, read in chunks (a server-side cursor
    on PostgreSQL), so that only the values themselves stay in memory."""
    out: list[list[Any]] = [[] for _ in range(count)]
    appends = [column.append for column in out]
    for row in rows.iterator(chunk_size=ROWS_PER_FETCH):
        for append, value in zip(appends, row, strict=True):
            append(value)
    return out


def _reference_scores(model_version: Any) -> np.ndarray:
    from scoring.models import ModelArtifact

    reference = (
        ModelArtifact.objects.filter(model_version=model_version).values_list("reference_data", flat=True).first() or {}
    )
    columns = reference.get("columns") or []
    if "score" not in columns:
        return np.array([])
    i = columns.index("score")
    return np.array([row[i] for row in reference.get("rows", []) if row[i] is not None], dtype=float)


def _costs(model_version: Any) -> tuple[float, float]:
    from django.conf import settings

    metrics = model_version.metrics or {}
    return (
        float(metrics.get("cost_false_negative", settings.CREDIT_COST_FALSE_NEGATIVE)),
        float(metrics.get("cost_false_positive", settings.CREDIT_COST_FALSE_POSITIVE)),
    )


class ReportDayInTheFuture(ValueError):
    """A report as of a day that has not happened: it would stand as the newest report (the model
    card and a promotion's evidence show the latest first) with figures no one could have seen."""


def report_day_check(as_of: date) -> None:
    """The one rule of a report's day (performance and fairness): today (UTC) at the latest."""
    from django.utils import timezone

    today = timezone.localdate()
    if as_of > today:
        raise ReportDayInTheFuture(f"{as_of.isoformat()} has not happened yet (today is {today.isoformat()}, UTC).")


def performance_reports_compute(*, as_of: date | None = None) -> list[Any]:
    """Compute (or recompute) the report of every credit version with decisions, as of a day.

    One ``own`` report per version, and one ``shadow`` report per (challenger, champion) pair
    that shadow-scored decisions, with both versions' figures on the same matured decisions.
    """
    from django.conf import settings
    from django.db import transaction
    from django.utils import timezone

    from audit.services import audit_record
    from governance.models import PerformanceBasis
    from scoring.choices import CreditDecisionOutcome, ModelPurpose
    from scoring.models import Decision, ModelVersion

    as_of = as_of or timezone.localdate()
    report_day_check(as_of)
    end = timezone.make_aware(datetime.combine(as_of, time.max))
    horizon = settings.PERFORMANCE_HORIZON_MONTHS
    minimum = settings.PERFORMANCE_MIN_OUTCOMES
    reports = []
    decisions = Decision.objects.filter(created_at__lte=end)
    for version in ModelVersion.objects.filter(purpose=ModelPurpose.CREDIT).order_by("created_at"):
        own = labelled(decisions.filter(model_version=version), horizon, as_of)
        probabilities, predictions, outcomes, labels = columns(
            own.values_list("probability_default", "prediction", "decision", "label"), 4
        )
        if probabilities:
            scored = Scored(
                probabilities=np.array(probabilities, dtype=float),
                refused=np.array(predictions) == 1,
                labels=np.array(labels, dtype=int),
                approved=np.array(outcomes) == CreditDecisionOutcome.APPROVE,
            )
            del probabilities, predictions, outcomes, labels
            cost_fn, cost_fp = _costs(version)
            summary = summarise(
                scored,
                cost_fn=cost_fn,
                cost_fp=cost_fp,
                reference_scores=_reference_scores(version),
                min_outcomes=minimum,
            )
            reports.append(_store(version, PerformanceBasis.OWN, None, as_of, horizon, summary, {}))
        shadowed = decisions.filter(shadow_model_version=version, shadow_probability__isnull=False)
        champions = shadowed.order_by("model_version_id").values_list("model_version_id", flat=True).distinct()
        for champion_id in list(champions):
            champion = ModelVersion.objects.get(pk=champion_id)
            pair = labelled(shadowed.filter(model_version_id=champion_id), horizon, as_of).values_list(
                "shadow_probability", "shadow_prediction", "probability_default", "prediction", "label"
            )
            mine_p, mine_v, theirs_p, theirs_v, labels = columns(pair, 5)
            label_array = np.array(labels, dtype=int)
            cost_fn, cost_fp = _costs(version)
            mine = summarise(
                Scored(np.array(mine_p, dtype=float), np.array(mine_v) == 1, label_array),
                cost_fn=cost_fn,
                cost_fp=cost_fp,
                reference_scores=_reference_scores(version),
                min_outcomes=minimum,
            )
            theirs = summarise(
                Scored(np.array(theirs_p, dtype=float), np.array(theirs_v) == 1, label_array),
                cost_fn=cost_fn,  # the same costs: the comparison is of the models, not of cost settings
                cost_fp=cost_fp,
                reference_scores=_reference_scores(champion),
                min_outcomes=minimum,
            )
            reports.append(_store(version, PerformanceBasis.SHADOW, champion, as_of, horizon, mine, theirs["metrics"]))
    with transaction.atomic():
        audit_record(
            actor=None,
            action="performance.reported",
            details={"as_of": as_of.isoformat(), "reports": len(reports), "horizon_months": horizon},
        )
    return reports


def _store(
    version: Any, basis: str, champion: Any, as_of: date, horizon: int, summary: dict[str, Any], champion_metrics: dict
) -> Any:
    from governance.models import PerformanceReport

    report, _ = PerformanceReport.objects.update_or_create(
        model_version=version,
        basis=basis,
        champion=champion,
        as_of=as_of,
        defaults={
            "horizon_months": horizon,
            "decisions": summary["decisions"],
            "matured": summary["matured"],
            "immature": summary["immature"],
            "defaults": summary["defaults"],
            "sufficient": summary["sufficient"],
            "metrics": _clean(summary["metrics"]),
            "champion_metrics": _clean(champion_metrics) if summary["sufficient"] else {},
        },
    )
    return report


def performance_history_chart(reports: list[Any], key: str) -> str:
    """Chart.js data (unfold's line chart): one line per version and basis, ``key`` by report day."""
    import json

    days = sorted({r.as_of for r in reports})
    lines: dict[str, dict[date, Any]] = {}
    for r in reports:
        if not r.sufficient:
            continue
        label = r.model_version.version + (f" (shadow of {r.champion.version})" if r.champion_id else "")
        lines.setdefault(label, {})[r.as_of] = r.metrics.get(key)
        if r.champion_id:
            label = f"{r.champion.version} (on {r.model_version.version}'s shadow decisions)"
            lines.setdefault(label, {})[r.as_of] = r.champion_metrics.get(key)
    palette = ["var(--color-primary-600)", "var(--color-base-500)", "#16a34a", "#dc2626", "#9333ea", "#ea580c"]
    datasets = [
        {
            "label": label,
            "data": [None if values.get(day) is None else round(values[day], 4) for day in days],
            "borderColor": palette[i % len(palette)],
            "backgroundColor": palette[i % len(palette)],
            "pointStyle": "circle",
            "pointRadius": 3,
            "spanGaps": True,
        }
        for i, (label, values) in enumerate(sorted(lines.items()))
    ]
    return json.dumps({"labels": [day.isoformat() for day in days], "datasets": datasets})


def chart_options(aspect: float = 5) -> str:
    """Chart.js options in the dashboard's style (monitoring.dashboard), the y axis free."""
    import json

    axis: dict[str, Any] = {"ticks": {"color": "#9ca3af"}, "grid": {"display": False}}
    return json.dumps(
        {
            "aspectRatio": aspect,
            "plugins": {"legend": {"display": True, "align": "end", "labels": {"boxWidth": 10}}},
            "scales": {"x": {**axis, "ticks": {"color": "#9ca3af", "maxTicksLimit": 12}}, "y": axis},
        }
    )
