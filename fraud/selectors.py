"""Reads of the fraud domain."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from creditplatform.db import default_connection, execute_prepared
from fraud.choices import AlertResolution, AlertStatus
from fraud.models import ClientDayTotal, FraudAlert, FraudCheck, FraudRule, Transaction
from fraud.velocity import LOOKBACK, USUAL_WINDOW, WINDOWS, HistorySummary
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


@functools.cache
def _velocity_days_sql(by_external_id: bool = False) -> str:
    """The velocity query on PostgreSQL: whole days from the day totals, partial days from the rows.

    Three stretches of the client's history, disjoint, that add up to every window:

    - *recent*: the rows from the start of the UTC day holding ``at - 24h`` to ``at`` (at most
      two days of rows): the 10-minute, 1-hour and 24-hour windows in full, and their share
      of the 30-day window and the lookback;
    - *edges*: for the 30-day window and the 90-day lookback, the rows of the part-day at
      their lower end, from ``at - window`` to the next midnight;
    - *days*: the ``fraud_clientdaytotal`` rows of the whole days in between.

    So a client with 20,000 transactions in 90 days reads about three days of rows and 90
    day totals, not 20,000 rows. "Seen before" is one range of a partial index on (client,
    value, timestamp) per value, seen or never seen.

    ``by_external_id``: the client is named by its external id and its primary key comes
    back (NULL for a client not stored yet), then the primary key of the transaction this
    caller already stored under this ``transaction_id`` (NULL for a new one, one probe of the
    unique index): the look-ups and the history in one round trip.
    """
    quote = connection.ops.quote_name
    table = quote(Transaction._meta.db_table)
    totals = quote(ClientDayTotal._meta.db_table)
    ts, amount, client = quote("timestamp"), quote("amount"), quote(Transaction._meta.get_field("client").column)
    who = "(SELECT id FROM c)" if by_external_id else "%(client)s"
    # Each value is a named placeholder, sent once however often the statement uses it; an
    # instant compared with both ``timestamp`` and the totals' ``day`` is two values (``_day``),
    # each read by its column's input function. Sums go as float8 (what the caller computes
    # in), exact as numeric until then.
    recent = ", ".join(
        f"COUNT(*) FILTER (WHERE {ts} >= %(since_{name})s), "
        f"COALESCE(SUM({amount}) FILTER (WHERE {ts} >= %(since_{name})s), 0)::float8"
        for name in WINDOWS
    )

    def edge(start: str, end: str) -> str:
        return (
            f"(SELECT COUNT(*), COALESCE(SUM({amount}), 0)::float8 FROM {table} "
            f"WHERE {client} = {who} AND {ts} >= %({start})s AND {ts} < %({end})s)"
        )

    # One range of the partial index transaction_seen_<field>_idx on (client, value, timestamp):
    # bounded by the window, whatever the client's history and whether the value was seen or not
    # (``<> ''`` lets the planner use the partial index; a scalar subquery keeps the LIMIT).
    seen = [
        f"(%({field})s::text IS NOT NULL AND (SELECT 1 FROM {table} WHERE {client} = {who} "
        f"AND {quote(field)} = %({field})s::text AND {quote(field)} <> '' AND {ts} >= %(lookback)s "
        f"AND {ts} <= %(at)s ORDER BY {ts} DESC LIMIT 1) IS NOT NULL)"
        for field in ("beneficiary", "device_id", "country")
    ]
    # The client's key, then this caller's transaction under this id (the unique index's probe).
    looked_up = (
        f", {who}, (SELECT {quote('id')} FROM {table} WHERE {quote('submitted_by')} = %(caller)s "
        f"AND {quote('transaction_id')} = %(transaction_id)s)"
        if by_external_id
        else ""
    )
    lookup = (
        f"WITH c AS MATERIALIZED (SELECT {quote('id')} FROM {quote(Client._meta.db_table)} "
        f"WHERE {quote('client_id')} = %(client_id)s) "
        if by_external_id
        else ""
    )
    return (
        f"{lookup}SELECT recent.*, e30.*, e90.*, days.*, {', '.join(seen)}{looked_up} FROM "
        f"(SELECT COUNT(*), COALESCE(SUM({amount}), 0)::float8, {recent} FROM {table} "
        f"WHERE {client} = {who} AND {ts} >= %(recent)s AND {ts} <= %(at)s) AS recent, "
        f"{edge('month', 'month_days')} AS e30, {edge('lookback', 'lookback_days')} AS e90, "
        f"(SELECT COALESCE(SUM(count) FILTER (WHERE day >= %(month_days_day)s), 0), "
        f"COALESCE(SUM(amount) FILTER (WHERE day >= %(month_days_day)s), 0)::float8, "
        f"COALESCE(SUM(count), 0) FROM {totals} WHERE {quote('client_id')} = {who} "
        f"AND day >= %(lookback_days_day)s AND day < %(recent_day)s) AS days"
    )


def _next_midnight(instant: dt.datetime) -> dt.datetime:
    midnight = instant.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight if midnight == instant else midnight + dt.timedelta(days=1)


def client_history_summary(
    *, client_pk: int, at: dt.datetime, beneficiary: str = "", device_id: str = "", country: str = ""
) -> HistorySummary:
    """The client's previous transactions aggregated in ONE query (``velocity.summarize``'s twin).

    On PostgreSQL whole days come from the day totals the transaction trigger keeps
    (``_velocity_days_sql``): the cost no longer grows with the client's history. Elsewhere,
    ``WHERE client_id = %s AND timestamp BETWEEN at - 90 days AND at`` walks the
    ``transaction_client_time_idx`` index; every window is a conditional aggregate over
    those rows. Plain SQL, prepared once: building the equivalent ORM aggregate costs more
    than the query itself (measured in docs/fraud.md).
    """
    if connection.vendor == "postgresql":
        return _summary_from_days(
            client_pk=client_pk, at=at, beneficiary=beneficiary, device_id=device_id, country=country
        )[1]
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


@dataclass(frozen=True)
class ScreenLookup:
    """What screening a transaction reads before it decides (``transaction_screen_lookup``)."""

    client_pk: int | None  # None: the client is not stored yet
    history: HistorySummary
    stored_pk: int | None  # the transaction this caller already stored under this id (a replay)


def transaction_screen_lookup(
    *,
    caller: str,
    transaction_id: str,
    client_id: str,
    at: dt.datetime,
    beneficiary: str = "",
    device_id: str = "",
    country: str = "",
) -> ScreenLookup:
    """The client's primary key and history, and whether ``caller`` already sent ``transaction_id``.

    One round trip on PostgreSQL (``_velocity_days_sql``). A replay is known before any rule
    or model runs, so it costs the look-up and the read of the stored decision, not a
    decision and a failed insert.
    """
    db = default_connection()  # looked up once (about 10,000 instructions a look-up)
    if db.vendor == "postgresql":
        client_pk, summary, stored_pk = _summary_from_days(
            client_pk=None,
            screened=(client_id, caller, transaction_id),
            at=at,
            beneficiary=beneficiary,
            device_id=device_id,
            country=country,
            db=db,
        )
        return ScreenLookup(client_pk, summary if client_pk is not None else HistorySummary.empty(), stored_pk)
    found = client_pk_get(client_id=client_id)
    if found is None:  # a stored transaction has a stored client
        return ScreenLookup(None, HistorySummary.empty(), None)
    summary = client_history_summary(
        client_pk=found, at=at, beneficiary=beneficiary, device_id=device_id, country=country
    )
    return ScreenLookup(found, summary, _stored_transaction_pk(caller=caller, transaction_id=transaction_id))


def _stored_transaction_pk(*, caller: str, transaction_id: str) -> int | None:
    """The key of the transaction ``caller`` stored under ``transaction_id`` (elsewhere than on
    PostgreSQL, where the velocity statement probes it): one indexed look-up, no ORM compilation."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {quote('id')} FROM {quote(Transaction._meta.db_table)} "
            f"WHERE {quote('submitted_by')} = %s AND {quote('transaction_id')} = %s",
            [caller, transaction_id],
        )
        row = cursor.fetchone()
    return int(row[0]) if row else None


