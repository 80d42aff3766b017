"""Fairness per group of applicants, with fairlearn: approval rates and, once outcomes exist, TPR/FPR.

Groups come from the features a version's schema marks ``sensitive`` or ``proxy``
(``scoring.ml.schema.Feature.fairness``); a schema that marks none is read as marking
``age`` sensitive, when it has one. Age (and any numeric feature) is cut in bands
(``FAIRNESS_AGE_BANDS``); categories are their own groups; a missing value is the group
``unknown``.

Per group: the approval rate and its ratio to the most-approved group (below
``FAIRNESS_MIN_RATIO``: flagged, the "four-fifths" rule); with outcomes, the true-positive
rate (defaulters refused) and the false-positive rate (good payers refused), whose largest
gap between groups above ``FAIRNESS_MAX_RATE_GAP`` is flagged. Groups smaller than
``FAIRNESS_MIN_GROUP_SIZE`` are shown and never flagged (too few to judge).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate, true_positive_rate

UNKNOWN = "unknown"


def sensitive_features(schema: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The features of a schema (list of dicts) that define groups."""
    marked = [f for f in schema if f.get("fairness") in ("sensitive", "proxy")]
    if marked:
        return marked
    return [{**f, "fairness": "sensitive"} for f in schema if f.get("name") == "age"]


def band_labels(edges: Sequence[float]) -> list[str]:
    edges = [int(e) if float(e).is_integer() else e for e in edges]
    labels = [f"<{edges[0]}"]
    labels += [
        f"{a}-{b - 1}" if isinstance(a, int) and isinstance(b, int) else f"{a}-{b}"
        for a, b in zip(edges, edges[1:], strict=False)
    ]
    labels.append(f"{edges[-1]}+")
    return labels


def groups_of(values: Sequence[Any], feature: dict[str, Any], edges: Sequence[float]) -> list[str]:
    """Each value's group: its band (numbers) or its category; ``unknown`` when missing."""
    if feature.get("type") == "categorical":
        return [UNKNOWN if v is None else str(v) for v in values]
    labels = band_labels(edges)
    out = []
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(UNKNOWN)
        else:
            out.append(labels[int(np.searchsorted(np.asarray(edges, dtype=float), float(v), side="right"))])
    return out


def _rate(value: Any) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


def fairness_figures(
    *,
    groups: Sequence[str],
    approved: np.ndarray,
    defaulted: np.ndarray | None = None,
    refused: np.ndarray | None = None,
    min_ratio: float,
    max_gap: float,
    min_group: int,
) -> dict[str, Any]:
    """Per group: n, approval rate, ratio to the most-approved group, and TPR/FPR with outcomes.

    ``approved``: 1 approved, 0 not. ``refused``: 1 refused, 0 not (None: every decision not
    approved; a referred decision is neither). ``defaulted``: the observed outcome (1 default),
    or None before any outcome. TPR/FPR are of the adverse decision (refusal) against default.
    """
    groups_arr = pd.Series(list(groups), name="group")
    approved = np.asarray(approved, dtype=int)
    by_approval = MetricFrame(
        metrics={"approval_rate": selection_rate, "n": lambda y_true, y_pred: len(y_pred)},
        y_true=approved,
        y_pred=approved,
        sensitive_features=groups_arr,
    ).by_group
    rates = None
    if defaulted is not None:
        rates = MetricFrame(
            metrics={"tpr": true_positive_rate, "fpr": false_positive_rate},
            y_true=np.asarray(defaulted, dtype=int),
            y_pred=1 - approved if refused is None else np.asarray(refused, dtype=int),
            sensitive_features=groups_arr,
        ).by_group
    judged = [g for g in by_approval.index if g != UNKNOWN and by_approval.loc[g, "n"] >= min_group]
    best = max((float(by_approval.loc[g, "approval_rate"]) for g in judged), default=None)
    rows, findings = [], []
    for g in sorted(by_approval.index, key=_group_order):
        n = int(by_approval.loc[g, "n"])
        rate = float(by_approval.loc[g, "approval_rate"])
        ratio = (rate / best) if best else None
        row: dict[str, Any] = {"group": str(g), "n": n, "approval_rate": rate, "ratio": ratio, "judged": g in judged}
        if rates is not None:
            row["tpr"], row["fpr"] = _rate(rates.loc[g, "tpr"]), _rate(rates.loc[g, "fpr"])
        if g in judged and ratio is not None and ratio < min_ratio:
            findings.append(
                f"Group {g}: approval rate {rate:.1%} is {ratio:.0%} of the most-approved group's "
                f"(below {min_ratio:.0%})."
            )
        rows.append(row)
    if rates is not None:
        for key, label in (("tpr", "true-positive rate"), ("fpr", "false-positive rate")):
            values = [r[key] for r in rows if r["judged"] and r.get(key) is not None]
            if len(values) >= 2 and max(values) - min(values) > max_gap:
                findings.append(
                    f"The {label} differs by {max(values) - min(values):.1%} between groups (above {max_gap:.0%})."
                )
    return {"groups": rows, "flagged": bool(findings), "findings": findings}


