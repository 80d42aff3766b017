"""Fairness per group, checked against fairlearn computed here; the default model's hold-out figures."""

from __future__ import annotations

from io import StringIO
from typing import Any

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command
from django.utils import timezone
from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate, true_positive_rate

from governance.fairness import fairness_figures, groups_of, sensitive_features
from governance.models import FairnessReport, Outcome
from scoring.models import Decision, ModelVersion

pytestmark = pytest.mark.django_db
BANDS = [25.0, 35.0, 50.0, 65.0]


def test_the_default_schema_marks_age_sensitive_and_marital_status_proxy(credit_model: ModelVersion) -> None:
    marked = {f["name"]: f["fairness"] for f in sensitive_features(credit_model.feature_schema)}
    assert marked == {"age": "sensitive", "marital_status": "proxy"}
    # A schema that marks nothing: age, when it has one.
    assert [f["name"] for f in sensitive_features([{"name": "age", "type": "integer"}, {"name": "x"}])] == ["age"]


def test_age_bands() -> None:
    assert groups_of([18, 25, 34, 35, 64, 65, 90, None], {"type": "integer"}, BANDS) == [
        "<25", "25-34", "25-34", "35-49", "50-64", "65+", "65+", "unknown",
    ]  # fmt: skip


@pytest.fixture
def seeded(credit_model: ModelVersion) -> dict[str, Any]:
    """800 decisions with ages; the young are approved less; 600 with outcomes."""
    rng = np.random.default_rng(5)
    n = 800
    age = rng.integers(18, 80, n)
    young = age < 25
    refused = (rng.random(n) < np.where(young, 0.6, 0.3)).astype(int)
    defaulted = (rng.random(n) < np.where(refused == 1, 0.5, 0.15)).astype(int)
    decisions = [
        Decision(
            model_version=credit_model,
            features={"age": int(age[i]), "marital_status": ["married", "single"][i % 2]},
            probability_default=0.9 if refused[i] else 0.05,
            prediction=int(refused[i]),
            decision="refuse" if refused[i] else "approve",
            risk_level="HIGH" if refused[i] else "LOW",
            threshold_used=0.5,
            caller="user:0",
        )
        for i in range(n)
    ]
    Decision.objects.bulk_create(decisions)
    return {"decisions": decisions, "age": age, "refused": refused, "defaulted": defaulted}


def expected(age: np.ndarray, refused: np.ndarray, defaulted: np.ndarray | None) -> pd.DataFrame:
    groups = pd.Series(groups_of(age.tolist(), {"type": "integer"}, BANDS))
    approved = 1 - refused
    frame = MetricFrame(metrics=selection_rate, y_true=approved, y_pred=approved, sensitive_features=groups).by_group
    out = pd.DataFrame({"approval_rate": frame})
    if defaulted is not None:
        rates = MetricFrame(
            metrics={"tpr": true_positive_rate, "fpr": false_positive_rate},
            y_true=defaulted,
            y_pred=refused,
            sensitive_features=groups,
        ).by_group
        out = out.join(rates)
    return out


def test_approval_rates_before_any_outcome_match_fairlearn_and_the_young_are_flagged(
    seeded: dict[str, Any], settings: Any
) -> None:
    settings.PERFORMANCE_MIN_OUTCOMES = 100
    call_command("fairness_report", stdout=(out := StringIO()))
    report = FairnessReport.objects.get(feature="age")
    assert report.basis == "decisions" and report.rows == 800
    want = expected(seeded["age"], seeded["refused"], None)
    got = {g["group"]: g for g in report.groups}
    assert set(got) == set(want.index)
    best = want["approval_rate"].max()
    for group, row in want.iterrows():
        assert got[group]["approval_rate"] == pytest.approx(row["approval_rate"], abs=1e-12)
        assert got[group]["ratio"] == pytest.approx(row["approval_rate"] / best, abs=1e-12)
        assert "tpr" not in got[group]
    assert report.flagged and any(f.startswith("Group <25:") for f in report.findings)
    assert "DISPARITY: Group <25" in out.getvalue()
    assert FairnessReport.objects.get(feature="marital_status").kind == "proxy"


def test_with_matured_outcomes_tpr_and_fpr_match_fairlearn(seeded: dict[str, Any], settings: Any) -> None:
    settings.PERFORMANCE_MIN_OUTCOMES = 100
    today = timezone.localdate()
    Outcome.objects.bulk_create(
        Outcome(
            decision=d,
            defaulted=bool(seeded["defaulted"][i]),
            observed_on=today,
            horizon_months=12,
            source="command",
            caller="test",
            import_id="00000000-0000-4000-8000-000000000002",
        )
        for i, d in enumerate(seeded["decisions"][:600])
    )
    call_command("fairness_report", stdout=StringIO())
    report = FairnessReport.objects.get(feature="age")
    assert report.basis == "matured" and report.rows == 600
    want = expected(seeded["age"][:600], seeded["refused"][:600], seeded["defaulted"][:600])
    got = {g["group"]: g for g in report.groups}
    for group, row in want.iterrows():
        assert got[group]["approval_rate"] == pytest.approx(row["approval_rate"], abs=1e-12)
        assert got[group]["tpr"] == pytest.approx(row["tpr"], abs=1e-12)
        assert got[group]["fpr"] == pytest.approx(row["fpr"], abs=1e-12)