def _summary_from_days(
    *,
    client_pk: int | None,
    at: dt.datetime,
    beneficiary: str,
    device_id: str,
    country: str,
    screened: tuple[str, str, str] | None = None,
    db: Any = None,
) -> tuple[int | None, HistorySummary, int | None]:
    """With ``screened`` (client id, caller, transaction id) the client is named by its external
    id: its primary key, and the key of the caller's transaction stored under that id, come back."""
    by_external_id = screened is not None
    at = at.astimezone(dt.UTC)
    recent_from = (at - dt.timedelta(hours=24)).replace(hour=0, minute=0, second=0, microsecond=0)
    month_from, lookback_from = at - WINDOWS[USUAL_WINDOW], at - LOOKBACK
    month_days, lookback_days = _next_midnight(month_from), _next_midnight(lookback_from)
    # The instants go as ISO 8601 text, each formatted once, which PostgreSQL reads with the
    # column's type (timestamptz, or date for the day totals' midnights): psycopg2 adapts a
    # datetime for about 22,000 instructions. Each value is sent once (16 values; 31 when each
    # use of a value was a placeholder of its own).
    iso = dt.datetime.isoformat
    since = {f"since_{name}": iso(at - span) for name, span in WINDOWS.items()}
    month_days_, lookback_days_, recent_ = iso(month_days), iso(lookback_days), iso(recent_from)
    params: dict[str, Any] = {
        **(
            dict(zip(("client_id", "caller", "transaction_id"), screened, strict=True))
            if screened is not None
            else {"client": client_pk}
        ),
        "beneficiary": beneficiary or None,
        "device_id": device_id or None,
        "country": country or None,
        "at": iso(at),
        "lookback": iso(lookback_from),
        **since,
        "recent": recent_,
        "recent_day": recent_,
        "month": since[f"since_{USUAL_WINDOW}"],  # the 30-day window's start
        "month_days": month_days_,
        "month_days_day": month_days_,
        "lookback_days": lookback_days_,
        "lookback_days_day": lookback_days_,
    }
    with (db if db is not None else default_connection()).cursor() as cursor:
        execute_prepared(cursor, "fraud_velocity", _velocity_days_sql(by_external_id), params)
        row = cursor.fetchone()
    stored_pk = None
    if by_external_id:
        client_pk, stored_pk, row = row[-2], row[-1], row[:-2]
    recent_count, recent_sum = int(row[0]), float(row[1])
    windows = iter(row[2 : 2 + 2 * len(WINDOWS)])
    counts: dict[str, int] = {}
    sums: dict[str, float] = {}
    for name in WINDOWS:
        counts[name], sums[name] = int(next(windows)), float(next(windows))
    e30_count, e30_sum, e90_count, _, days30_count, days30_sum, days90_count = row[
        2 + 2 * len(WINDOWS) : 2 + 2 * len(WINDOWS) + 7
    ]
    # The 30-day window reaches past the recent stretch: its edge and its whole days add in.
    counts[USUAL_WINDOW] = recent_count + int(e30_count) + int(days30_count)
    sums[USUAL_WINDOW] = recent_sum + float(e30_sum) + float(days30_sum)
    beneficiary_seen, device_seen, country_seen = (bool(v) for v in row[-3:])
    summary = HistorySummary(
        counts=counts,
        sums={name: round(value, 2) for name, value in sums.items()},
        history_count=recent_count + int(e90_count) + int(days90_count),
        beneficiary_seen=beneficiary_seen,
        device_seen=device_seen,
        country_seen=country_seen,
    )
    return client_pk, summary, stored_pk


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
    """The transaction this caller already submitted under this id, with everything its decision needs.

    (``submitted_by``, ``transaction_id``) is unique, so the read is not ordered: ``first()``
    would sort by the model's ordering and compile that clause on every replay (a sixth of
    a replay's CPU, measured in docs/performance.md).
    """
    rows = transaction_list().filter(submitted_by=submitted_by, transaction_id=transaction_id).order_by()
    return next(iter(rows[:1]), None)


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
    # The detail shows every rule version the check evaluated: its rule set comes along.
    rows = transaction_list().select_related("fraud_check__rule_set")
    found = list(rows.filter(transaction_id=transaction_id)[:2]) if transaction_id else []
    if len(found) <= 1:
        return found[0] if found else None
    own = rows.filter(transaction_id=transaction_id, submitted_by=reader).first()
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
