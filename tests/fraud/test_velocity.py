"""Velocity features: the windows, the usual amount, "new", and the one query that serves them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from django.db import connection

from fraud.selectors import client_history_summary
from fraud.velocity import HistorySummary, PastTransaction, summarize, velocity
from tests.factories import ClientFactory, TransactionFactory
from tests.services import require_postgresql

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


def ago(**delta: float) -> dt.datetime:
    return NOW - dt.timedelta(**delta)


def test_the_current_transaction_is_counted_in_every_window() -> None:
    v = velocity(HistorySummary.empty(), amount=80.0)
    assert v.counts == {"10m": 1, "1h": 1, "24h": 1, "30d": 1}
    assert v.sums == {"10m": 80.0, "1h": 80.0, "24h": 80.0, "30d": 80.0}


def test_each_window_counts_only_what_falls_inside_it() -> None:
    history = [
        PastTransaction(ago(minutes=5), 10.0),
        PastTransaction(ago(minutes=10), 20.0),  # on the 10-minute edge: inside
        PastTransaction(ago(minutes=11), 30.0),
        PastTransaction(ago(hours=5), 40.0),
        PastTransaction(ago(days=3), 50.0),
        PastTransaction(ago(days=31), 60.0),  # outside 30 days, inside the 90-day lookback
        PastTransaction(ago(days=91), 70.0),  # outside everything
        PastTransaction(NOW + dt.timedelta(minutes=1), 80.0),  # later than this one: not history
    ]
    summary = summarize(history, at=NOW)
    assert summary.counts == {"10m": 2, "1h": 3, "24h": 4, "30d": 5}
    assert summary.sums == {"10m": 30.0, "1h": 60.0, "24h": 100.0, "30d": 150.0}
    assert summary.history_count == 6


def test_the_usual_amount_needs_three_previous_transactions_in_30_days() -> None:
    two = summarize([PastTransaction(ago(days=1), 100.0), PastTransaction(ago(days=2), 300.0)], at=NOW)
    assert velocity(two, amount=1000.0).usual_amount is None
    three = summarize([PastTransaction(ago(days=d), a) for d, a in ((1, 100.0), (2, 300.0), (3, 200.0))], at=NOW)
    v = velocity(three, amount=1000.0)
    assert v.usual_amount == 200.0
    assert v.amount_vs_usual == 5.0


def test_a_beneficiary_is_new_until_paid_once_and_a_device_only_matters_with_history() -> None:
    first = velocity(summarize([], at=NOW, beneficiary="FR76X"), amount=10.0, beneficiary="FR76X", device_id="d1")
    assert first.new_beneficiary and not first.new_device
    history = [PastTransaction(ago(days=10), 10.0, beneficiary="FR76X", device_id="d1", country="FR")]
    again = summarize(history, at=NOW, beneficiary="FR76X", device_id="d2", country="ES")
    v = velocity(again, amount=10.0, beneficiary="FR76X", device_id="d2", country="ES")
    assert (v.new_beneficiary, v.new_device, v.new_country) == (False, True, True)
    assert not velocity(again, amount=10.0).new_beneficiary  # none sent: nothing is new


@pytest.mark.django_db
def test_the_velocity_query_agrees_with_the_in_memory_summary() -> None:
    """The one aggregate query of serving and the function training uses give the same figures."""
    rng = np.random.default_rng(3)
    client = ClientFactory()
    ClientFactory()  # another client's history must not count
    history = []
    for i in range(60):
        at = NOW - dt.timedelta(minutes=float(rng.uniform(0, 60 * 24 * 100)))
        amount = round(float(rng.uniform(1, 500)), 2)
        beneficiary = str(rng.choice(["FR76A", "FR76B", ""]))
        device = str(rng.choice(["d1", "d2", ""]))
        country = str(rng.choice(["FR", "ES", ""]))
        TransactionFactory(
            transaction_id=f"H{i}",
            client=client,
            timestamp=at,
            amount=Decimal(str(amount)),
            beneficiary=beneficiary,
            device_id=device,
            country=country,
        )
        history.append(PastTransaction(at, amount, beneficiary, device, country))
    TransactionFactory(client__client_id="OTHER", timestamp=ago(minutes=1), amount=Decimal("999"))
    for beneficiary, device, country in (("FR76A", "d2", "ES"), ("FR76Z", "d9", "IT"), ("", "", "")):
        stored = client_history_summary(
            client_pk=client.pk, at=NOW, beneficiary=beneficiary, device_id=device, country=country
        )
        expected = summarize(history, at=NOW, beneficiary=beneficiary, device_id=device, country=country)
        assert stored.counts == expected.counts
        assert stored.sums == pytest.approx(expected.sums)
        assert stored.history_count == expected.history_count
        assert (stored.beneficiary_seen, stored.device_seen, stored.country_seen) == (
            expected.beneficiary_seen,
            expected.device_seen,
            expected.country_seen,
        )


@pytest.mark.django_db
def test_as_of_a_past_instant_the_query_counts_the_history_before_it_and_nothing_after() -> None:
    """A replayed past transaction is scored as of its own time, by the same single query."""
    client = ClientFactory()
    history = []
    for i, minutes in enumerate((3, 8, 50, 60 * 30, -2, -60 * 24 * 3)):  # negative: after the instant
        at = ago(days=40) - dt.timedelta(minutes=minutes)
        TransactionFactory(transaction_id=f"P{i}", client=client, timestamp=at, amount=Decimal("10.00"))
        history.append(PastTransaction(at, 10.0))
    past = ago(days=40)
    stored = client_history_summary(client_pk=client.pk, at=past)
    assert stored == summarize(history, at=past)
    assert stored.counts == {"10m": 2, "1h": 3, "24h": 3, "30d": 4}
    assert stored.history_count == 4


@pytest.mark.django_db
def test_the_velocity_query_is_a_single_query(django_assert_num_queries) -> None:
    client = ClientFactory()
    TransactionFactory(client=client, timestamp=ago(minutes=3))
    with django_assert_num_queries(1):
        summary = client_history_summary(client_pk=client.pk, at=NOW, beneficiary="B", device_id="D", country="FR")
    assert summary.counts["10m"] == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "at",
    [
        NOW,
        dt.datetime(2026, 3, 10, 0, 0, tzinfo=dt.UTC),  # midnight: no part-day at the window edges
        dt.datetime(2026, 3, 9, 23, 59, 59, 999999, tzinfo=dt.UTC),
        NOW.astimezone(dt.timezone(dt.timedelta(hours=-11))),  # the same instant, in another offset
        NOW - dt.timedelta(days=45, minutes=7),  # a replayed past transaction
    ],
)
def test_the_day_totals_stay_exact_through_inserts_updates_and_deletes(at: dt.datetime) -> None:
    """Whole days from the totals the trigger keeps, part-days from the rows: the same figures as the rows alone."""
    from fraud.models import ClientDayTotal, Transaction

    rng = np.random.default_rng(5)
    client = ClientFactory()
    other = ClientFactory()
    rows: list[Transaction] = []
    edges = [at - span for span in (dt.timedelta(days=30), dt.timedelta(days=90), dt.timedelta(hours=24))]
    for i in range(400):
        if i < 12:  # on and around every window edge and midnight
            base = edges[i % 3]
            when = base + dt.timedelta(microseconds=int(rng.choice([-1, 0, 1])))
        else:
            when = at - dt.timedelta(minutes=float(rng.uniform(-60 * 24 * 5, 60 * 24 * 100)))
        rows.append(
            TransactionFactory(
                transaction_id=f"D{i}",
                client=client if i % 7 else other,
                timestamp=when,
                amount=Decimal(str(round(float(rng.uniform(1, 500)), 2))),
                beneficiary=str(rng.choice(["FR76A", "FR76B", ""])),
                device_id=str(rng.choice(["d1", "d2", ""])),
                country=str(rng.choice(["FR", "ES", ""])),
            )
        )
    # Writes after the fact: moved in time, re-amounted, moved to the other client, deleted.
    for row in rows[20:40]:
        row.timestamp -= dt.timedelta(days=float(rng.uniform(0, 20)))
        row.amount += Decimal("1.10")
        row.save(update_fields=["timestamp", "amount"])
    Transaction.objects.filter(pk__in=[r.pk for r in rows[40:50]]).update(client=other)
    Transaction.objects.filter(pk__in=[r.pk for r in rows[50:70]]).delete()
    kept = Transaction.objects.filter(client=client)
    history = [PastTransaction(t.timestamp, float(t.amount), t.beneficiary, t.device_id, t.country) for t in kept]
    if connection.vendor == "postgresql":  # elsewhere no trigger keeps totals and the rows alone answer
        assert ClientDayTotal.objects.filter(client=client).exists()
    for beneficiary, device, country in (("FR76A", "d2", "ES"), ("FR76Z", "d9", "IT"), ("", "", "")):
        stored = client_history_summary(
            client_pk=client.pk, at=at, beneficiary=beneficiary, device_id=device, country=country
        )
        expected = summarize(history, at=at, beneficiary=beneficiary, device_id=device, country=country)
        assert stored.counts == expected.counts
        assert stored.sums == pytest.approx(expected.sums)
        assert stored.history_count == expected.history_count
        assert (stored.beneficiary_seen, stored.device_seen, stored.country_seen) == (
            expected.beneficiary_seen,
            expected.device_seen,
            expected.country_seen,
        )


def _screen_lookup(client_id: str, caller: str = "key:7", transaction_id: str = "TX-NEW", **facts: str) -> Any:
    from fraud.selectors import transaction_screen_lookup

    return transaction_screen_lookup(caller=caller, transaction_id=transaction_id, client_id=client_id, at=NOW, **facts)


def _screened_client() -> tuple[Any, Any]:
    """A client with history, and a transaction ``TX-9`` that caller ``key:7`` sent."""
    client = ClientFactory(client_id="LOOK-1")
    for minutes in (3, 90, 60 * 24 * 40):
        TransactionFactory(client=client, timestamp=ago(minutes=minutes), beneficiary="FR76A")
    sent = TransactionFactory(client=client, timestamp=ago(minutes=5), transaction_id="TX-9", submitted_by="key:7")
    return client, sent


@pytest.mark.django_db
def test_the_screen_look_up_finds_the_client_its_history_and_a_replay_of_the_same_caller() -> None:
    from fraud.selectors import ScreenLookup

    client, sent = _screened_client()
    found = _screen_lookup("LOOK-1", beneficiary="FR76A", country="FR")
    assert found.client_pk == client.pk and found.stored_pk is None
    assert found.history == client_history_summary(client_pk=client.pk, at=NOW, beneficiary="FR76A", country="FR")
    assert _screen_lookup("LOOK-1", transaction_id="TX-9").stored_pk == sent.pk  # this caller sent it: a replay
    assert _screen_lookup("LOOK-1", caller="key:8", transaction_id="TX-9").stored_pk is None  # another caller's id
    assert _screen_lookup("LOOK-NOBODY") == ScreenLookup(None, HistorySummary.empty(), None)


@pytest.mark.django_db
def test_on_postgresql_the_client_look_up_its_history_and_the_replay_probe_are_one_query(
    django_assert_num_queries,
) -> None:  # type: ignore[no-untyped-def]
    require_postgresql()  # elsewhere the look-up is three plain queries
    _screened_client()
    _screen_lookup("LOOK-1")  # prepares the statement (once per database session)
    with django_assert_num_queries(1):
        assert _screen_lookup("LOOK-1", beneficiary="FR76A", country="FR").client_pk is not None
    with django_assert_num_queries(1):
        assert _screen_lookup("LOOK-1", transaction_id="TX-9").stored_pk is not None
    with django_assert_num_queries(1):
        assert _screen_lookup("LOOK-NOBODY").client_pk is None
