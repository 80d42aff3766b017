"""Performance on matured labels, checked against scikit-learn computed here, independently."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from io import StringIO
from typing import Any

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve

from governance.models import Outcome, PerformanceReport
from governance.tasks import performance_report_monthly
from scoring.models import Decision, ModelVersion
from tests.factories import make_decision
from tests.models import TrainedModel, register_trained

pytestmark = pytest.mark.django_db
N = 600


@pytest.fixture
def seeded(credit_model: ModelVersion, trained_credit: TrainedModel) -> dict[str, Any]:
    """600 decisions by the champion, shadow-scored by a challenger; 500 with a known outcome."""
    challenger = register_trained(trained_credit, version="credit-challenger", threshold=0.5)
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, N)
    p = np.clip(0.3 * y + rng.uniform(0, 0.7, N), 0, 1)  # informative, not perfect
    q = np.clip(0.15 * y + rng.uniform(0, 0.85, N), 0, 1)  # the challenger: weaker
    decisions = []
    for i in range(N):
        refused = int(p[i] >= credit_model.threshold)
        decisions.append(
            Decision(
                model_version=credit_model,
                features={"age": 30},
                probability_default=float(p[i]),
                prediction=refused,
                decision="refuse" if refused else "approve",
                risk_level="HIGH" if refused else "LOW",
                threshold_used=credit_model.threshold,
                shadow_model_version=challenger,
                shadow_probability=float(q[i]),
                shadow_prediction=int(q[i] >= 0.5),
                caller="user:0",
            )
        )
    Decision.objects.bulk_create(decisions)
    today = timezone.localdate()
    outcomes = []
    for i, d in enumerate(decisions):
        if i < 450:  # matured at the 12-month horizon
            outcomes.append(Outcome(decision=d, defaulted=bool(y[i]), observed_on=today, horizon_months=12))
        elif i < 500 and y[i]:  # a default within 6 months is mature too
            outcomes.append(Outcome(decision=d, defaulted=True, observed_on=today, horizon_months=6))
        elif i < 500:  # no default after 6 months: not yet mature at 12
            outcomes.append(Outcome(decision=d, defaulted=False, observed_on=today, horizon_months=6))
        # the last 100: no outcome
    for o in outcomes:
        o.source, o.caller, o.import_id = "command", "test", "00000000-0000-4000-8000-000000000001"
    Outcome.objects.bulk_create(outcomes)
    mature = np.array([i < 450 or (i < 500 and y[i] == 1) for i in range(N)])
    return {"champion": credit_model, "challenger": challenger, "y": y, "p": p, "q": q, "mature": mature}


def expected(y: np.ndarray, p: np.ndarray, refused: np.ndarray) -> dict[str, Any]:
    fpr, tpr, _ = roc_curve(y, p)
    auc = roc_auc_score(y, p)
    observed, predicted = calibration_curve(y, p, n_bins=10, strategy="quantile")
    return {
        "auc": auc,
        "gini": 2 * auc - 1,
        "ks": max(tpr - fpr),
        "brier": brier_score_loss(y, p),
        "observed": observed,
        "predicted": predicted,
        "fn": int(((y == 1) & ~refused).sum()),
        "fp": int(((y == 0) & refused).sum()),
    }


def test_figures_match_scikit_learn_and_champion_and_challenger_share_the_decisions(
    seeded: dict[str, Any], settings: Any
) -> None:
    settings.PERFORMANCE_MIN_OUTCOMES = 100
    call_command("performance_report", stdout=StringIO())
    champion, challenger = seeded["champion"], seeded["challenger"]
    mature, y = seeded["mature"], seeded["y"][seeded["mature"]]
    own = PerformanceReport.objects.get(model_version=champion, basis="own")
    assert (own.decisions, own.matured, own.immature, own.defaults) == (N, mature.sum(), N - mature.sum(), y.sum())
    p = seeded["p"][mature]
    want = expected(y, p, p >= champion.threshold)
    m = own.metrics
    for key in ("auc", "gini", "ks", "brier"):
        assert m[key] == pytest.approx(want[key], abs=1e-12), key
    assert [c["observed"] for c in m["calibration"]] == pytest.approx(list(want["observed"]), abs=1e-12)
    assert [c["predicted"] for c in m["calibration"]] == pytest.approx(list(want["predicted"]), abs=1e-12)
    assert (m["false_negatives"], m["false_positives"]) == (want["fn"], want["fp"])
    cost_fn, cost_fp = champion.metrics["cost_false_negative"], champion.metrics["cost_false_positive"]
    assert m["business_cost"] == pytest.approx(cost_fn * want["fn"] + cost_fp * want["fp"])
    assert m["approval_rate"] == pytest.approx(float(np.mean(seeded["p"] < champion.threshold)))
    assert m["psi"] is not None and m["psi"] > 0

    shadow = PerformanceReport.objects.get(model_version=challenger, basis="shadow", champion=champion)
    assert shadow.matured == own.matured  # the same decisions
    q = seeded["q"][mature]
    want_q = expected(y, q, q >= 0.5)
    assert shadow.metrics["auc"] == pytest.approx(want_q["auc"], abs=1e-12)
    assert shadow.metrics["brier"] == pytest.approx(want_q["brier"], abs=1e-12)
    assert shadow.metrics["false_negatives"] == want_q["fn"]
    assert shadow.champion_metrics["auc"] == pytest.approx(want["auc"], abs=1e-12)
    assert shadow.champion_metrics["auc"] > shadow.metrics["auc"]  # the seeded challenger is weaker


def test_too_few_matured_outcomes_say_nothing(seeded: dict[str, Any], settings: Any) -> None:
    settings.PERFORMANCE_MIN_OUTCOMES = 10_000
    out = StringIO()
    call_command("performance_report", stdout=out)
    own = PerformanceReport.objects.get(model_version=seeded["champion"], basis="own")
    assert not own.sufficient and "auc" not in own.metrics
    assert own.immature == N - seeded["mature"].sum()
    assert "too few matured outcomes for figures" in out.getvalue()


def test_outcomes_observed_after_the_day_do_not_count(seeded: dict[str, Any], settings: Any) -> None:
    settings.PERFORMANCE_MIN_OUTCOMES = 100
    Decision.objects.update(created_at=timezone.now() - timedelta(days=400))
    call_command("performance_report", "--as-of", str(timezone.localdate() - timedelta(days=1)), stdout=StringIO())
    own = PerformanceReport.objects.get(model_version=seeded["champion"], basis="own")
    assert own.decisions == N
    assert own.matured == 0 and own.immature == N and not own.sufficient  # every outcome was observed today


def test_the_monthly_job_is_scheduled_and_runs(seeded: dict[str, Any], settings: Any) -> None:
    settings.PERFORMANCE_MIN_OUTCOMES = 100
    task = PeriodicTask.objects.get(task="governance.tasks.performance_report_monthly")
    assert task.crontab.day_of_month == "1" and task.enabled
    yesterday = timezone.localdate() - timedelta(days=1)  # the job reports the last whole day
    Decision.objects.update(created_at=timezone.now() - timedelta(days=2))
    Outcome.objects.update(observed_on=yesterday)
    result = performance_report_monthly.delay().get()
    assert result["reports"] == 2 and result["sufficient"] == 2
    assert set(PerformanceReport.objects.values_list("as_of", flat=True)) == {yesterday}


def test_the_monthly_job_reports_the_month_just_ended_without_the_first_hours_of_the_next(
    credit_model: ModelVersion, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by review: run at 04:00 UTC on the 1st, the job reported "as of the 1st", counting the
    decisions of the new month's first four hours in the report of the month just ended, and a
    recount of the 1st (or a rerun later that day) said otherwise."""
    from governance.models import FairnessReport

    first = datetime(2026, 12, 1, tzinfo=UTC)
    november = [make_decision(credit_model) for _ in range(3)]
    december = [make_decision(credit_model) for _ in range(2)]
    Decision.objects.filter(pk__in=[d.pk for d in november]).update(created_at=first - timedelta(minutes=30))
    Decision.objects.filter(pk__in=[d.pk for d in december]).update(created_at=first + timedelta(minutes=30))
    monkeypatch.setattr(timezone, "now", lambda: first + timedelta(hours=4))  # the schedule: the 1st, 04:00 UTC
    performance_report_monthly()
    report = PerformanceReport.objects.get(model_version=credit_model, basis="own")
    recount = Decision.objects.filter(model_version=credit_model, created_at__lt=first).count()
    assert report.as_of == date(2026, 11, 30)
    assert report.decisions == recount == 3
    fairness = FairnessReport.objects.get(model_version=credit_model, feature="age")
    assert (fairness.as_of, fairness.rows) == (date(2026, 11, 30), 3)


