"""POST /fraude and /api/v1/transactions/: the contract, replays, roles and bad inputs."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.roles import Role
from fraud.models import FraudAlert, FraudCheck, Transaction
from fraud.services import fraud_rule_save
from scoring.models import Client
from tests.factories import TransactionFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/fraude"
SEED = {"transaction_id": "TX12345", "montant": 2000, "type": "virement", "client_id": "C1001"}
CONTRACT = {"transaction_id", "fraud_score", "risk_level", "decision", "triggered_rules", "model_version"}


@pytest.fixture
def analyst(key_client: Callable[..., APIClient]) -> APIClient:
    return key_client(Role.ANALYST, ["fraud", "read"])


def test_the_seed_payload_with_an_analyst_key_returns_every_contract_field(
    analyst: APIClient, fraud_model: Any
) -> None:
    response = analyst.post(URL, SEED, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) >= CONTRACT
    assert body["transaction_id"] == "TX12345"
    assert 0 <= body["fraud_score"] <= 1
    assert body["risk_level"] in {"LOW", "MEDIUM", "HIGH"}
    assert body["decision"] in {"allow", "review", "block"}
    assert body["model_version"] == fraud_model.version
    assert response["X-Model-Version"] == fraud_model.version
    for rule in body["triggered_rules"]:
        assert {"name", "version", "reason"} <= set(rule)


def test_replaying_a_transaction_id_returns_the_same_decision_and_stores_nothing_new(
    analyst: APIClient, fraud_model: Any
) -> None:
    first = analyst.post(URL, {**SEED, "montant": 15000}, format="json")
    counts = (Transaction.objects.count(), FraudCheck.objects.count(), FraudAlert.objects.count())
    again = analyst.post(URL, {**SEED, "montant": 15000}, format="json")
    assert first.status_code == 201 and again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    # The same bytes: the fired rules and thresholds read back from PostgreSQL's jsonb keep
    # the order of the first answer.
    assert again.content == first.content
    body = again.json()
    assert list(body["triggered_rules"][0]) == ["name", "version", "action", "weight", "reason"]
    assert list(body["thresholds"]) == ["review", "block"]
    assert (Transaction.objects.count(), FraudCheck.objects.count(), FraudAlert.objects.count()) == counts
    assert counts == (1, 1, 1)  # 15000 fires high_amount (review): one alert, opened once


def test_the_same_transaction_id_for_another_transaction_is_a_conflict(analyst: APIClient) -> None:
    analyst.post(URL, SEED, format="json")
    response = analyst.post(URL, {**SEED, "montant": 2500}, format="json")
    assert response.status_code == 409
    assert response.json()["error"] == "conflict"
    assert FraudCheck.objects.count() == 1


# --- transaction ids belong to their caller ----------------------------------------------


def test_another_callers_transaction_id_is_a_new_transaction_not_a_replay(
    analyst: APIClient, key_client: Callable[..., APIClient]
) -> None:
    first = analyst.post(URL, {**SEED, "montant": 15000}, format="json")
    other = key_client(Role.ANALYST, ["fraud"])
    theirs = other.post(URL, {**SEED, "montant": 15000}, format="json")
    assert first.status_code == 201 and theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs
    assert theirs.json()["check_id"] != first.json()["check_id"]
    assert Transaction.objects.filter(transaction_id="TX12345").count() == 2
    assert FraudCheck.objects.count() == 2


def test_another_caller_reusing_an_id_for_a_different_transaction_learns_nothing(
    analyst: APIClient, key_client: Callable[..., APIClient]
) -> None:
    analyst.post(URL, SEED, format="json")
    other = key_client(Role.ANALYST, ["fraud"])
    response = other.post(URL, {**SEED, "montant": 2500, "client_id": "C2002"}, format="json")
    assert response.status_code == 201  # no 409: nothing says the id was used elsewhere
    assert response.json()["client_id"] == "C2002"


def test_each_caller_replays_its_own_stored_decision(analyst: APIClient, key_client: Callable[..., APIClient]) -> None:
    other = key_client(Role.ANALYST, ["fraud"])
    mine = analyst.post(URL, SEED, format="json").json()
    theirs = other.post(URL, {**SEED, "montant": 250000}, format="json").json()
    again_mine = analyst.post(URL, SEED, format="json")
    again_theirs = other.post(URL, {**SEED, "montant": 250000}, format="json")
    assert again_mine.status_code == again_theirs.status_code == 200
    assert again_mine.json() == mine and again_theirs.json() == theirs
    assert (mine["decision"], theirs["decision"]) == ("allow", "block")


def test_the_database_keeps_one_transaction_per_caller_and_id() -> None:
    from django.db import IntegrityError, transaction

    TransactionFactory(transaction_id="TX1", submitted_by="apikey:aaa")
    TransactionFactory(transaction_id="TX1", submitted_by="apikey:bbb")
    with pytest.raises(IntegrityError), transaction.atomic():
        TransactionFactory(transaction_id="TX1", submitted_by="apikey:aaa")


def test_the_detail_of_a_shared_id_is_the_readers_own_or_a_409_naming_the_filter(
    analyst: APIClient, key_client: Callable[..., APIClient], client_as: Callable[[str | None], APIClient]
) -> None:
    other = key_client(Role.ANALYST, ["fraud", "read"])
    analyst.post(URL, SEED, format="json")
    other.post(URL, {**SEED, "client_id": "C2002"}, format="json")
    assert analyst.get("/api/v1/transactions/TX12345/").json()["client_id"] == "C1001"
    assert other.get("/api/v1/transactions/TX12345/").json()["client_id"] == "C2002"
    viewer = client_as("viewer")
    ambiguous = viewer.get("/api/v1/transactions/TX12345/")
    assert ambiguous.status_code == 409 and "?transaction_id=" in ambiguous.json()["detail"]
    listed = viewer.get("/api/v1/transactions/?transaction_id=TX12345").json()["results"]
    assert sorted(t["client_id"] for t in listed) == ["C1001", "C2002"]
    assert len({t["submitted_by"] for t in listed}) == 2


def test_the_root_alias_serves_seed_clients(analyst: APIClient) -> None:
    response = analyst.post("/fraude", SEED, format="json")
    assert response.status_code == 201
    assert response.json()["model_version"] is None  # no fraud model registered: the rules decide


def test_an_unknown_client_id_is_created(analyst: APIClient) -> None:
    assert not Client.objects.filter(client_id="C1001").exists()
    analyst.post(URL, SEED, format="json")
    assert Transaction.objects.get(transaction_id="TX12345").client.client_id == "C1001"


def test_the_context_is_stored_with_the_transaction_and_feeds_the_rules(analyst: APIClient) -> None:
    night = (
        timezone.now().astimezone(dt.UTC).replace(hour=1, minute=30, second=0, microsecond=0)
    )  # 02:30 or 03:30 Paris
    if night > timezone.now():
        night -= dt.timedelta(days=1)
    payload = {
        **SEED,
        "timestamp": night.isoformat(),
        "currency": "eur",
        "country": "ng",
        "channel": "web",
        "beneficiary": "LT121000011101001000",
        "device_id": "dev-42",
        "merchant_category": "4829",
    }
    body = analyst.post(URL, payload, format="json").json()
    stored = Transaction.objects.get(transaction_id="TX12345")
    assert (stored.country, stored.currency, stored.channel, stored.merchant_category) == ("NG", "EUR", "web", "4829")
    assert stored.timestamp == night
    fired = {r["name"] for r in body["triggered_rules"]}
    assert {"night_foreign_transfer", "risky_merchant_abroad"} <= fired
    assert body["decision"] in {"review", "block"}
    snapshot = FraudCheck.objects.get().features
    assert "LT121000011101001000" not in str(snapshot) and "dev-42" not in str(snapshot)


def test_a_block_rule_blocks_and_opens_an_alert(analyst: APIClient) -> None:
    body = analyst.post(URL, {**SEED, "montant": 250000}, format="json").json()
    assert body["decision"] == "block" and body["risk_level"] == "HIGH"
    assert "extreme_amount" in {r["name"] for r in body["triggered_rules"]}
    assert FraudAlert.objects.get().pk == body["alert_id"]


def test_an_ordinary_payment_is_allowed_without_an_alert(analyst: APIClient, fraud_model: Any) -> None:
    body = analyst.post(URL, {**SEED, "montant": 35, "type": "carte", "channel": "pos"}, format="json").json()
    assert body["decision"] == "allow" and body["risk_level"] == "LOW" and body["alert_id"] is None
    assert not FraudAlert.objects.exists()


@pytest.mark.parametrize(
    ("role", "expected"),
    [("admin", 201), ("analyst", 201), ("viewer", 403), ("compliance", 403), (None, 401)],
)
def test_only_analysts_and_admins_check_fraud(
    client_as: Callable[[str | None], APIClient], role: str | None, expected: int
) -> None:
    response = client_as(role).post(URL, SEED, format="json")
    assert response.status_code == expected
    assert Transaction.objects.exists() == (expected == 201)


@pytest.mark.parametrize(
    ("role", "scopes", "expected"),
    [("analyst", ["fraud"], 201), ("analyst", ["score"], 403), ("viewer", ["fraud"], 403), ("analyst", None, 201)],
)
def test_api_keys_need_the_fraud_scope_and_a_deciding_role(
    key_client: Callable[..., APIClient], role: str, scopes: list[str] | None, expected: int
) -> None:
    assert key_client(role, scopes).post(URL, SEED, format="json").status_code == expected


def future(minutes: int) -> str:
    return (timezone.now() + dt.timedelta(minutes=minutes)).isoformat()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("montant", -1),
        ("montant", 10_000_001),
        ("montant", 1e300),
        ("montant", "beaucoup"),
        ("montant", "2000"),
        ("montant", None),
        ("montant", 12.345),
        ("montant", True),
        ("type", "bitcoin"),
        ("type", 3),
        ("transaction_id", "x" * 65),
        ("transaction_id", ""),
        ("transaction_id", "TX 1"),
        ("client_id", "C" * 65),
        ("client_id", 1001),
        ("beneficiary", "b" * 101),
        ("beneficiary", "line\nbreak"),
        ("beneficiary", "next\u0085line"),  # C1 controls are control characters too (NEL breaks a line)
        ("device_id", "csi\u009b2J"),
        ("beneficiary", "FR76 \u202e0987 6543"),  # shown reversed: another account to the eye
        ("beneficiary", "two\u2028lines"),
        ("device_id", "isolate\u2067d\u2069"),
        ("device_id", "d" * 101),
        ("country", "XX"),
        ("country", "FRA"),
        ("currency", "EURO"),
        ("currency", "€"),
        ("channel", "pigeon"),
        ("merchant_category", "54111"),
        ("merchant_category", "abcd"),
        ("timestamp", "yesterday"),
        ("timestamp", "2999-01-01T00:00:00Z"),
        ("timestamp", "1999-12-31T23:59:59Z"),
        ("date_transaction", "1999-12-31T23:59:59Z"),
        ("date_transaction", "2999-01-01T00:00:00Z"),
        ("currency", "ABC"),
        ("currency", "XXX"),
        ("devise", "ABC"),
        ("devise", 840),
        ("historique_impaye", -1),
        ("historique_impaye", 101),
        ("historique_impaye", "2"),
        ("historique_impaye", True),
        ("historique_impaye", 1.5),
        ("type", "dépôts"),
        ("colour", "blue"),
    ],
)
def test_a_bad_input_is_a_400_naming_the_field(analyst: APIClient, field: str, value: object) -> None:
    response = analyst.post(URL, {**SEED, field: value}, format="json")
    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["error"] == "validation_error"
    assert list(body["fields"]) == [field]
    assert not Transaction.objects.exists()


def test_a_timestamp_a_little_ahead_of_the_server_clock_is_accepted(analyst: APIClient) -> None:
    assert analyst.post(URL, {**SEED, "timestamp": future(2)}, format="json").status_code == 201
    assert (
        analyst.post(URL, {**SEED, "transaction_id": "TX2", "timestamp": future(30)}, format="json").status_code == 400
    )


def test_missing_seed_fields_are_named(analyst: APIClient) -> None:
    response = analyst.post(URL, {}, format="json")
    assert set(response.json()["fields"]) == {"transaction_id", "montant", "type", "client_id"}


def test_without_a_model_it_answers_503_when_a_model_is_required(analyst: APIClient, settings: Any) -> None:
    settings.FRAUD_REQUIRE_MODEL = True
    response = analyst.post(URL, SEED, format="json")
    assert response.status_code == 503
    assert not Transaction.objects.exists()


# --- /api/v1/transactions/ ------------------------------------------------------------------


def screen(api: APIClient, **overrides: Any) -> dict[str, Any]:
    response = api.post(URL, {**SEED, **overrides}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_transactions_are_listed_with_their_checks_newest_first(
    analyst: APIClient, client_as: Callable[[str | None], APIClient]
) -> None:
    screen(analyst, transaction_id="T1", timestamp=(timezone.now() - dt.timedelta(hours=2)).isoformat())
    screen(analyst, transaction_id="T2", montant=20000)
    TransactionFactory(transaction_id="IMPORTED")  # history recorded without a check
    body = client_as("viewer").get("/api/v1/transactions/").json()
    assert [t["transaction_id"] for t in body["results"]] == ["IMPORTED", "T2", "T1"]
    t2 = body["results"][1]
    assert t2["check"]["decision"] == "review" and t2["check"]["alert"]["status"] == "open"
    assert "beneficiary" not in t2 and "features" not in t2["check"]
    assert body["results"][0]["check"] is None
    # The check as /fraude answered it: its rules' and thresholds' keys in the same order.
    answered = screen(analyst, transaction_id="T3", montant=20000)
    listed = next(
        t for t in client_as("viewer").get("/api/v1/transactions/").json()["results"] if t["transaction_id"] == "T3"
    )
    assert listed["check"]["triggered_rules"] == answered["triggered_rules"]
    assert [list(rule) for rule in listed["check"]["triggered_rules"]] == [list(r) for r in answered["triggered_rules"]]
    assert list(listed["check"]["thresholds"]) == list(answered["thresholds"]) == ["review", "block"]


def test_transactions_filter_by_client_decision_and_date(analyst: APIClient) -> None:
    earlier = timezone.now() - dt.timedelta(days=3)
    screen(analyst, transaction_id="T1", client_id="C1", timestamp=earlier.isoformat())
    screen(analyst, transaction_id="T2", client_id="C2", montant=20000)
    screen(analyst, transaction_id="T3", client_id="C2")

    def ids(query: str) -> list[str]:
        return sorted(t["transaction_id"] for t in analyst.get(f"/api/v1/transactions/?{query}").json()["results"])

    assert ids("client_id=C2") == ["T2", "T3"]
    assert ids("decision=review") == ["T2"]
    after = (earlier + dt.timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert ids(f"after={after}") == ["T2", "T3"]
    assert ids(f"before={after}") == ["T1"]


def test_a_caller_polls_its_held_payments_for_the_analysts_outcome(
    analyst: APIClient, user_with_role: Callable[[str], Any]
) -> None:
    """A review holds the payment: the caller finds which alerts were resolved since it last asked, and how."""
    from fraud.services import fraud_alert_resolve, fraud_alert_take

    for tx in ("HELD1", "HELD2", "HELD3"):
        screen(analyst, transaction_id=tx, montant=20000)
    screen(analyst, transaction_id="PLAIN")
    worker = user_with_role("analyst")
    alerts = {
        a.fraud_check.transaction.transaction_id: a
        for a in FraudAlert.objects.select_related("fraud_check__transaction")
    }
    before = timezone.now()
    for tx, resolution in (("HELD1", "false_positive"), ("HELD2", "confirmed_fraud")):
        fraud_alert_take(alert=alerts[tx], user=worker)
        fraud_alert_resolve(alert=alerts[tx], user=worker, resolution=resolution, comment="Called the client.")

    def listed(query: str) -> dict[str, Any]:
        response = analyst.get(f"/api/v1/transactions/?{query}")
        assert response.status_code == 200, response.json()
        return {t["transaction_id"]: t["check"]["alert"] for t in response.json()["results"]}

    since = before.isoformat().replace("+00:00", "Z")
    resolved = listed(f"resolved_after={since}")
    assert resolved == {
        "HELD1": {"id": alerts["HELD1"].pk, "status": "resolved", "resolution": "false_positive"},
        "HELD2": {"id": alerts["HELD2"].pk, "status": "resolved", "resolution": "confirmed_fraud"},
    }
    assert list(listed("resolution=false_positive")) == ["HELD1"]  # release these payments
    assert list(listed("alert_status=open")) == ["HELD3"]  # still held
    later = (timezone.now() + dt.timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    assert listed(f"resolved_after={later}") == {}
    for query, field in (("alert_status=closed", "alert_status"), ("resolution=fraud", "resolution"),
                         ("resolved_after=yesterday", "resolved_after")):  # fmt: skip
        response = analyst.get(f"/api/v1/transactions/?{query}")
        assert response.status_code == 400 and field in response.json()["fields"], response.json()


def test_a_transaction_detail_has_the_decision_snapshot(analyst: APIClient) -> None:
    screen(analyst, beneficiary="FR7630006000011234567890189")
    body = analyst.get("/api/v1/transactions/TX12345/").json()
    assert body["beneficiary"] == "FR7630006000011234567890189"
    assert body["check"]["features"]["amount"] == 2000.0
    assert {"id", "rule", "version"} <= set(body["check"]["rule_versions"][0])
    assert analyst.get("/api/v1/transactions/NOPE/").status_code == 404


def test_transactions_are_paginated(analyst: APIClient) -> None:
    for i in range(3):
        TransactionFactory(transaction_id=f"P{i}")
    body = analyst.get("/api/v1/transactions/?page_size=2").json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]


@pytest.mark.parametrize(("role", "expected"), [("viewer", 200), ("analyst", 200), ("compliance", 403), (None, 401)])
def test_transactions_are_read_by_viewers_and_up(
    client_as: Callable[[str | None], APIClient], role: str | None, expected: int
) -> None:
    assert client_as(role).get("/api/v1/transactions/").status_code == expected


def test_the_openapi_document_describes_fraude_and_how_the_score_is_made(api_client: APIClient) -> None:
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()
    assert "/api/v1/fraude" in schema and "/api/v1/transactions/" in schema
    assert "noisy-OR" in schema and "FraudDecisionEnum" in schema


# --- seed clients' names and values ----------------------------------------------------------

SEED_PROFILE = {
    "transaction_id": "T-A001",
    "client_id": "C1001",
    "montant": 1500.00,
    "type": "paiement",
    "devise": "USD",
    "date_transaction": "2025-10-25T09:12:00Z",
}


def test_devise_and_date_transaction_are_stored_as_currency_and_timestamp(analyst: APIClient) -> None:
    response = analyst.post(URL, SEED_PROFILE, format="json")
    assert response.status_code == 201, response.json()
    stored = Transaction.objects.get(transaction_id="T-A001")
    assert (stored.type, stored.currency) == ("paiement", "USD")
    assert stored.timestamp == dt.datetime(2025, 10, 25, 9, 12, tzinfo=dt.UTC)
    snapshot = FraudCheck.objects.get().features
    assert snapshot["currency"] == "USD" and snapshot["is_foreign_currency"] is True
    assert "devise" not in snapshot and "date_transaction" not in snapshot


@pytest.mark.parametrize("currency", ["MAD", "mad", "GBP", "EUR"])
def test_iso_4217_currencies_are_accepted_under_either_name(analyst: APIClient, currency: str) -> None:
    for n, field in enumerate(("currency", "devise")):
        response = analyst.post(URL, {**SEED, "transaction_id": f"TX-{n}", field: currency}, format="json")
        assert response.status_code == 201, response.json()
    assert set(Transaction.objects.values_list("currency", flat=True)) == {currency.upper()}


@pytest.mark.parametrize(
    ("alias", "canonical", "value"),
    [("devise", "currency", "USD"), ("date_transaction", "timestamp", "2025-10-25T09:12:00Z")],
)
def test_an_alias_sent_with_its_canonical_name_is_a_400_naming_both(
    analyst: APIClient, alias: str, canonical: str, value: str
) -> None:
    response = analyst.post(URL, {**SEED, alias: value, canonical: value, "country": "XX"}, format="json")
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert f"'{alias}'" in fields[alias][0] and f"'{canonical}'" in fields[alias][0]
    assert "country" in fields  # the other problems are reported in the same answer
    assert not Transaction.objects.exists()


def test_a_timestamp_without_an_offset_is_utc(analyst: APIClient) -> None:
    analyst.post(URL, {**SEED, "date_transaction": "2025-10-01T12:00:00"}, format="json")
    assert Transaction.objects.get().timestamp == dt.datetime(2025, 10, 1, 12, tzinfo=dt.UTC)


def test_an_offset_timestamp_is_kept_as_the_same_instant(analyst: APIClient) -> None:
    analyst.post(URL, {**SEED, "timestamp": "2025-10-01T14:00:00+02:00"}, format="json")
    assert Transaction.objects.get().timestamp == dt.datetime(2025, 10, 1, 12, tzinfo=dt.UTC)


@pytest.mark.parametrize("field", ["timestamp", "date_transaction"])
@pytest.mark.parametrize("offset", ["+23:59", "-23:59", "+14:01", "-15:00"])
def test_a_timestamp_whose_offset_is_no_real_time_zone_is_a_400_naming_it(
    analyst: APIClient, field: str, offset: str
) -> None:
    """The list filters' ±14:00 (creditplatform.api.datetimes), on the body field too."""
    response = analyst.post(URL, {**SEED, field: f"2025-10-01T14:00:00{offset}"}, format="json")
    assert response.status_code == 400
    assert response.json()["fields"] == {field: ["The UTC offset must be between -14:00 and +14:00."]}
    assert not Transaction.objects.exists()


