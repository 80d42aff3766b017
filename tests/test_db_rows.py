"""``creditplatform.db.insert_row`` writes what ``Model.save`` writes, one statement, no signals lost."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, connection, models, transaction
from django.db.models import signals
from django.test.utils import CaptureQueriesContext
from django.utils.translation import gettext_lazy

from creditplatform.db import (
    _document_fields,
    _named,
    _numbered,
    _plain_pre_save,
    _unchanged,
    execute_prepared,
    insert_row,
    insert_row_linked,
    prepared_value,
    row_document,
)
from fraud.models import FraudAlert, FraudCheck, Transaction
from fraud.services import _store_screened
from monitoring.models import ApiCall
from scoring.models import Decision
from tests.factories import ClientFactory, CreditApplicationFactory, FraudCheckFactory, TransactionFactory
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


AWKWARD_TEXT = "quote ' double \" backslash \\ percent %s %% unicode Âge « jeune » \U0001f600 tab\tend"


def test_awkward_values_land_exactly_as_save_writes_them(credit_model: Any) -> None:
    """Quotes, backslashes, placeholders, non-BMP characters, nested JSON, nulls, extreme floats."""
    overrides: dict[str, Any] = {
        "features": {"job": AWKWARD_TEXT, "nested": {"list": [1, 2.5, None, True]}, "big": 1e308, "tiny": 5e-324},
        "reasons": [{"feature": "job", "value": AWKWARD_TEXT, "contribution": -0.0}],
        "caller": AWKWARD_TEXT[:100],
        "probability_default": 0.1 + 0.2,  # 0.30000000000000004: every digit must survive
        "latency_ms": 1e-7,
        "shadow_probability": None,
        "shadow_model_version": None,
    }
    by_save = _decision(credit_model, **overrides)
    by_save.save(force_insert=True)
    by_insert = _decision(credit_model, **overrides, client=by_save.client, application=by_save.application)
    insert_row(by_insert)
    saved, inserted = _stored(by_save.pk), _stored(by_insert.pk)
    for row in (saved, inserted):
        row.pop("idempotency_key"), row.pop("created_at")
    assert inserted == saved
    assert inserted["probability_default"] == 0.30000000000000004


def test_on_postgresql_a_row_travels_as_one_json_document(credit_model: Any) -> None:
    """One parameter for the whole row; elsewhere (SQLite) the column-by-column path."""
    document = row_document(_decision(credit_model))
    if connection.vendor != "postgresql":
        assert document is None
        return
    assert document is not None
    columns, selected, text = document
    assert len(columns) == len(selected) == len(Decision._meta.concrete_fields)
    assert '"probability_default":0.1234' in text and '"created_at":' in text  # auto_now_add filled


# Values of every type a field of the stored models may hold: each field's own, the neighbours
# Django converts (an int for a float, a bool for an int, a naive datetime, a lazy text…).
ODD_ATTRIBUTES: list[Any] = [
    None,
    "text",
    "",
    gettext_lazy("Accepted"),
    0,
    7,
    True,
    False,
    1.5,
    -0.0,
    Decimal("12.50"),
    uuid.UUID(int=5),
    dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2))),
    dt.datetime(2026, 1, 2, 3, 4, 5),
    {"a": [1, 2.5, None]},
    [1, "x"],
]


@pytest.mark.parametrize("model", [Decision, Transaction, FraudCheck, FraudAlert, ApiCall], ids=lambda m: m.__name__)
@pytest.mark.filterwarnings("ignore:DateTimeField .* received a naive datetime")
def test_each_prepared_value_is_what_the_field_itself_prepares(model: Any) -> None:
    """``prepared_value`` skips ``pre_save`` and ``get_prep_value`` only where they would give
    the attribute back as it is: for any value of any type, it answers as they do (the same
    value, of the same type, or the same error)."""
    entries = _document_fields(model, "postgresql")
    assert entries is not None
    compared = 0
    for entry in entries:
        if not entry.plain_pre_save:  # auto_now_add: the field's pre_save runs, as before
            assert getattr(entry.field, "auto_now_add", False) or getattr(entry.field, "auto_now", False)
            continue
        for value in ODD_ATTRIBUTES:
            obj = model()
            obj.__dict__[entry.attname] = value
            try:
                expected = entry.field.get_prep_value(entry.field.pre_save(obj, True))
            except Exception as exc:  # noqa: BLE001 - the same error either way
                with pytest.raises(type(exc)):
                    prepared_value(obj, entry)
                continue
            got = prepared_value(obj, entry)
            assert type(got) is type(expected) and got == expected, (entry.field, value, got, expected)
            if isinstance(got, dt.datetime):
                assert got.utcoffset() == expected.utcoffset()
            compared += 1
    assert compared > 5 * len(entries)


def test_a_field_with_its_own_preparation_is_always_prepared_by_it() -> None:
    """A subclass with its own ``get_prep_value`` (or ``to_python``) keeps nothing as it is; an
    ``auto_now_add`` date is stamped by its ``pre_save``."""

    class Upper(models.CharField):
        def get_prep_value(self, value: Any) -> Any:
            return None if value is None else str(value).upper()

    upper = Upper(max_length=5)
    assert _unchanged(upper) == (frozenset(), None)
    assert _unchanged(models.CharField(max_length=5)) == (frozenset({str}), None)
    assert _unchanged(Decision._meta.get_field("client")) == _unchanged(Decision._meta.get_field("client").target_field)
    assert not _plain_pre_save(Decision._meta.get_field("created_at"))
    assert _plain_pre_save(Decision._meta.get_field("decision"))


def test_a_float_json_cannot_carry_takes_the_column_path_and_is_stored_as_save_stores_it(credit_model: Any) -> None:
    """NaN would become null in JSON: such a row goes column by column, as save would write it."""
    require_postgresql()  # SQLite itself stores NaN as NULL
    decision = _decision(credit_model, latency_ms=float("nan"))
    assert row_document(decision) is None
    insert_row(decision)
    latency = Decision.objects.get(pk=decision.pk).latency_ms
    assert latency != latency  # NaN, not NULL


def test_json_with_non_string_keys_is_stored_as_save_stores_it(credit_model: Any) -> None:
    """orjson refuses int keys where json.dumps writes them as strings: the column path keeps save's answer."""
    decision = _decision(credit_model, features={"age": 35, 7: "seven"})
    assert row_document(decision) is None
    insert_row(decision)
    assert Decision.objects.get(pk=decision.pk).features == {"age": 35, "7": "seven"}


