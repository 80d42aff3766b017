"""The seed's 60 request profiles (tests/data/batch_profiles.json), replayed against this platform.

Every profile gets a 2xx and a stored decision; the stored snapshots speak the platform's
canonical names; the seed's own answer fields are there on the root paths and absent under
/api/v1.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from fraud.models import FraudCheck, Transaction
from scoring.models import Decision

pytestmark = pytest.mark.django_db

PROFILES_FILE = Path(__file__).resolve().parents[1] / "data" / "batch_profiles.json"


def seed_profiles() -> dict[str, list[dict[str, Any]]]:
    # The seed's file ends with `//` comment lines after the JSON object: read the object only.
    profiles, _ = json.JSONDecoder().raw_decode(PROFILES_FILE.read_text(encoding="utf-8"))
    return profiles


@pytest.fixture
def api(key_client: Callable[..., APIClient], credit_model: Any, fraud_model: Any) -> APIClient:
    return key_client("analyst", ["score", "fraud", "read"])


def test_the_file_holds_the_seeds_60_profiles() -> None:
    profiles = seed_profiles()
    assert (len(profiles["score_profiles"]), len(profiles["fraude_transactions"])) == (30, 30)


def test_every_score_profile_is_decided_and_stored_under_canonical_names(api: APIClient, credit_model: Any) -> None:
    canonical = {f["name"] for f in credit_model.feature_schema}
    for profile in seed_profiles()["score_profiles"]:
        for path, seed_fields in (("/score", True), ("/api/v1/score", False)):
            response = api.post(path, profile, format="json")
            assert response.status_code in (200, 201), (path, profile, response.json())
            body = response.json()
            stored = Decision.objects.get(pk=body["id"])
            expected = {("amount" if k == "montant_credit" else k): v for k, v in profile.items() if k != "client_id"}
            assert stored.features == expected, profile
            assert set(stored.features) <= canonical
            assert stored.client.client_id == profile["client_id"]
            assert ({"score", "message"} <= set(body)) is seed_fields, (path, body)
            assert not seed_fields or body["score"] == body["probability_default"]
    assert Decision.objects.count() == 60


def test_every_fraude_profile_is_decided_and_stored_under_canonical_names(api: APIClient) -> None:
    transactions = seed_profiles()["fraude_transactions"]
    for profile in transactions:
        root = api.post("/fraude", profile, format="json")
        assert root.status_code in (200, 201), (profile, root.json())
        body = root.json()
        assert {"risque", "alert", "message"} <= set(body)
        assert body["risque"] == body["fraud_score"] and body["alert"] is (body["alert_id"] is not None)

        stored = Transaction.objects.select_related("client").get(transaction_id=profile["transaction_id"])
        assert stored.client.client_id == profile["client_id"]
        assert stored.amount == Decimal(str(profile["montant"])).quantize(Decimal("0.01"))
        assert (stored.type, stored.currency) == (profile["type"], profile["devise"])
        assert stored.timestamp == dt.datetime.fromisoformat(profile["date_transaction"])
        snapshot = FraudCheck.objects.get(transaction=stored).features
        assert snapshot["currency"] == profile["devise"] and snapshot["type"] == profile["type"]
        assert not {"devise", "date_transaction", "montant"} & set(snapshot)

        # The same transaction under /api/v1: its stored decision, in the clean contract.
        again = api.post("/api/v1/fraude", profile, format="json")
        assert again.status_code == 200, again.json()
        assert not {"risque", "alert", "message"} & set(again.json())
        assert again.json()["check_id"] == body["check_id"]
    assert (Transaction.objects.count(), FraudCheck.objects.count()) == (30, 30)