def _group_order(label: str) -> tuple[int, float, str]:
    if label == UNKNOWN:
        return (2, 0.0, label)
    digits = "".join(ch if ch.isdigit() or ch == "." else " " for ch in label).split()
    if label.startswith("<"):
        return (0, -math.inf, label)
    return (0, float(digits[0]), label) if digits else (1, 0.0, label)


# --- Reports, from the database ------------------------------------------------------------


def _settings() -> dict[str, Any]:
    from django.conf import settings

    return {
        "min_ratio": settings.FAIRNESS_MIN_RATIO,
        "max_gap": settings.FAIRNESS_MAX_RATE_GAP,
        "min_group": settings.FAIRNESS_MIN_GROUP_SIZE,
        "bands": list(settings.FAIRNESS_AGE_BANDS),
    }


def _edges(feature: dict[str, Any], values: Sequence[Any], bands: Sequence[float]) -> list[float]:
    if feature["name"] == "age" or feature.get("type") == "categorical" or not values:
        return list(bands)
    present = np.array([float(v) for v in values if v is not None], dtype=float)
    return sorted({float(q) for q in np.quantile(present, [0.25, 0.5, 0.75])}) if len(present) else list(bands)


def _figures(
    feature: dict[str, Any],
    values: Sequence[Any],
    approved: np.ndarray,
    defaulted: np.ndarray | None,
    cfg: dict,
    refused: np.ndarray | None = None,
) -> dict[str, Any]:
    groups = groups_of(values, feature, _edges(feature, values, cfg["bands"]))
    return fairness_figures(
        groups=groups,
        approved=approved,
        defaulted=defaulted,
        refused=refused,
        min_ratio=cfg["min_ratio"],
        max_gap=cfg["max_gap"],
        min_group=cfg["min_group"],
    )


def _store(version: Any, as_of: Any, basis: str, feature: dict[str, Any], rows: int, figures: dict, cfg: dict) -> Any:
    from governance.models import FairnessReport

    report, _ = FairnessReport.objects.update_or_create(
        model_version=version,
        as_of=as_of,
        basis=basis,
        feature=feature["name"],
        defaults={
            "kind": feature.get("fairness", "sensitive"),
            "rows": rows,
            "groups": figures["groups"],
            "flagged": figures["flagged"],
            "findings": figures["findings"],
            "settings_used": cfg,
        },
    )
    return report


