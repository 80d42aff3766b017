"""The admin's front page: key figures and charts for viewers and up, aggregated in SQL."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from monitoring.models import ApiCall
from monitoring.selectors import _percentile, api_latency_and_errors, score_distribution
from scoring.models import Decision, ModelVersion
from tests.factories import FraudAlertFactory
from tests.models import TrainedModel
from tests.monitoring.decisions import store_day

pytestmark = pytest.mark.django_db


def charts(html: str) -> dict[str, dict[str, object]]:
    """{chart id: its Chart.js data} as the page hands them to Chart.js."""
    import html as html_module

    found = {}
    for chart_id, value in re.findall(r'<div id="(chart-[a-z-]+)".*?data-value="([^"]*)"', html, re.S):
        found[chart_id] = json.loads(html_module.unescape(value))
    return found


def calls(latencies: list[float], *, status: int = 200, at: datetime | None = None) -> None:
    ApiCall.objects.bulk_create(
        ApiCall(request_id="r", method="POST", endpoint="/api/v1/score", status_code=status, latency_ms=ms)
        for ms in latencies
    )
    if at is not None:
        ApiCall.objects.update(created_at=at)


def test_a_viewer_sees_today_s_figures_and_every_chart_with_data(
    credit_model: ModelVersion, trained_credit: TrainedModel, client_as: Callable[[str | None], APIClient]
) -> None:
    today = timezone.now().date()
    decisions = store_day(trained_credit, credit_model, today, rows=240)
    Decision.objects.update(created_at=timezone.now() - timedelta(minutes=5))
    calls([5.0] * 90 + [40.0] * 10)
    FraudAlertFactory()
    page = client_as("viewer").get("/admin/")
    assert page.status_code == 200
    html = page.content.decode()
    assert re.search(r'id="kf-decisions">\s*240\s*<', html)
    approved = sum(d.decision == "approve" for d in decisions)
    assert f"{round(100 * approved / 240)} %" in html
    assert re.search(r'id="kf-alerts">\s*1\s*<', html)
    found = charts(html)
    assert set(found) == {
        "chart-decisions",
        "chart-approval",
        "chart-scores",
        "chart-latency",
        "chart-errors",
        "chart-fraud-alerts",
        "chart-drift",
    }
    assert sum(found["chart-decisions"]["datasets"][0]["data"]) == 240
    assert sum(found["chart-scores"]["datasets"][0]["data"]) == 240
    assert "cdn" not in html and "https://" not in html.replace("https://www.w3.org", "")


def test_a_purpose_s_drift_alert_is_not_hidden_by_another_purpose_s_later_report(
    credit_model: ModelVersion, client_as: Callable[[str | None], APIClient]
) -> None:
    """The nightly job reports each purpose in its own task: the credit alert must still show (card
    and sidebar badge) when the fraud report of the same day is written after it, calm."""
    from django.core.cache import cache

    from monitoring.models import DriftReport

    day = timezone.now().date() - timedelta(days=1)
    common = {"day": day, "model_version": credit_model, "alert_threshold": 0.3, "tested_features": 10}
    credit = DriftReport.objects.create(purpose="credit", status="drift", drift_share=0.5, alert=True, **common)
    fraud = DriftReport.objects.create(purpose="fraud", status="ok", drift_share=0.0, alert=False, **common)
    cache.clear()  # the sidebar's badges are shared for half a minute
    html = client_as("viewer").get("/admin/").content.decode()
    card = html.index('id="kf-drift"')
    credit_link = html.index(f"/admin/monitoring/driftreport/{credit.pk}/change/", card)
    fraud_link = html.index(f"/admin/monitoring/driftreport/{fraud.pk}/change/", card)
    assert re.search(r">\s*Drift\s*<", html[card:credit_link]) and "credit" in html[card:credit_link]
    assert "50 % of features drifted" in html[card:credit_link]
    assert re.search(r">\s*No drift\s*<", html[credit_link:fraud_link]) and "fraud" in html[credit_link:fraud_link]
    from creditplatform.admin_navigation import _badges

    assert _badges()["monitoring.driftreport"] == ("drift", "danger")


def test_compliance_officers_get_the_app_index_not_the_dashboard(
    client_as: Callable[[str | None], APIClient],
) -> None:
    html = client_as("compliance").get("/admin/").content.decode()
    assert 'id="dashboard"' not in html
    assert "/admin/scoring/decision/" in html


def test_the_date_range_filters_the_charts(
    credit_model: ModelVersion, trained_credit: TrainedModel, client_as: Callable[[str | None], APIClient]
) -> None:
    day = timezone.now().date() - timedelta(days=20)
    store_day(trained_credit, credit_model, day, rows=120)
    viewer = client_as("viewer")
    default = charts(viewer.get("/admin/").content.decode())
    assert sum(default["chart-decisions"]["datasets"][0]["data"]) == 0  # the last 7 days
    ranged = charts(viewer.get(f"/admin/?start={day - timedelta(days=10)}&end={day}").content.decode())
    daily = ranged["chart-decisions"]
    assert sum(daily["datasets"][0]["data"]) == 120
    assert len(daily["labels"]) == 11  # more than a week: one bar per day


def test_a_bad_range_is_explained_and_the_default_shown(client_as: Callable[[str | None], APIClient]) -> None:
    html = client_as("viewer").get("/admin/?start=2026-01-01&end=2026-12-31").content.decode()
    assert 'id="period-errors"' in html and "At most 92 days" in html
    assert 'id="dashboard"' in html


def test_a_range_in_the_future_is_explained_not_a_server_error(client_as: Callable[[str | None], APIClient]) -> None:
    """The last day possible (9999-12-31) has no next day to end the range at: it was a 500."""
    viewer = client_as("viewer")
    for query in ("start=9999-12-25&end=9999-12-31", "start=2026-01-01&end=9999-12-31"):
        response = viewer.get(f"/admin/?{query}")
        assert response.status_code == 200
        html = response.content.decode()
        assert 'id="period-errors"' in html and "The last day is in the future." in html
        assert 'id="dashboard"' in html
    tomorrow = (timezone.now() + timedelta(days=1)).date()  # today somewhere east of UTC
    html = viewer.get(f"/admin/?start={tomorrow - timedelta(days=2)}&end={tomorrow}").content.decode()
    assert 'id="period-errors"' not in html


def test_latency_percentiles_from_the_sql_histogram_are_within_five_percent() -> None:
    at = datetime(2026, 11, 2, 10, tzinfo=UTC)
    latencies = [1.0 + i * 0.37 for i in range(1000)]  # 1 ms .. 370 ms, evenly
    calls(latencies, at=at)
    [row] = api_latency_and_errors(start=at, end=at + timedelta(hours=1), period="hour")
    exact = sorted(latencies)
    for q in (50, 95, 99):
        assert row[f"p{q}"] == pytest.approx(exact[int(q / 100 * 1000) - 1], rel=0.05)
    assert row["calls"] == 1000


def test_error_rates_count_client_and_server_errors_apart() -> None:
    at = datetime(2026, 11, 2, 10, tzinfo=UTC)
    calls([3.0] * 8, at=at)
    calls([3.0], status=400)
    calls([3.0], status=503)
    ApiCall.objects.update(created_at=at)
    [row] = api_latency_and_errors(start=at, end=at + timedelta(hours=1), period="hour")
    assert (row["calls"], row["client_errors"], row["server_errors"]) == (10, 1, 1)


def test_the_score_distribution_puts_every_decision_in_one_band(
    credit_model: ModelVersion, trained_credit: TrainedModel
) -> None:
    day = datetime(2026, 11, 2, tzinfo=UTC)
    decisions = store_day(trained_credit, credit_model, day.date(), rows=200)
    bins = score_distribution(start=day, end=day + timedelta(days=1))
    assert sum(bins) == 200
    assert bins[int(decisions[0].probability_default * 20)] > 0


def test_an_empty_histogram_has_no_percentile() -> None:
    assert _percentile({}, 0.95) is None