@pytest.mark.parametrize("offset", ["+14:00", "-12:00"])
def test_a_timestamp_at_the_ends_of_the_real_time_zones_is_scored(analyst: APIClient, offset: str) -> None:
    assert analyst.post(URL, {**SEED, "timestamp": f"2025-10-01T14:00:00{offset}"}, format="json").status_code == 201


@pytest.mark.parametrize("spelling", ["Dépôt", "depôt", "Depot", "DÉPÔT", "dépot"])
def test_a_type_spelled_with_case_or_accents_is_stored_as_the_canonical_type(
    analyst: APIClient, fraud_model: Any, spelling: str
) -> None:
    response = analyst.post(URL, {**SEED, "type": spelling}, format="json")
    assert response.status_code == 201, response.json()
    assert Transaction.objects.get().type == "depot"
    assert FraudCheck.objects.get().features["type"] == "depot"


def test_the_type_filter_takes_the_spellings_fraude_takes(analyst: APIClient) -> None:
    """A deposit sent as "Dépôt" is found with ?type=Dépôt as with ?type=depot; an unknown type is a 400 naming it."""
    screen(analyst, transaction_id="T1", type="Dépôt")
    screen(analyst, transaction_id="T2", type="virement")
    for spelling in ("depot", "Dépôt", "DEPOT", " dépot "):
        response = analyst.get("/api/v1/transactions/", {"type": spelling})
        assert response.status_code == 200, response.json()
        assert [t["transaction_id"] for t in response.json()["results"]] == ["T1"]
    refused = analyst.get("/api/v1/transactions/", {"type": "dépôts"})
    assert refused.status_code == 400
    assert list(refused.json()["fields"]) == ["type"]


