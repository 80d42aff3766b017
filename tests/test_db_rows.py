"""``creditplatform.db.insert_row`` writes what ``Model.save`` writes, one statement, no signals lost."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import signals

from creditplatform.db import _numbered, execute_prepared, insert_row
from scoring.models import Decision
from tests.factories import ClientFactory, CreditApplicationFactory
from tests.services import require_postgresql

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


# --- Prepared statements ----------------------------------------------------------------

SQL = "SELECT %s::int + %s::int, '100%%' || %s::text, %s::int IS NULL"


def _prepared_here() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements WHERE name LIKE 'test_sum_%%'")
        return [row[0] for row in cursor.fetchall()]


def test_placeholders_are_numbered_and_percent_signs_kept() -> None:
    assert _numbered(SQL) == ("SELECT $1::int + $2::int, '100%' || $3::text, $4::int IS NULL", 4)
    assert _numbered("SELECT 1") == ("SELECT 1", 0)


@pytest.mark.django_db(transaction=True)
def test_a_prepared_statement_answers_as_the_plain_query_and_is_prepared_once(settings: Any) -> None:
    require_postgresql()
    settings.DB_PREPARED_STATEMENTS = True
    answers = []
    with connection.cursor() as cursor:
        for values in ([1, 2, "x", None], [40, 2, "y", 3], [-5, 5, "", None]):
            execute_prepared(cursor, "test_sum", SQL, values)
            prepared_answer = cursor.fetchone()
            cursor.execute(SQL, values)
            assert prepared_answer == cursor.fetchone()
            answers.append(prepared_answer)
    assert answers == [(3, "100%x", True), (42, "100%y", False), (0, "100%", True)]
    assert len(_prepared_here()) == 1  # three calls, one PREPARE

    connection.close()  # a new session knows nothing of the old one's statements
    with connection.cursor() as cursor:
        execute_prepared(cursor, "test_sum", SQL, [2, 2, "z", 1])
        assert cursor.fetchone() == (4, "100%z", False)
    assert len(_prepared_here()) == 1


@pytest.mark.django_db(transaction=True)
def test_prepared_statements_can_be_switched_off(settings: Any) -> None:
    require_postgresql()
    settings.DB_PREPARED_STATEMENTS = False
    connection.close()
    with connection.cursor() as cursor:
        execute_prepared(cursor, "test_sum", SQL, [1, 1, "a", None])
        assert cursor.fetchone() == (2, "100%a", True)
    assert _prepared_here() == []


def test_a_wrong_number_of_values_is_refused_before_the_database(settings: Any) -> None:
    require_postgresql()
    settings.DB_PREPARED_STATEMENTS = True
    with connection.cursor() as cursor, pytest.raises(ValueError, match="4 placeholders for 2 values"):
        execute_prepared(cursor, "test_sum", SQL, [1, 2])
