"""Reads of the fraud domain."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from django.db.models import Count, Max, Q, QuerySet, Sum

from fraud.choices import AlertResolution, AlertStatus
from fraud.models import FraudAlert, FraudCheck, FraudRule, Transaction
from fraud.velocity import LOOKBACK, WINDOWS, HistorySummary


def client_history_summary(
    *, client_pk: int, at: dt.datetime, beneficiary: str = "", device_id: str = "", country: str = ""
) -> HistorySummary:
    """The client's previous transactions aggregated in ONE query (``velocity.summarize``'s twin).

    ``WHERE client_id = %s AND timestamp BETWEEN at - 90 days AND at`` walks the
    ``transaction_client_time_idx`` index; every window is a conditional aggregate
    (``COUNT(*) FILTER (WHERE ...)`` on PostgreSQL) over those rows.
    """
    aggregates: dict[str, Any] = {"history_count": Count("pk"), "last": Max("timestamp")}
    for name, span in WINDOWS.items():
        recent = Q(timestamp__gte=at - span)
        aggregates[f"count_{name}"] = Count("pk", filter=recent)
        aggregates[f"sum_{name}"] = Sum("amount", filter=recent)
    for key, field, value in (
        ("beneficiary_seen", "beneficiary", beneficiary),
        ("device_seen", "device_id", device_id),
        ("country_seen", "country", country),
    ):
        if value:
            aggregates[key] = Count("pk", filter=Q(**{field: value}))
    row = Transaction.objects.filter(client_id=client_pk, timestamp__gte=at - LOOKBACK, timestamp__lte=at).aggregate(
        **aggregates
    )
    return HistorySummary(
        counts={name: int(row[f"count_{name}"] or 0) for name in WINDOWS},
        sums={name: float(row[f"sum_{name}"] or Decimal(0)) for name in WINDOWS},
        history_count=int(row["history_count"] or 0),
        beneficiary_seen=bool(row.get("beneficiary_seen")),
        device_seen=bool(row.get("device_seen")),
        country_seen=bool(row.get("country_seen")),
    )


def transaction_list() -> QuerySet[Transaction]:
    """Transactions with their check (if screened), its model version and its alert."""
    return Transaction.objects.select_related(
        "client", "fraud_check", "fraud_check__model_version", "fraud_check__alert"
    )


def transaction_get_stored(*, transaction_id: str) -> Transaction | None:
    """A transaction already screened under this id, with everything its decision needs."""
    return transaction_list().filter(transaction_id=transaction_id).first()


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