def test_a_rule_on_the_canonical_type_fires_for_a_deposit_spelled_depot_with_accents(analyst: APIClient) -> None:
    fraud_rule_save(
        user=None, name="large_cash_deposit", condition='type == "depot" and amount >= 9000', action="review",
        weight=0.3, reason="Cash deposit of {amount}.", is_active=True,
    )  # fmt: skip
    body = analyst.post(URL, {**SEED, "type": "Dépôt", "montant": 9500}, format="json").json()
    assert "large_cash_deposit" in {r["name"] for r in body["triggered_rules"]}
    assert body["decision"] in {"review", "block"}


def test_paiement_is_a_type_of_its_own_that_the_model_knows(analyst: APIClient, fraud_model: Any) -> None:
    assert "paiement" in next(f for f in fraud_model.feature_schema if f["name"] == "type")["categories"]
    body = analyst.post(URL, {**SEED, "type": "PAIEMENT", "montant": 80}, format="json").json()
    assert body["model_score"] is not None
    assert Transaction.objects.get().type == "paiement"


def test_historique_impaye_is_client_context_a_rule_can_read(analyst: APIClient) -> None:
    fraud_rule_save(
        user=None, name="unpaid_history_transfer", condition="historique_impaye >= 3 and type == \"virement\"",
        action="review", weight=0.2, reason="{historique_impaye} past payment incidents.", is_active=True,
    )  # fmt: skip
    quiet = analyst.post(URL, {**SEED, "transaction_id": "TX-1", "historique_impaye": 0}, format="json").json()
    loud = analyst.post(URL, {**SEED, "transaction_id": "TX-2", "historique_impaye": 4}, format="json").json()
    absent = analyst.post(URL, {**SEED, "transaction_id": "TX-3"}, format="json").json()
    assert "unpaid_history_transfer" not in {r["name"] for r in quiet["triggered_rules"] + absent["triggered_rules"]}
    fired = {r["name"]: r["reason"] for r in loud["triggered_rules"]}
    assert fired["unpaid_history_transfer"] == "4 past payment incidents."
    assert FraudCheck.objects.get(transaction__transaction_id="TX-2").features["historique_impaye"] == 4


