"""The review loop's admin lists cost the same number of queries whatever the number of rows (no query per row)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from scoring.models import DecisionWebhook, ModelVersion, ReviewCase, WebhookDelivery
from scoring.review.services import review_case_take
from tests.factories import UserFactory, make_decision

pytestmark = pytest.mark.django_db

LISTS = ["/admin/scoring/reviewcase/", "/admin/scoring/webhookdelivery/", "/admin/scoring/decisionwebhook/"]


def add_rows(model: ModelVersion, n: int, start: int) -> None:
    """``n`` referrals, each taken by an analyst of its own, with a webhook and a delivery of its own."""
    for i in range(start, start + n):
        decision = make_decision(model, decision="refer")
        review_case_take(
            case=ReviewCase.objects.create(decision=decision), user=UserFactory(username=f"u{i}", roles=["analyst"])
        )
        hook = DecisionWebhook.objects.create(caller=f"apikey:{i:08d}", url=f"https://h{i}.example/", secret="s")
        WebhookDelivery.objects.create(webhook=hook, decision=decision, payload={})


@pytest.mark.parametrize("url", LISTS)
def test_a_review_loop_list_makes_no_query_per_row(credit_model: ModelVersion, url: str) -> None:
    browser = Client()
    browser.force_login(UserFactory(username="boss", roles=["admin"]))
    counts = []
    for n, start in ((2, 0), (5, 2)):
        add_rows(credit_model, n, start)
        browser.get(url)  # warm the per-process caches (content types, permissions)
        with CaptureQueriesContext(connection) as queries:
            assert browser.get(url).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
