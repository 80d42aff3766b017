"""Database constraints hold even when code forgets to validate."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from accounts.models import ApiKey
from fraud.models import FraudCheck, Transaction
from monitoring.models import ApiCall
from scoring.models import Client, Decision, ModelVersion
from tests.factories import ClientFactory, CreditApplicationFactory, TransactionFactory

pytestmark = pytest.mark.django_db


def _violates(create) -> bool:
    try:
        with transaction.atomic():
            create()
    except IntegrityError:
        return True
    return False


def _model(purpose: str = "credit", version: str = "v1", status: str = "draft", **kw) -> ModelVersion:
    fields = {"sha256": "0" * 64, "threshold": 0.3, **kw}
    return ModelVersion.objects.create(purpose=purpose, version=version, status=status, **fields)


def _decision(model: ModelVersion, **overrides) -> Decision:
    fields = dict(
        model_version=model,
        features={"age": 35},
        probability_default=0.2,
        prediction=0,
        decision="approve",
        risk_level="LOW",
        threshold_used=0.3,
        caller="user:1",
    )
    fields.update(overrides)
    return Decision.objects.create(**fields)


def test_client_external_ids_are_unique_and_not_empty() -> None:
    ClientFactory(client_id="C1")
    assert _violates(lambda: Client.objects.create(client_id="C1"))
    assert _violates(lambda: Client.objects.create(client_id=""))


def test_client_str_never_shows_the_name() -> None:
    client = ClientFactory(client_id="C9", first_name="Ada", last_name="Lovelace")
    assert str(client) == "C9"


@pytest.mark.parametrize(
    "overrides",
    [
        {"amount": Decimal("0")},
        {"duration_months": 0},
        {"duration_months": 481},
        {"declared_income": Decimal("-1")},
        {"age": 12},
        {"age": 130},
    ],
)
def test_credit_application_rejects_impossible_values(overrides: dict[str, object]) -> None:
    client = ClientFactory()
    assert _violates(lambda: CreditApplicationFactory(client=client, **overrides))


def test_a_client_with_applications_cannot_be_deleted_by_accident() -> None:
    application = CreditApplicationFactory()
    with pytest.raises(ProtectedError):
        application.client.delete()


def test_one_champion_and_one_challenger_per_purpose() -> None:
    _model(version="v1", status="champion")
    assert _violates(lambda: _model(version="v2", status="champion"))
    _model(purpose="fraud", version="v1", status="champion")  # another purpose is fine
    _model(version="v3", status="challenger")
    assert _violates(lambda: _model(version="v4", status="challenger"))
    assert _violates(lambda: _model(version="v1"))  # duplicate version
    assert _violates(lambda: _model(version="v5", threshold=1.5))
    assert _violates(lambda: _model(purpose="weather", version="v6"))


def test_decisions_keep_outcome_probability_and_prediction_consistent() -> None:
    model = _model()
    assert _violates(lambda: _decision(model, probability_default=1.2))
    assert _violates(lambda: _decision(model, prediction=2))
    assert _violates(lambda: _decision(model, prediction=1, decision="approve"))
    assert _violates(lambda: _decision(model, threshold_used=-0.1))
    _decision(model, idempotency_key="k1")
    assert _violates(lambda: _decision(model, idempotency_key="k1"))
    _decision(model, idempotency_key="k1", caller="apikey:other")  # keys are per caller
    _decision(model)
    _decision(model)  # no key: no uniqueness


def test_transactions_are_unique_non_negative_and_typed() -> None:
    TransactionFactory(transaction_id="TX1")
    assert _violates(lambda: TransactionFactory(transaction_id="TX1"))
    assert _violates(lambda: TransactionFactory(amount=Decimal("-0.01")))
    assert _violates(lambda: TransactionFactory(type="teleport"))


def test_one_fraud_check_per_transaction_with_a_valid_score_and_decision() -> None:
    txn = TransactionFactory()
    fields = dict(fraud_score=0.1, risk_level="LOW", decision="allow", caller="user:1")
    assert _violates(lambda: FraudCheck.objects.create(transaction=txn, **{**fields, "fraud_score": 2}))
    assert _violates(lambda: FraudCheck.objects.create(transaction=txn, **{**fields, "decision": "maybe"}))
    FraudCheck.objects.create(transaction=txn, **fields)
    assert _violates(lambda: FraudCheck.objects.create(transaction=txn, **fields))
    with pytest.raises(ProtectedError):
        Transaction.objects.filter(pk=txn.pk).delete()


def test_api_calls_have_plausible_status_and_latency() -> None:
    fields = dict(request_id="r", method="GET", endpoint="/x", status_code=200, latency_ms=1.0)
    ApiCall.objects.create(**fields)
    assert _violates(lambda: ApiCall.objects.create(**{**fields, "status_code": 42}))
    assert _violates(lambda: ApiCall.objects.create(**{**fields, "latency_ms": -1}))


def test_api_keys_need_a_known_role_and_a_hash() -> None:
    fields = dict(name="k", prefix="p1", key_hash="h", role="analyst", created_at=timezone.now())
    ApiKey.objects.create(**fields)
    assert _violates(lambda: ApiKey.objects.create(**{**fields, "prefix": "p1"}))
    assert _violates(lambda: ApiKey.objects.create(**{**fields, "prefix": "p2", "role": "root"}))
    assert _violates(lambda: ApiKey.objects.create(**{**fields, "prefix": "p3", "key_hash": ""}))
