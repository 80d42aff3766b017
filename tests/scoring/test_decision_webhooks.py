"""Decision webhooks against a real HTTP receiver: registration, HMAC signature, retries, the admin."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client, TestCase
from rest_framework.test import APIClient

from creditplatform.webhooks import verify_signature
from scoring.models import Decision, ModelVersion, ReviewCase, WebhookDelivery
from scoring.review.services import review_case_approve, review_case_close, review_case_take
from scoring.services import model_version_set_refer_band
from tests.factories import UserFactory
from tests.receivers import Receiver, http_receiver

pytestmark = pytest.mark.django_db

RISKY = {"age": 35, "revenu": 50000, "historique_impaye": 1}


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[Receiver]]]:
    with http_receiver() as found:
        yield found


@pytest.fixture
def scorer(key_client: Callable[..., APIClient], credit_model: ModelVersion) -> APIClient:
    with TestCase.captureOnCommitCallbacks(execute=True):
        model_version_set_refer_band(model_version=credit_model, lower=0.0, upper=1.0)
    return key_client("analyst", ["score", "read"])


def register(api: APIClient, url: str) -> dict[str, Any]:
    response = api.post("/api/v1/webhooks", {"url": url}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()  # type: ignore[no-any-return]


def refer(api: APIClient) -> Decision:
    response = api.post("/api/v1/score", RISKY, format="json")
    assert response.json()["decision"] == "refer"
    return Decision.objects.get(pk=response.json()["id"])


def finalise(decision: Decision, final: str = "refuse") -> None:
    """An underwriter decides (and a second one approves when four eyes apply), committed."""
    first, second = UserFactory(roles=["analyst"]), UserFactory(roles=["analyst"])
    case = ReviewCase.objects.get(decision=decision)
    with TestCase.captureOnCommitCallbacks(execute=True):
        review_case_take(case=case, user=first)
        review_case_close(case=case, user=first, final_decision=final, justification="Checked the file.")
        if final == "approve":
            review_case_approve(case=case, user=second)


def test_registering_checks_the_url_and_shows_the_secret_once(scorer: APIClient) -> None:
    bad = scorer.post("/api/v1/webhooks", {"url": "ftp://x"}, format="json")
    assert bad.status_code == 400 and "url" in bad.json()["fields"]
    created = register(scorer, "https://lender.example/hooks")
    assert len(created["secret"]) >= 32
    listed = scorer.get("/api/v1/webhooks").json()
    assert [h["id"] for h in listed] == [created["id"]] and "secret" not in listed[0]


def test_a_secret_or_is_active_sent_along_is_refused_not_ignored(scorer: APIClient) -> None:
    """The platform makes the secret: a caller sending its own must not believe it signs the calls."""
    response = scorer.post(
        "/api/v1/webhooks", {"url": "https://lender.example/h", "secret": "mine", "is_active": False}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["fields"] == {"secret": ["Unknown field."], "is_active": ["Unknown field."]}
    number = scorer.post("/api/v1/webhooks", {"url": 42}, format="json")
    assert number.status_code == 400 and number.json()["fields"] == {"url": ["Not a valid string."]}
    assert scorer.get("/api/v1/webhooks").json() == []


def test_a_final_decision_is_posted_signed_to_its_callers_webhook(
    scorer: APIClient, key_client: Callable[..., APIClient], receiver: tuple[str, type[Receiver]]
) -> None:
    url, handler = receiver
    secret = register(scorer, url)["secret"]
    register(key_client("analyst", ["score", "read"]), url)  # another caller's: not told about ours
    decision = refer(scorer)
    assert handler.received == []  # a referral is not final
    finalise(decision, "approve")
    [(headers, body)] = handler.received
    assert headers["X-Credit-Event"] == "decision.final"
    assert verify_signature(secret, body, headers["X-Credit-Signature"])
    assert not verify_signature("x" * 43, body, headers["X-Credit-Signature"])
    assert not verify_signature(secret, body.replace(b"approve", b"refuse"), headers["X-Credit-Signature"])
    payload = json.loads(body)
    assert payload == {
        "event": "decision.final",
        "decision_id": str(decision.pk),
        "automated_decision": "refer",
        "final_decision": "approve",
        "decided_by": payload["decided_by"],
        "decided_at": payload["decided_at"],
    }
    assert payload["decided_by"].startswith("user:")
    delivery = WebhookDelivery.objects.get(decision=decision)
    assert (delivery.status, delivery.attempts, delivery.last_outcome) == ("delivered", 1, "delivered: HTTP 200")


def test_a_failing_receiver_is_retried_until_it_answers(
    scorer: APIClient, receiver: tuple[str, type[Receiver]]
) -> None:
    url, handler = receiver
    handler.statuses = [503, 502]
    register(scorer, url)
    decision = refer(scorer)
    finalise(decision)
    assert len(handler.received) == 3
    assert handler.received[0][1] == handler.received[2][1]  # the same event each time
    delivery = WebhookDelivery.objects.get(decision=decision)
    assert (delivery.status, delivery.attempts, delivery.last_outcome) == ("delivered", 3, "delivered: HTTP 200")


def test_retries_stop_and_the_failure_is_recorded(
    scorer: APIClient, settings: Any, receiver: tuple[str, type[Receiver]]
) -> None:
    url, handler = receiver
    settings.DECISION_WEBHOOK_MAX_RETRIES = 2
    handler.statuses = [500] * 10
    register(scorer, url)
    decision = refer(scorer)
    finalise(decision)
    assert len(handler.received) == 3  # the first attempt and two retries
    delivery = WebhookDelivery.objects.get(decision=decision)
    assert (delivery.status, delivery.attempts, delivery.last_outcome) == ("failed", 3, "not delivered: HTTP 500")


def test_a_4xx_is_a_refusal_not_retried(scorer: APIClient, receiver: tuple[str, type[Receiver]]) -> None:
    url, handler = receiver
    handler.statuses = [410]
    register(scorer, url)
    finalise(refer(scorer))
    assert len(handler.received) == 1
    assert WebhookDelivery.objects.get().status == "refused"


def test_deliveries_show_in_the_admin_for_admins(scorer: APIClient, receiver: tuple[str, type[Receiver]]) -> None:
    url, _ = receiver
    register(scorer, url)
    decision = refer(scorer)
    finalise(decision)
    admin = Client()
    admin.force_login(UserFactory(roles=["admin"]))
    page = admin.get("/admin/scoring/webhookdelivery/").content.decode()
    assert "delivered: HTTP 200" in page
    hooks = admin.get("/admin/scoring/decisionwebhook/").content.decode()
    assert url in hooks
    delivery = WebhookDelivery.objects.get()
    detail = admin.get(f"/admin/scoring/webhookdelivery/{delivery.pk}/change/").content.decode()
    assert str(decision.pk) in detail