def test_the_admin_shows_the_history_chart_and_both_versions_side_by_side(
    seeded: dict[str, Any], settings: Any, client: Any, user_with_role: Any
) -> None:
    settings.PERFORMANCE_MIN_OUTCOMES = 100
    call_command("performance_report", stdout=StringIO())
    client.force_login(user_with_role("viewer"))
    page = client.get("/admin/governance/performancereport/").content.decode()
    assert 'id="performance-history"' in page and "credit-challenger (shadow of" in page
    shadow = PerformanceReport.objects.get(basis="shadow")
    page = client.get(f"/admin/governance/performancereport/{shadow.pk}/change/").content.decode()
    assert 'id="performance-figures"' in page and 'id="calibration"' in page
    assert f"{seeded['champion'].version} (champion, same decisions)" in page


def test_a_decision_label_comes_from_all_its_outcomes_seen_by_the_day(credit_model: ModelVersion) -> None:
    from governance.performance import labelled

    today = timezone.localdate()
    histories = {
        "default within the horizon": ([(True, 6, 0)], 1),
        "no default over the horizon": ([(False, 12, 0)], 0),
        "no default over less than the horizon": ([(False, 6, 0)], -1),
        "default after the horizon": ([(True, 18, 0)], -1),
        "a default beats an earlier clean year": ([(False, 12, 0), (True, 9, 0)], 1),
        "an outcome observed after the day does not count": ([(False, 6, 0), (True, 3, -1)], -1),
        "no outcome": ([], -1),
    }
    ids = {}
    for name, (outcomes, _) in histories.items():
        decision = make_decision(credit_model)
        ids[decision.pk] = name
        for defaulted, months, days_late in outcomes:
            Outcome.objects.create(
                decision=decision,
                defaulted=defaulted,
                horizon_months=months,
                observed_on=today - timedelta(days=days_late),
                source="command",
                caller="test",
                import_id="00000000-0000-4000-8000-000000000002",
            )
    rows = labelled(Decision.objects.filter(pk__in=ids), 12, today).values_list("pk", "label")
    assert {ids[pk]: label for pk, label in rows} == {name: label for name, (_, label) in histories.items()}


