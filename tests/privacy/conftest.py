"""Fixtures of the privacy tests: two compliance officers and a client with history."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from accounts.roles import Role
from fraud.services import fraud_alert_resolve, fraud_alert_take
from scoring.models import Decision, ModelVersion
from tests.factories import (
    ClientFactory,
    CreditApplicationFactory,
    FraudAlertFactory,
    FraudCheckFactory,
    TransactionFactory,
    UserFactory,
)


@pytest.fixture
def officers(db: None) -> tuple[Any, Any]:
    """Two compliance officers: one records, the other approves."""
    return (
        UserFactory(username="officer-a", roles=[Role.COMPLIANCE]),
        UserFactory(username="officer-b", roles=[Role.COMPLIANCE]),
    )


def make_history(client: Any, *, transactions: int = 3, days_ago: int = 1, resolved_alert: bool = True) -> None:
    """Applications, a decision, transactions with checks, and (resolved) an alert for ``client``."""
    model = ModelVersion.objects.create(purpose="credit", version=f"v-{client.pk}", sha256="0" * 64, threshold=0.3)
    application = CreditApplicationFactory(client=client, application_id=f"APP-{client.client_id}")
    CreditApplicationFactory(client=client, application_id=f"APP2-{client.client_id}")  # never decided
    Decision.objects.create(
        client=client,
        application=application,
        model_version=model,
        features={"age": 41, "revenu": 3200, "client_id": client.client_id},
        probability_default=0.2,
        prediction=0,
        decision="approve",
        risk_level="MEDIUM",
        threshold_used=0.3,
        caller="apikey:abc",
        idempotency_key=f"idem-{client.client_id}",
        request_hash="f" * 64,
    )
    when = timezone.now() - dt.timedelta(days=days_ago)
    for i in range(transactions):
        txn = TransactionFactory(
            client=client,
            transaction_id=f"TX-{client.client_id}-{i}",
            amount=Decimal("50.00") + i,
            beneficiary="FR7630001007941234567890185" if i % 2 == 0 else "DE89370400440532013000",
            device_id=f"device-{client.client_id}",
            timestamp=when,
        )
        FraudCheckFactory(transaction=txn)
    if resolved_alert:
        txn = TransactionFactory(client=client, transaction_id=f"TX-{client.client_id}-alert", timestamp=when)
        alert = FraudAlertFactory(fraud_check=FraudCheckFactory(transaction=txn, decision="review"))
        analyst = UserFactory(username=f"analyst-{client.pk}", roles=[Role.ANALYST])
        fraud_alert_take(alert=alert, user=analyst)
        fraud_alert_resolve(
            alert=alert, user=analyst, resolution="false_positive", comment=f"Called {client.last_name}: it was them."
        )


@pytest.fixture
def person(db: None) -> Any:
    """A client with a full identity and some history."""
    client = ClientFactory(
        client_id="C7001",
        first_name="Camille",
        last_name="Zqxmartin",
        email="camille.zqx@example.test",
        phone="+33 6 99 88 77 66",
        address="12 rue Zqx, 75001 Paris",
    )
    make_history(client)
    return client