def test_insert_row_linked_finds_the_client_in_its_own_statement_and_stores_what_save_stores(
    credit_model: Any,
) -> None:
    """One statement: the row as ``save`` writes it, its client found by external id."""
    by_save = _decision(credit_model, application=None)
    by_save.save(force_insert=True)
    by_insert = _decision(credit_model, client=None, application=None, idempotency_key=by_save.idempotency_key + "-2")
    with CaptureQueriesContext(connection) as queries:
        key = insert_row_linked(by_insert, "client", "client_id", by_save.client.client_id)
    assert key == by_save.client.pk
    housekeeping = {"SAVEPOINT", "RELEASE", "PREPARE"}  # the first call prepares the statement (PostgreSQL)
    assert len([q for q in queries if q["sql"].split()[0].upper() not in housekeeping]) == 1
    saved, inserted = _stored(by_save.pk), _stored(by_insert.pk)
    assert inserted.pop("idempotency_key") == saved.pop("idempotency_key") + "-2"
    inserted.pop("created_at"), saved.pop("created_at")
    assert inserted == saved  # client_id (the key) included
    assert by_insert._state.adding is False


def test_insert_row_linked_stores_nothing_for_an_unknown_value(credit_model: Any) -> None:
    ClientFactory(client_id="C-KNOWN")
    decision = _decision(credit_model, client=None, application=None)
    assert insert_row_linked(decision, "client", "client_id", "C-UNKNOWN") is None
    assert not Decision.objects.exists()
    assert decision._state.adding is True


