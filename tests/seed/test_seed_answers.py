"""Seed clients keep reading their own fields at the root paths; /api/v1 keeps the clean contract."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from fraud.services import fraud_rule_save

pytestmark = pytest.mark.django_db

SCORE = {"client_id": "C1001", "age": 42, "revenu": 82000, "historique_impaye": 0, "montant_credit": 20000}
FRAUDE = {"transaction_id": "T-A001", "client_id": "C1001", "montant": 1500.0, "type": "paiement", "devise": "USD",
          "date_transaction": "2025-10-25T09:12:00Z"}  # fmt: skip
SEED_SCORE_FIELDS = {"score", "message"}
SEED_FRAUDE_FIELDS = {"risque", "alert", "message"}


@pytest.fixture
def api(key_client: Callable[..., APIClient], credit_model: Any, fraud_model: Any) -> APIClient:
    return key_client("analyst", ["score", "fraud", "read"])


def test_score_at_the_root_also_answers_the_seeds_score_and_message(api: APIClient) -> None:
    body = api.post("/score", SCORE, format="json").json()
    assert body["score"] == body["probability_default"]
    verdict = "Refused" if body["decision"] == "refuse" else "Approved"
    assert body["message"].startswith(f"{verdict}: probability of default ")
    assert body["message"].count(".") >= 1 and "\n" not in body["message"]


def test_a_refusal_message_names_the_main_reason_with_its_value(api: APIClient) -> None:
    body = api.post("/score", {**SCORE, "historique_impaye": 4, "revenu": 20}, format="json").json()
    assert body["decision"] == "refuse"
    top = body["reasons"][0]
    assert body["message"].endswith(f"main reason: {top['label']} ({top['value']}).")


def test_score_under_api_v1_keeps_the_clean_contract(api: APIClient) -> None:
    body = api.post("/api/v1/score", SCORE, format="json").json()
    assert not SEED_SCORE_FIELDS & set(body)


def test_an_idempotent_replay_at_the_root_returns_the_same_seed_fields(api: APIClient) -> None:
    first = api.post("/score", SCORE, format="json", HTTP_IDEMPOTENCY_KEY="seed-1")
    again = api.post("/score", SCORE, format="json", HTTP_IDEMPOTENCY_KEY="seed-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()


def test_fraude_at_the_root_also_answers_risque_alert_and_message(api: APIClient) -> None:
    body = api.post("/fraude", FRAUDE, format="json").json()
    assert body["risque"] == body["fraud_score"]
    assert body["alert"] is (body["alert_id"] is not None)
    assert body["message"].startswith(
        {"allow": "Allowed", "review": "Sent to review", "block": "Blocked"}[body["decision"]]
    )


def test_an_alerted_transaction_says_so_and_gives_the_rule_that_weighed_most(api: APIClient) -> None:
    body = api.post("/fraude", {**FRAUDE, "montant": 250000}, format="json").json()
    assert body["decision"] == "block" and body["alert"] is True and body["alert_id"] is not None
    assert body["message"].startswith("Blocked, alert opened: fraud score ")
    extreme = next(r for r in body["triggered_rules"] if r["name"] == "extreme_amount")
    assert body["message"].endswith(f"main reason: {extreme['reason']}")


def test_an_allowed_transaction_has_no_alert(api: APIClient) -> None:
    fraud_rule_save(user=None, name="info", condition="amount > 1", action="flag", weight=0.0, reason="Informative.",
                    is_active=True)  # fmt: skip
    body = api.post("/fraude", {**FRAUDE, "montant": 12}, format="json").json()
    assert body["decision"] == "allow" and body["alert"] is False
    assert body["message"].startswith("Allowed: fraud score ")
    assert body["message"].endswith("; rule noted: Informative.")


def test_fraude_under_api_v1_keeps_the_clean_contract(api: APIClient) -> None:
    body = api.post("/api/v1/fraude", FRAUDE, format="json").json()
    assert not SEED_FRAUDE_FIELDS & set(body)


def test_a_replayed_transaction_at_the_root_returns_the_same_seed_fields(api: APIClient) -> None:
    first = api.post("/fraude", {**FRAUDE, "montant": 15000}, format="json")
    again = api.post("/fraude", {**FRAUDE, "montant": 15000}, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert again.json()["alert"] is True