def test_replaying_a_transaction_with_another_historique_impaye_is_a_conflict(analyst: APIClient) -> None:
    assert analyst.post(URL, {**SEED, "historique_impaye": 1}, format="json").status_code == 201
    assert analyst.post(URL, {**SEED, "historique_impaye": 1}, format="json").status_code == 200
    assert analyst.post(URL, {**SEED, "historique_impaye": 2}, format="json").status_code == 409


def test_the_same_transaction_spelt_another_way_is_a_replay_not_a_conflict(analyst: APIClient) -> None:
    """A transaction id protects the validated transaction, not the bytes of the body (as the
    Idempotency-Key of /score does): 2000 and 2000.0 are one amount."""
    first = analyst.post(URL, {**SEED, "historique_impaye": 1}, format="json")
    again = analyst.post(URL, {"historique_impaye": 1.0, **SEED, "montant": 2000.0}, format="json")
    assert (first.status_code, again.status_code) == (201, 200), again.content
    assert again["Idempotent-Replayed"] == "true"
    assert FraudCheck.objects.count() == 1
    assert analyst.post(URL, {**SEED, "montant": 2000.01, "historique_impaye": 1}, format="json").status_code == 409


def test_a_transaction_from_october_2025_is_scored_as_of_its_own_time(analyst: APIClient) -> None:
    """History after a past transaction does not count in its velocity; history before it does."""
    client = analyst.post(URL, {**SEED, "transaction_id": "TX-now"}, format="json")  # today
    assert client.status_code == 201
    at = dt.datetime(2025, 10, 25, 9, 12, tzinfo=dt.UTC)
    for n, minutes in enumerate((30, 5)):
        stamp = (at - dt.timedelta(minutes=minutes)).isoformat()
        analyst.post(URL, {**SEED, "transaction_id": f"TX-before-{n}", "timestamp": stamp}, format="json")
    response = analyst.post(URL, {**SEED_PROFILE, "client_id": "C1001"}, format="json")
    assert response.status_code == 201, response.json()
    snapshot = FraudCheck.objects.get(transaction__transaction_id="T-A001").features
    assert snapshot["count_10m"] == 2 and snapshot["count_1h"] == 3  # the two before it, and itself
    assert snapshot["history_count"] == 2  # the transaction screened today is after it: not counted
    assert snapshot["hour"] == 11  # 09:12 UTC is 11:12 in Paris (summer time on 25 October 2025)