def test_insert_row_linked_takes_the_column_path_for_a_float_json_cannot_carry(credit_model: Any) -> None:
    """NaN goes column by column through the linked insert too: the client found, NaN stored, not NULL."""
    require_postgresql()  # SQLite itself stores NaN as NULL
    client = ClientFactory()
    decision = _decision(credit_model, client=None, application=None, latency_ms=float("nan"))
    assert row_document(decision) is None
    assert insert_row_linked(decision, "client", "client_id", client.client_id) == client.pk
    stored = Decision.objects.get(pk=decision.pk)
    assert stored.client_id == client.pk
    assert stored.latency_ms != stored.latency_ms  # NaN, not NULL
    assert decision._state.adding is False


def test_insert_row_linked_refuses_what_the_constraints_refuse(credit_model: Any) -> None:
    client = ClientFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_row_linked(_decision(credit_model, client=None, prediction=7), "client", "client_id", client.client_id)
    assert not Decision.objects.exists()


def test_a_screened_transaction_keeps_its_exact_amount_and_links() -> None:
    """/fraude's single statement: decimals exact, the check and alert linked to the new rows."""
    txn = TransactionFactory.build(client=ClientFactory(), amount=Decimal("1234567.89"), beneficiary=AWKWARD_TEXT[:34])
    check = FraudCheckFactory.build(transaction=None, features={"note": AWKWARD_TEXT, "amount": "1234567.89"})
    _store_screened(txn, check, None)
    stored = Transaction.objects.select_related("fraud_check").get(pk=txn.pk)
    assert stored.amount == Decimal("1234567.89") and stored.beneficiary == AWKWARD_TEXT[:34]
    assert stored.fraud_check.pk == check.pk and stored.fraud_check.features["note"] == AWKWARD_TEXT


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


NAMED = "SELECT %(a)s::int + %(b)s::int, '100%%' || %(t)s::text, %(a)s::int * 10"


def test_named_placeholders_are_numbered_once_each_in_order_of_first_use() -> None:
    assert _named(NAMED) == ("SELECT $1::int + $2::int, '100%' || $3::text, $1::int * 10", ("a", "b", "t"))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("prepared", [True, False])
def test_a_named_statement_sends_each_value_once_and_answers_as_the_plain_query(settings: Any, prepared: bool) -> None:
    require_postgresql()
    settings.DB_PREPARED_STATEMENTS = prepared
    connection.close()
    values = {"a": 4, "b": 3, "t": "x"}
    with CaptureQueriesContext(connection) as queries, connection.cursor() as cursor:
        execute_prepared(cursor, "test_named", NAMED, values)
        assert cursor.fetchone() == (7, "100%x", 40)
        cursor.execute(NAMED, values)
        assert cursor.fetchone() == (7, "100%x", 40)
    executed = [q["sql"] for q in queries if q["sql"].startswith("EXECUTE")]
    if prepared:  # three values for four uses
        assert len(executed) == 1 and executed[0].endswith("(4, 3, 'x')")
    else:
        assert not executed


@pytest.mark.parametrize("values", [{"a": 1, "b": 2}, {"a": 1, "b": 2, "t": "x", "z": 0}])
def test_a_named_value_missing_or_unused_is_refused_before_the_database(settings: Any, values: dict[str, Any]) -> None:
    require_postgresql()
    settings.DB_PREPARED_STATEMENTS = True
    with connection.cursor() as cursor, pytest.raises(ValueError, match=r"placeholders \['a', 'b', 't'\]"):
        execute_prepared(cursor, "test_named", NAMED, values)


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
