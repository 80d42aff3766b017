"""bench/fraud_setup.py: what make bench needs, idempotently."""

from __future__ import annotations

from typing import Any

import pytest

from bench.fraud_setup import prepare_fraud_bench
from fraud.models import FraudRule, Transaction
from scoring.models import ModelVersion

pytestmark = pytest.mark.django_db


def test_it_prepares_a_model_the_active_rules_and_history_and_does_it_once(fraud_model: Any) -> None:
    first = prepare_fraud_bench(rules=14, clients=4, history_per_client=5)
    assert FraudRule.objects.filter(is_active=True).count() == 14
    assert Transaction.objects.filter(transaction_id__startswith="BENCH-H").count() == 20
    assert first["client_ids"] == ["BENCH-C00000", "BENCH-C00001", "BENCH-C00002", "BENCH-C00003"]
    assert "virement" in first["types"] and "FR" in first["countries"]
    again = prepare_fraud_bench(rules=14, clients=4, history_per_client=5)
    assert again == first
    assert Transaction.objects.filter(transaction_id__startswith="BENCH-H").count() == 20
    assert FraudRule.objects.filter(name__startswith="bench_variant_").count() == 6
    assert ModelVersion.objects.filter(purpose="fraud").count() == 1  # the existing champion is kept


def test_asking_for_fewer_rules_switches_off_the_generated_ones_first(fraud_model: Any) -> None:
    prepare_fraud_bench(rules=12, clients=1, history_per_client=0)
    prepare_fraud_bench(rules=9, clients=1, history_per_client=0)
    active = set(FraudRule.objects.filter(is_active=True).values_list("name", flat=True))
    assert len(active) == 9 and "high_amount" in active
    assert len([n for n in active if n.startswith("bench_variant_")]) == 1


def test_its_payloads_are_served(fraud_model: Any, key_client: Any) -> None:
    bench = prepare_fraud_bench(rules=10, clients=2, history_per_client=3)
    payload = {"transaction_id": "BENCH-LOAD-1", "montant": 120, "type": bench["types"][0],
               "client_id": bench["client_ids"][0], "country": bench["countries"][0]}  # fmt: skip
    response = key_client("analyst", ["fraud"]).post("/fraude", payload, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["model_version"] == fraud_model.version
    assert Transaction.objects.get(transaction_id="BENCH-LOAD-1").fraud_check.features["history_count"] == 3
