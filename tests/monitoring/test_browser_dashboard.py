"""The dashboard in a real browser: a viewer logs in through the provider and every chart is drawn with data."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from django.utils import timezone

from monitoring.models import ApiCall
from monitoring.services import drift_report_generate
from scoring.models import Decision
from tests.browser import ARTIFACTS, login
from tests.factories import FraudAlertFactory, FraudCheckFactory
from tests.models import TrainedModel, register_trained
from tests.monitoring.decisions import shifted_population, store_day

pytestmark = [pytest.mark.browser, pytest.mark.oidc, pytest.mark.django_db(transaction=True)]

CHARTS = ["decisions", "approval", "scores", "latency", "errors", "fraud-alerts", "drift"]


def test_a_viewer_opens_the_dashboard_and_every_chart_has_data(
    site: str, chromium: Any, trained_credit: TrainedModel
) -> None:
    champion = register_trained(trained_credit, version="credit-dashboard", status="champion")
    now = timezone.now()
    yesterday = now.date() - timedelta(days=1)
    store_day(trained_credit, champion, yesterday, rows=300, shift=shifted_population)
    drift_report_generate(purpose="credit", day=yesterday)
    store_day(trained_credit, champion, now.date(), rows=200, seed=5)
    # Today's decisions spread over the whole day: those still to come move to earlier today
    # (half an hour ago, or midnight when the test runs in the day's first half hour).
    earlier = max(now - timedelta(minutes=30), datetime.combine(now.date(), time.min, tzinfo=UTC))
    Decision.objects.filter(created_at__gt=now).update(created_at=earlier)
    ApiCall.objects.bulk_create(
        ApiCall(request_id=f"r{i}", method="POST", endpoint="/api/v1/score", status_code=200 if i % 25 else 400,
                latency_ms=3 + (i % 40))
        for i in range(400)
    )  # fmt: skip
    FraudAlertFactory(fraud_check=FraudCheckFactory(decision="review"))
    FraudAlertFactory(fraud_check=FraudCheckFactory(decision="block"))

    page = login(chromium, site, "viewer")  # lands on /admin/: the dashboard
    page.wait_for_function("() => window.Chart && document.querySelectorAll('canvas.chart').length === 7")
    drawn = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('[id^=chart-]')].map(box => {
            const chart = Chart.getChart(box.querySelector('canvas'));
            const points = chart ? chart.data.datasets.flatMap(d => d.data).filter(v => v !== null && v > 0) : [];
            return [box.id, points.length];
        }))"""
    )
    assert drawn == {f"chart-{name}": drawn[f"chart-{name}"] for name in CHARTS}
    assert all(count > 0 for count in drawn.values()), drawn
    assert page.locator("#kf-decisions").inner_text().strip() == "200"
    assert page.locator("#kf-drift").inner_text().lower().startswith("drift")
    page.screenshot(path=str(ARTIFACTS / "dashboard-viewer.png"), full_page=True)

    page.goto(f"{site}/admin/monitoring/driftreport/")  # the history, with its chart and the alert badge
    page.wait_for_function("() => Chart.getChart(document.querySelector('#drift-history canvas')) !== undefined")
    assert "drift" in page.locator("#result_list").inner_text().lower()
    page.screenshot(path=str(ARTIFACTS / "drift-reports-viewer.png"), full_page=True)
    decision = Decision.objects.filter(created_at__date=now.date()).first()
    page.goto(f"{site}/admin/scoring/decision/{decision.pk}/change/")  # probabilities in per cent, tables
    assert "%" in page.content() and page.locator("#decision-inputs").count() == 1
    page.screenshot(path=str(ARTIFACTS / "decision-viewer.png"), full_page=True)
    page.context.close()
