"""The fraud model's data and training: deterministic generator, serving-identical features, the command."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from django.core.management import call_command

from fraud.choices import TransactionType
from fraud.config import fraud_config
from fraud.features import TRANSACTION_TYPES
from fraud.ml.dataset import generated_contexts
from fraud.ml.generator import TransactionGenerator
from fraud.services import ScreenRequest, transaction_screen
from scoring.choices import ModelPurpose
from scoring.ml.predictor import get_model
from scoring.models import ModelVersion
from tests.models import TrainedModel


def first_clients(seed: int, count: int = 3) -> list[list[Any]]:
    generator = TransactionGenerator(seed=seed, clients=20, days=14)
    rows = list(generator.generate())
    return rows[:count]


def test_the_model_knows_every_type_the_api_accepts_and_the_generator_makes_each() -> None:
    assert set(TRANSACTION_TYPES) == set(TransactionType.values)
    made = {row.facts.type for rows in TransactionGenerator(seed=7, clients=200, days=14).generate() for row in rows}
    assert made == set(TransactionType.values)


def test_the_generator_is_deterministic_for_a_seed() -> None:
    assert first_clients(7) == first_clients(7)
    assert first_clients(7) != first_clients(8)


def test_the_generator_makes_every_fraud_scenario_and_mostly_legitimate_traffic() -> None:
    rows = [row for client in TransactionGenerator(seed=7, clients=400, days=20).generate() for row in client]
    scenarios = {row.scenario for row in rows}
    assert scenarios == {
        "legitimate",
        "account_takeover",
        "card_testing",
        "social_engineering",
        "night_cashout",
        "lookalike",
    }
    fraud_rate = sum(row.is_fraud for row in rows) / len(rows)
    assert 0.002 < fraud_rate < 0.05


@pytest.mark.django_db
def test_training_features_are_exactly_what_serving_computes() -> None:
    """The training rows of one generated client equal the snapshots /fraude stores for it."""
    generator = TransactionGenerator(seed=11, clients=40, days=14)
    config = fraud_config()
    expected = list(generated_contexts(TransactionGenerator(seed=11, clients=40, days=14), config.locale))
    clients = list(generator.generate())
    # A client with full context and enough history to exercise every feature.
    rows = max(clients, key=lambda r: (bool(r[0].facts.channel), len(r)))
    offset = sum(len(c) for c in clients[: clients.index(rows)])
    for i, row in enumerate(rows):
        outcome = transaction_screen(
            request=ScreenRequest(transaction_id=row.transaction_id, client_id=row.client_id, facts=row.facts),
            caller="test",
            model=None,
        )
        served, (trained, _, _) = outcome.check.features, expected[offset + i]
        assert served.keys() == trained.keys()
        for key, value in trained.items():
            assert served[key] == (pytest.approx(value) if isinstance(value, float) else value), key
    assert len(rows) > 10


@pytest.mark.django_db
def test_the_trained_model_scores_an_account_takeover_far_above_an_ordinary_payment(fraud_model: Any) -> None:
    from fraud.features import TransactionFacts

    model = get_model(ModelPurpose.FRAUD)
    at = dt.datetime(2026, 3, 10, 2, 0, tzinfo=dt.UTC)  # 03:00 in Paris
    for i in range(5):
        facts = TransactionFacts(amount=40.0, type="carte", timestamp=at - dt.timedelta(days=5 - i), channel="pos",
                                 country="FR", merchant_category="5411")  # fmt: skip
        transaction_screen(request=ScreenRequest(f"OK{i}", "C1", facts), caller="t", model=model)
    ordinary = TransactionFacts(amount=35.0, type="carte", timestamp=at + dt.timedelta(hours=11), channel="pos",
                                country="FR", merchant_category="5411")  # fmt: skip
    normal = transaction_screen(request=ScreenRequest("NORMAL", "C1", ordinary), caller="t", model=model)
    scores = []
    for i in range(4):
        facts = TransactionFacts(amount=4000.0 + i, type="virement", timestamp=at + dt.timedelta(minutes=2 * i),
                                 channel="web", country="FR", beneficiary="LT00MULE", device_id="dev-new")  # fmt: skip
        scores.append(transaction_screen(request=ScreenRequest(f"ATO{i}", "C2", facts), caller="t", model=model))
    assert normal.check.model_score < 0.05
    assert scores[-1].check.model_score > 10 * normal.check.model_score
    assert scores[-1].check.decision in ("review", "block")


def test_the_training_metrics_are_those_of_a_useful_model(trained_fraud: TrainedModel) -> None:
    metrics = trained_fraud.result.metrics
    assert metrics["auc"] > 0.9
    assert metrics["business_cost"] < metrics["business_cost_accept_all"]
    assert metrics["cost_false_negative"] == 20.0


@pytest.mark.django_db
def test_the_command_trains_registers_a_champion_and_reports_its_figures() -> None:
    out = io.StringIO()
    call_command("train_fraud_model", "--clients", "150", "--days", "20", stdout=out)
    text = out.getvalue()
    assert "Held-out AUC" in text and "Threshold" in text and "precision" in text
    champion = ModelVersion.objects.get(purpose="fraud", status="champion")
    assert champion.metrics["auc"] > 0.8
    assert champion.feature_schema[0]["name"] == "amount"
    call_command("train_fraud_model", "--clients", "150", "--days", "20", stdout=out)
    assert "already registered" in out.getvalue()  # same seed, same model file
    assert ModelVersion.objects.filter(purpose="fraud").count() == 1