def fairness_reports_compute(*, as_of: Any = None) -> list[Any]:
    """Every credit version's fairness per sensitive or proxy feature: on matured decisions
    once at least ``PERFORMANCE_MIN_OUTCOMES`` matured, before that on all its decisions."""
    from datetime import datetime, time

    from django.conf import settings
    from django.db.models.fields.json import KeyTransform
    from django.utils import timezone

    from governance.models import FairnessBasis
    from governance.performance import columns, labelled, report_day_check
    from scoring.choices import CreditDecisionOutcome, ModelPurpose
    from scoring.models import Decision, ModelVersion

    as_of = as_of or timezone.localdate()
    report_day_check(as_of)
    end = timezone.make_aware(datetime.combine(as_of, time.max))
    cfg = _settings()
    reports = []
    for version in ModelVersion.objects.filter(purpose=ModelPurpose.CREDIT).order_by("created_at"):
        features = sensitive_features(version.feature_schema)
        if not features:
            continue
        decisions = labelled(
            Decision.objects.filter(model_version=version, created_at__lte=end),
            settings.PERFORMANCE_HORIZON_MONTHS,
            as_of,
        )
        # Only the sensitive and proxy features are read out of each decision's inputs.
        keys = {f"fairness_{i}": KeyTransform(feature["name"], "features") for i, feature in enumerate(features)}
        # The decision taken: a referred applicant is neither approved nor refused (the dashboard's count).
        outcomes, labels, *values = columns(
            decisions.annotate(**keys).values_list("decision", "label", *keys), 2 + len(features)
        )
        if not outcomes:
            continue
        taken = np.array(outcomes)
        approved_all = (taken == CreditDecisionOutcome.APPROVE).astype(int)
        refused_all = (taken == CreditDecisionOutcome.REFUSE).astype(int)
        label_array = np.array(labels, dtype=int)
        mature = label_array >= 0
        matured = int(mature.sum())
        defaulted: np.ndarray | None = None
        if matured >= settings.PERFORMANCE_MIN_OUTCOMES:
            basis, rows, approved, defaulted = FairnessBasis.MATURED, matured, approved_all[mature], label_array[mature]
            refused = refused_all[mature]
            kept = np.flatnonzero(mature)
            values = [[column[i] for i in kept] for column in values]
        else:
            basis, rows, approved, refused = FairnessBasis.DECISIONS, len(outcomes), approved_all, refused_all
        del outcomes, labels, taken
        for feature, column in zip(features, values, strict=True):
            figures = _figures(feature, column, approved, defaulted, cfg, refused)
            reports.append(_store(version, as_of, basis, feature, rows, figures, cfg))
    return reports


def fairness_holdout(*, model_version: Any, test_size: float = 0.25) -> list[Any]:
    """The fairness of a version trained on the default data set, on its training hold-out set.

    The split is the one ``train_binary`` made (same seed, same size, stratified); the
    version's own file scores it. Raises ``ValueError`` for a version trained on another set.
    """
    from django.utils import timezone
    from sklearn.model_selection import train_test_split

    from governance.models import FairnessBasis
    from scoring.ml.datasets import CREDIT_DATA, credit_data
    from scoring.ml.model import load_booster
    from scoring.ml.schema import FeatureSchema

    if model_version.dataset != CREDIT_DATA or "seed" not in (model_version.metrics or {}):
        raise ValueError(f"{model_version.version} was not trained on {CREDIT_DATA} by train_credit_model")
    data = credit_data()
    y = np.asarray(data.target, dtype=int)
    _, test_idx = train_test_split(
        np.arange(len(y)), test_size=test_size, stratify=y, random_state=model_version.metrics["seed"]
    )
    content = bytes(model_version.artifact_file.content)
    schema = FeatureSchema.from_list(model_version.feature_schema)
    booster = load_booster(content, schema, expected_sha256=model_version.sha256)
    scores = booster.predict(data.encoded()[test_idx], num_threads=1)
    approved = (scores < model_version.threshold).astype(int)
    frame = data.frame.iloc[test_idx]
    cfg = _settings()
    reports = []
    for feature in sensitive_features(model_version.feature_schema):
        values = [None if pd.isna(v) else v for v in frame[feature["name"]].tolist()]
        figures = _figures(feature, values, approved, y[test_idx], cfg)
        reports.append(
            _store(model_version, timezone.localdate(), FairnessBasis.HOLDOUT, feature, len(test_idx), figures, cfg)
        )
    return reports