def test_small_groups_are_shown_but_never_flagged() -> None:
    figures = fairness_figures(
        groups=["a"] * 100 + ["b"] * 5,
        approved=np.array([1] * 100 + [0] * 5),
        min_ratio=0.8,
        max_gap=0.1,
        min_group=30,
    )
    assert [(g["group"], g["judged"]) for g in figures["groups"]] == [("a", True), ("b", False)]
    assert not figures["flagged"]


def test_the_default_models_holdout_figures(credit_model: ModelVersion) -> None:
    out = StringIO()
    call_command("fairness_report", "--holdout", credit_model.version, stdout=out)
    report = FairnessReport.objects.get(feature="age", basis="holdout")
    assert report.rows == credit_model.metrics["n_test"]
    refused = sum(g["n"] * (1 - g["approval_rate"]) for g in report.groups)
    assert refused / report.rows == pytest.approx(credit_model.metrics["refusal_rate"], abs=1e-4)
    assert all("tpr" in g for g in report.groups)
    print(out.getvalue())  # the figures docs/scoring.md quotes (pytest -s)


def test_the_admin_page_says_so_plainly(seeded: dict[str, Any], client: Any, user_with_role: Any) -> None:
    call_command("fairness_report", stdout=StringIO())
    report = FairnessReport.objects.get(feature="age")
    client.force_login(user_with_role("compliance"))
    page = client.get(f"/admin/governance/fairnessreport/{report.pk}/change/").content.decode()
    assert 'id="fairness-groups"' in page and "DISPARITY above the configured limits" in page
    assert "Group &lt;25: approval rate" in page


def test_a_referred_applicant_is_not_approved_so_a_group_referred_more_is_flagged(credit_model: ModelVersion) -> None:
    """Found by review: approval was read off the model's verdict at the threshold, so an applicant
    referred to an underwriter (in the refer band below the threshold, or for missing information)
    counted as approved: a group referred twice as often looked approved like any other.

    Recounted here from the stored decisions, as the dashboard counts them (``decision`` approve).
    """

    def decision(age: int, taken: str, prediction: int) -> Decision:
        return Decision(
            model_version=credit_model,
            features={"age": age, "marital_status": "single"},
            probability_default=0.6 if prediction else 0.2,
            prediction=prediction,
            decision=taken,
            risk_level="HIGH" if prediction else "LOW",
            threshold_used=0.5,
            caller="user:0",
        )

    young = [decision(22, "approve", 0) for _ in range(20)] + [decision(22, "refer", 0) for _ in range(20)]
    older = [decision(40, "approve", 0) for _ in range(36)] + [decision(40, "refuse", 1) for _ in range(4)]
    Decision.objects.bulk_create(young + older)
    call_command("fairness_report", stdout=StringIO())
    report = FairnessReport.objects.get(model_version=credit_model, feature="age")
    groups = {g["group"]: g for g in report.groups}
    stored = Decision.objects.filter(model_version=credit_model)
    for band, ages in (("<25", (0, 25)), ("35-49", (35, 50))):
        mine = [d for d in stored if ages[0] <= d.features["age"] < ages[1]]
        assert groups[band]["n"] == len(mine) == 40
        assert groups[band]["approval_rate"] == pytest.approx(sum(d.decision == "approve" for d in mine) / len(mine))
    assert groups["<25"]["approval_rate"] == pytest.approx(0.5)
    assert groups["<25"]["ratio"] == pytest.approx(0.5 / 0.9)
    assert report.flagged
    assert report.findings == ["Group <25: approval rate 50.0% is 56% of the most-approved group's (below 80%)."]


def test_a_referred_defaulter_is_not_counted_as_refused() -> None:
    """TPR is the share of defaulters refused: one referred is neither refused nor approved."""
    figures = fairness_figures(
        groups=["a"] * 4,
        approved=np.array([0, 0, 1, 0]),
        refused=np.array([1, 0, 0, 0]),  # the second and the fourth were referred
        defaulted=np.array([1, 1, 0, 0]),
        min_ratio=0.8,
        max_gap=0.1,
        min_group=1,
    )
    (group,) = figures["groups"]
    assert (group["approval_rate"], group["tpr"], group["fpr"]) == (0.25, 0.5, 0.0)
