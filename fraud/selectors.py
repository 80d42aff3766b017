"""Reads of the fraud domain."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from fraud.choices import AlertResolution, AlertStatus
from fraud.models import FraudAlert, FraudCheck, FraudRule, Transaction
from fraud.velocity import LOOKBACK, WINDOWS, HistorySummary
from scoring.models import Client


@functools.cache
def _velocity_sql() -> str:
    """The velocity query, built once per process from the windows (hot path: no ORM compilation)."""
    quote = connection.ops.quote_name
    table = quote(Transaction._meta.db_table)
    ts, amount = quote("timestamp"), quote("amount")
    columns = ["COUNT(*)"]
    for _ in WINDOWS:
        columns.append(f"SUM(CASE WHEN {ts} >= %s THEN 1 ELSE 0 END)")
        columns.append(f"SUM(CASE WHEN {ts} >= %s THEN {amount} ELSE 0 END)")
    for field in ("beneficiary", "device_id", "country"):
        # A NULL parameter (nothing sent) never matches: "seen" stays false.
        columns.append(f"SUM(CASE WHEN {quote(field)} = %s THEN 1 ELSE 0 END)")
    client = quote(Transaction._meta.get_field("client").column)
    return f"SELECT {', '.join(columns)} FROM {table} WHERE {client} = %s AND {ts} >= %s AND {ts} <= %s"


def client_history_summary(
    *, client_pk: int, at: dt.datetime, beneficiary: str = "", device_id: str = "", country: str = ""
) -> HistorySummary:
    """The client's previous transactions aggregated in ONE query (``velocity.summarize``'s twin).

    ``WHERE client_id = %s AND timestamp BETWEEN at - 90 days AND at`` walks the
    ``transaction_client_time_idx`` index; every window is a conditional aggregate over
    those rows. Plain SQL, prepared once: building the equivalent ORM aggregate costs more
    than the query itself (measured in docs/fraud.md).
    """
    adapt = connection.ops.adapt_datetimefield_value
    params: list[Any] = []
    for span in WINDOWS.values():
        params += [adapt(at - span)] * 2
    params += [beneficiary or None, device_id or None, country or None, client_pk, adapt(at - LOOKBACK), adapt(at)]
    with connection.cursor() as cursor:
        cursor.execute(_velocity_sql(), params)
        row = cursor.fetchone()
    values = iter(row[1:])
    counts: dict[str, int] = {}
    sums: dict[str, float] = {}
    for name in WINDOWS:
        counts[name] = int(next(values) or 0)
        sums[name] = round(float(next(values) or 0), 2)
    beneficiary_seen, device_seen, country_seen = (bool(v) for v in values)
    return HistorySummary(
        counts=counts,
        sums=sums,
        history_count=int(row[0] or 0),
        beneficiary_seen=beneficiary_seen,
        device_seen=device_seen,
        country_seen=country_seen,
    )


def client_pk_get(*, client_id: str) -> int | None:
    """The primary key of a client by external id, or None (one indexed lookup, no ORM compilation)."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {quote('id')} FROM {quote(Client._meta.db_table)} WHERE {quote('client_id')} = %s", [client_id]
        )
        row = cursor.fetchone()
    return int(row[0]) if row else None


def transaction_list() -> QuerySet[Transaction]:
    """Transactions with their check (if screened), its model version and its alert."""
    return Transaction.objects.select_related(
        "client", "fraud_check", "fraud_check__model_version", "fraud_check__alert"
    )


def transaction_get_stored(*, transaction_id: str, submitted_by: str) -> Transaction | None:
    """The transaction this caller already submitted under this id, with everything its decision needs."""
    return transaction_list().filter(submitted_by=submitted_by, transaction_id=transaction_id).first()


class AmbiguousTransactionId(Exception):
    """Several callers submitted this ``transaction_id``, none of them the reader."""

    def __init__(self, count: int) -> None:
        super().__init__(count)
        self.count = count


def transaction_get_for_reader(*, transaction_id: str, reader: str) -> Transaction | None:
    """A transaction by id for someone reading the records (``/api/v1/transactions/<id>/``).

    Ids belong to their callers, so the same id may name several transactions: the reader's
    own comes first; otherwise the only one there is. Several others raise
    ``AmbiguousTransactionId`` (the list endpoint, filtered by ``transaction_id``, shows them).
    """
    found = list(transaction_list().filter(transaction_id=transaction_id)[:2]) if transaction_id else []
    if len(found) <= 1:
        return found[0] if found else None
    own = transaction_list().filter(transaction_id=transaction_id, submitted_by=reader).first()
    if own is not None:
        return own
    raise AmbiguousTransactionId(transaction_list().filter(transaction_id=transaction_id).count())


def fraud_rule_list() -> QuerySet[FraudRule]:
    return FraudRule.objects.all()


def _labels() -> dict[str, bool]:
    return {AlertResolution.CONFIRMED_FRAUD: True, AlertResolution.FALSE_POSITIVE: False}


def backtest_rows(
    *, start: dt.datetime | None, end: dt.datetime | None, limit: int
) -> Iterator[tuple[dict[str, Any], bool | None]]:
    """(feature snapshot, label) of the fraud checks of transactions in [start, end), newest first.

    The label is True for an alert resolved as confirmed fraud, False for a false positive,
    None otherwise (not alerted, or not resolved yet).
    """
    checks = FraudCheck.objects.all()
    if start is not None:
        checks = checks.filter(transaction__timestamp__gte=start)
    if end is not None:
        checks = checks.filter(transaction__timestamp__lt=end)
    labels = _labels()
    rows = checks.order_by("-transaction__timestamp").values_list("features", "alert__resolution")[:limit]
    for features, resolution in rows.iterator(chunk_size=2000):
        yield (features or {}), labels.get(resolution or "")


def labelled_checks() -> Iterator[tuple[dict[str, Any], bool]]:
    """Feature snapshots of resolved alerts with their label: training data from the analysts' work."""
    labels = _labels()
    rows = FraudAlert.objects.filter(status=AlertStatus.RESOLVED).values_list("fraud_check__features", "resolution")
    for features, resolution in rows.iterator(chunk_size=2000):
        if resolution in labels and features:
            yield features, labels[resolution]


def alert_queue() -> QuerySet[FraudAlert]:
    """Alerts with what the queue shows: open ones first, then by score."""
    return FraudAlert.objects.select_related(
        "fraud_check", "fraud_check__transaction", "fraud_check__transaction__client", "assignee"
    )