@pytest.mark.django_db(transaction=True)  # served as gunicorn serves it: each request commits
def test_a_check_leaves_nothing_for_the_garbage_collector(api_key_for: Callable[..., str], fraud_model: Any) -> None:
    """The stored rows must not point at each other both ways: a cycle per check (its features
    and fired rules included) was freed only by the collector, about every 45 checks, and pushed
    the rest of a worker's young objects towards the full collections the workers avoid."""
    import gc
    import json

    from django.db.models import Model
    from django.db.models.base import ModelState

    from bench.instructions import _wsgi
    from creditplatform.wsgi import application  # as gunicorn serves it

    # A rule of its own: a transactional test before this one may have flushed the seeded rules.
    fraud_rule_save(
        user=None, name="gc_large_amount", condition="amount >= 10000", action="review", weight=0.5, is_active=True
    )
    # A new client each time (no velocity): 20 is allowed, 15000 fires the rule.
    bodies = [
        json.dumps({**SEED, "transaction_id": "{TX}", "client_id": "C-{TX}", "montant": m}).encode()
        for m in (20, 15000)
    ]
    key = api_key_for(Role.ANALYST, ["fraud"])
    call = _wsgi(application, "/api/v1/fraude", bodies, key)
    replay = _wsgi(application, "/api/v1/fraude", [json.dumps({**SEED, "montant": 15000}).encode()], key)
    replay(0)
    call(0)
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for i in range(10):
            call(i)
        replay(0)  # a replay reads the stored rows: their links too
        gc.collect()
        # Rows, and what they hold. (Django's compiler leaves a small cycle of its own per query
        # with select_related: a nested function that calls itself.)
        left = [type(o).__name__ for o in gc.garbage if isinstance(o, Model | ModelState | dict)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert 0 < FraudAlert.objects.count() < FraudCheck.objects.count() == 12  # checks with and without an alert
    assert left == []


def test_a_rule_failing_on_a_transaction_is_logged_without_the_transaction_id_in_clear(
    analyst: APIClient, caplog: pytest.LogCaptureFixture
) -> None:
    """The caller's reference goes in the ``transaction_id`` extra, which every log line
    pseudonymises (tests/monitoring/test_redaction.py), never in the message text."""
    from monitoring.logging import pseudonym

    fraud_rule_save(
        user=None, name="ratio", condition="amount / (count_10m - 1) > 5", action="flag", weight=0.1, is_active=True
    )
    with caplog.at_level(logging.WARNING, logger="fraud.services"):
        body = analyst.post(URL, {**SEED, "transaction_id": "TX-RAW-4471"}, format="json").json()
    assert body["check_id"]
    (record,) = [r for r in caplog.records if "failed" in r.getMessage()]
    assert "ratio v1" in record.getMessage()
    assert "TX-RAW-4471" not in record.getMessage()
    # Raw until the configured handler's filter has seen the record, pseudonymised after.
    assert getattr(record, "transaction_id", None) in {"TX-RAW-4471", pseudonym("TX-RAW-4471")}


@pytest.mark.parametrize(
    ("montant", "message"),
    [
        ("0.30000000000000004", "Ensure that there are no more than 2 decimal places."),  # 0.1 + 0.2 in floating point
        ("1.234", "Ensure that there are no more than 2 decimal places."),
        ("1e308", "Ensure that there are no more than 12 digits before the decimal point."),
        ("1234567890123.5", "Ensure that there are no more than 12 digits before the decimal point."),
    ],
)
def test_an_amount_refused_for_its_precision_names_the_limit_it_broke(
    analyst: APIClient, montant: str, message: str
) -> None:
    """Found by review: each was "no more than 14 digits in total", the limit of neither part."""
    body = f'{{"transaction_id": "TX-P", "montant": {montant}, "type": "virement", "client_id": "C1001"}}'
    response = analyst.post(URL, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["fields"] == {"montant": [message]}
    assert not Transaction.objects.exists()
