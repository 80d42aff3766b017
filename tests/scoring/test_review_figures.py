"""The review loop on the admin dashboard: referral rate, overrides by direction, time to decision, cases waiting."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from scoring.models import Decision, ModelVersion, ReviewCase
from scoring.review.selectors import duration, review_figures
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def decision(model: ModelVersion, outcome: str, *, final: str | None = None, waited: timedelta | None = None) -> Any:
    now = timezone.now()
    row = Decision.objects.create(
        model_version=model,
        features={"age": 35},
        probability_default=0.5 if outcome != "approve" else 0.05,
        prediction=0 if outcome == "approve" else 1,
        decision=outcome,
        risk_level="HIGH",
        threshold_used=0.1,
        caller="user:0",
    )
    created = now - timedelta(hours=1)
    changes: dict[str, Any] = {"created_at": created}
    if final is not None:
        changes.update(final_decision=final, decided_by=UserFactory(), decided_at=created + (waited or timedelta(0)))
        if outcome == "refer":  # its referral case, closed when the underwriter decided
            ReviewCase.objects.create(
                decision=row, status="closed", final_decision=final, closed_at=changes["decided_at"]
            )
    Decision.objects.filter(pk=row.pk).update(**changes)
    return row


@pytest.fixture
def period(credit_model: ModelVersion) -> dict[str, Any]:
    for _ in range(5):
        decision(credit_model, "approve")
    decision(credit_model, "approve", final="refuse", waited=timedelta(minutes=5))
    for _ in range(3):
        decision(credit_model, "refuse")
    decision(credit_model, "refuse", final="approve", waited=timedelta(minutes=30))
    decision(credit_model, "refer", final="approve", waited=timedelta(minutes=10))
    decision(credit_model, "refer", final="refuse", waited=timedelta(minutes=40))
    waiting = decision(credit_model, "refer")
    ReviewCase.objects.create(decision=waiting)
    now = timezone.now()
    return review_figures(start=now - timedelta(days=1), end=now + timedelta(seconds=1), now=now)


def test_the_figures_count_referrals_overrides_by_direction_and_waits(period: dict[str, Any]) -> None:
    assert period["decisions"] == 13
    assert period["referral_rate"] == pytest.approx(3 / 13)
    assert period["override_approve_to_refuse"] == pytest.approx(1 / 6)
    assert period["override_refuse_to_approve"] == pytest.approx(1 / 4)
    assert period["decided_referrals"] == 2
    assert period["time_to_decision_median"] == timedelta(minutes=40)  # of 10 and 40 min: the upper one
    assert period["cases_waiting"] == 1 and period["cases_awaiting_approval"] == 0
    assert duration(timedelta(hours=2, minutes=5)) == "2 h 05 min"
    assert duration(timedelta(days=3, hours=4)) == "3 d 4 h"


def test_the_dashboard_shows_them(period: dict[str, Any], client_as: Callable[[str | None], APIClient]) -> None:
    html = client_as("viewer").get("/admin/").content.decode()
    assert re.search(r'id="kf-referral">\s*23\.1%\s*<', html)
    assert "refusal → approval: <strong>25.0%</strong>" in html
    assert "approval → refusal: <strong>16.7%</strong>" in html
    assert re.search(r'id="kf-time-to-decision">\s*40 min\s*<', html)
    assert re.search(r'id="kf-cases-waiting">\s*1\s*<', html)


def test_a_later_contest_does_not_stretch_the_referrals_time_to_decision(credit_model: ModelVersion) -> None:
    """Time to decision is the referral's, creation to its first final decision (docs/monitoring.md): a
    contest (or an override) decided weeks later moves the decision's ``decided_at``, not that wait."""
    referred = decision(credit_model, "refer", final="refuse", waited=timedelta(minutes=10))
    contested = ReviewCase.objects.create(decision=referred, origin="contest")
    later = referred.created_at + timedelta(days=30)
    ReviewCase.objects.filter(pk=contested.pk).update(status="closed", final_decision="approve", closed_at=later)
    Decision.objects.filter(pk=referred.pk).update(final_decision="approve", decided_at=later)
    now = timezone.now()
    figures = review_figures(start=now - timedelta(days=1), end=now + timedelta(seconds=1), now=now)
    assert figures["decided_referrals"] == 1
    assert figures["time_to_decision_median"] == timedelta(minutes=10)
    assert figures["time_to_decision_p90"] == timedelta(minutes=10)
