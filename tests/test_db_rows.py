"""``creditplatform.db.insert_row`` writes what ``Model.save`` writes, one statement, no signals lost."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.db.models import signals

from creditplatform.db import insert_row
from scoring.models import Decision
from tests.factories import ClientFactory, CreditApplicationFactory

pytestmark = pytest.mark.django_db


def _decision(model_version: Any, **overrides: Any) -> Decision:
    application = CreditApplicationFactory()
    values: dict[str, Any] = {
        "client": application.client,
        "application": application,
        "model_version": model_version,
        "artifact_sha256": "ab" * 32,
        "pipeline_version": "3",
        "features": {"age": 35, "revenu": 50000.5, "job": "fixed", "home": None},
        "probability_default": 0.1234,
        "prediction": 1,
        "decision": "refer",
        "risk_level": "medium",
        "threshold_used": 0.099,
        "refer_lower_used": 0.05,
        "refer_upper_used": 0.2,
        "refer_missing_share_used": 0.5,
        "reasons": [{"feature": "age", "impact": 0.31, "value": 35, "text": "Âge « jeune »"}],
        "shadow_model_version": model_version,
        "shadow_probability": 0.2,
        "shadow_prediction": 1,
        "latency_ms": 1.25,
        "caller": "apikey:abc",
        "idempotency_key": f"key-{uuid.uuid4()}",
        "request_hash": "cd" * 32,
    }
    return Decision(**{**values, **overrides})


def _stored(pk: Any) -> dict[str, Any]:
    row = Decision.objects.filter(pk=pk).values().get()
    row.pop("id")
    return row


def test_insert_row_stores_every_field_as_save_does(credit_model: Any) -> None:
    by_save = _decision(credit_model)
    by_save.save(force_insert=True)
    by_insert = _decision(
        credit_model,
        client=by_save.client,
        application=by_save.application,
        idempotency_key=by_save.idempotency_key + "-2",
    )
    insert_row(by_insert)

    saved, inserted = _stored(by_save.pk), _stored(by_insert.pk)
    assert inserted.pop("idempotency_key") == saved.pop("idempotency_key") + "-2"
    assert inserted.pop("created_at") >= saved.pop("created_at")  # auto_now_add filled
    assert inserted == saved
    assert by_insert._state.adding is False and by_insert.created_at is not None
    assert Decision.objects.get(pk=by_insert.pk).reasons[0]["text"] == "Âge « jeune »"


def test_insert_row_refuses_what_the_constraints_refuse(credit_model: Any) -> None:
    first = _decision(credit_model)
    insert_row(first)
    again = _decision(credit_model, caller=first.caller, idempotency_key=first.idempotency_key)
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_row(again)
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_row(_decision(credit_model, prediction=7))  # decision_prediction_binary
    assert Decision.objects.count() == 1


def test_a_failed_insert_inside_a_transaction_rolls_it_back(credit_model: Any) -> None:
    client = ClientFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_row(_decision(credit_model, client=client, application=None))
        insert_row(_decision(credit_model, prediction=7))
    assert not Decision.objects.exists()


def test_nothing_listens_to_decision_saves() -> None:
    """insert_row sends no pre_save/post_save: it is only for models without receivers."""
    assert not signals.pre_save.has_listeners(Decision)
    assert not signals.post_save.has_listeners(Decision)