def test_the_approval_rate_counts_referred_decisions_as_not_approved_as_the_dashboard_does(
    credit_model: ModelVersion,
) -> None:
    """Found by review: the report's approval rate was the share of verdicts below the threshold, so
    decisions referred to an underwriter (below the threshold in the band, or for missing
    information) counted as approved, and the report said 70% where the dashboard said 40%.
    """
    from monitoring.selectors import today_figures

    taken = [("approve", 0)] * 4 + [("refer", 0)] * 3 + [("refer", 1)] + [("refuse", 1)] * 2
    Decision.objects.bulk_create(
        [
            Decision(
                model_version=credit_model,
                features={"age": 30},
                probability_default=0.4 if prediction else 0.1,
                prediction=prediction,
                decision=decision,
                risk_level="HIGH" if prediction else "LOW",
                threshold_used=credit_model.threshold,
                caller="user:0",
            )
            for decision, prediction in taken
        ]
    )
    call_command("performance_report", stdout=StringIO())
    own = PerformanceReport.objects.get(model_version=credit_model, basis="own")
    stored = Decision.objects.filter(model_version=credit_model)
    recount = stored.filter(decision="approve").count() / stored.count()
    assert own.decisions == 10 and recount == 0.4
    assert own.metrics["approval_rate"] == pytest.approx(recount)
    assert today_figures(now=timezone.now())["approval_rate"] == pytest.approx(own.metrics["approval_rate"])


@pytest.mark.parametrize("command", ["performance_report", "fairness_report"])
def test_a_report_on_a_day_that_has_not_happened_is_refused(seeded: dict[str, Any], command: str) -> None:
    """It would stand as the newest report for ever (the model card, a promotion's evidence show the
    latest first), with figures "as of" a day no outcome could have been seen on."""
    from governance.models import FairnessReport

    tomorrow = timezone.localdate() + timedelta(days=2)
    with pytest.raises(CommandError, match="has not happened yet"):
        call_command(command, "--as-of", str(tomorrow), stdout=StringIO())
    with pytest.raises(CommandError, match="has not happened yet"):
        call_command(command, "--as-of", "9999-12-31", stdout=StringIO())
    assert not PerformanceReport.objects.exists() and not FairnessReport.objects.exists()
    call_command(command, "--as-of", str(timezone.localdate()), stdout=StringIO())  # today so far: fine
