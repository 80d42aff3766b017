"""POST /score and /score/batch: the contract, the reasons, validation, idempotency, storage."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from scoring import services
from scoring.ml.schema import FeatureSchema
from scoring.models import Client, CreditApplication, Decision, ModelArtifact, ModelVersion, ReviewCase
from scoring.services import model_version_set_refer_band
from tests.factories import ClientFactory, CreditApplicationFactory
from tests.models import TrainedModel
from tests.services import require_postgresql

pytestmark = pytest.mark.django_db

SEED = {"age": 35, "revenu": 50000, "historique_impaye": 1}
CONTRACT = {
    "id",
    "client_id",
    "application_id",
    "probability_default",
    "prediction",
    "decision",
    "risk_level",
    "threshold_used",
    "model_version",
    "reasons",
    "created_at",
}


@pytest.fixture
def analyst(key_client: Callable[..., APIClient], credit_model: ModelVersion) -> APIClient:
    return key_client("analyst", ["score", "read"])


def _recomputed(trained: TrainedModel, features: dict[str, Any]) -> tuple[float, np.ndarray]:
    row = FeatureSchema.from_list(trained.data.schema.to_list()).row(features)[None, :]
    booster = trained.result.booster
    return float(booster.predict(row)[0]), booster.predict(row, pred_contrib=True)[0]


@pytest.mark.parametrize("path", ["/score", "/api/v1/score"])
def test_the_seed_payload_gets_every_contract_field(analyst: APIClient, credit_model: ModelVersion, path: str) -> None:
    response = analyst.post(path, SEED, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) >= CONTRACT
    assert 0 <= body["probability_default"] <= 1
    assert body["model_version"] == credit_model.version == response["X-Model-Version"]
    assert body["threshold_used"] == credit_model.threshold
    assert body["prediction"] == int(body["probability_default"] >= body["threshold_used"])
    assert body["decision"] == ("refuse" if body["prediction"] else "approve")
    assert body["risk_level"] in {"LOW", "MEDIUM", "HIGH"}
    assert 3 <= len(body["reasons"]) <= 5
    assert set(body["reasons"][0]) == {"feature", "label", "value", "contribution"}


def test_the_probability_is_the_models_and_the_reasons_are_its_pred_contrib(
    analyst: APIClient, trained_credit: TrainedModel
) -> None:
    applicant = {**SEED, "job": "partime", "seniority_years": 1, "amount": 1500, "price": 1600}
    body = analyst.post("/score", applicant, format="json").json()
    probability, contributions = _recomputed(trained_credit, applicant)
    assert body["probability_default"] == pytest.approx(probability, abs=1e-12)
    by_name = dict(zip(trained_credit.data.schema.names, contributions[:-1], strict=True))
    positive = sorted((n for n, c in by_name.items() if c > 0), key=lambda n: -by_name[n])
    assert [r["feature"] for r in body["reasons"]] == positive[: len(body["reasons"])]
    for reason in body["reasons"]:
        assert reason["contribution"] == pytest.approx(by_name[reason["feature"]], abs=1e-6)
        assert reason["value"] == applicant.get(reason["feature"])


def test_different_applicants_get_different_probabilities_and_decisions_follow_the_threshold(
    analyst: APIClient,
) -> None:
    applicants = [
        {"age": 23, "revenu": 60, "historique_impaye": 2, "job": "partime", "seniority_years": 0},
        {"age": 35, "revenu": 50000, "historique_impaye": 1},
        {"age": 48, "revenu": 250, "historique_impaye": 0, "job": "fixed", "seniority_years": 20, "home": "owner"},
    ]
    bodies = [analyst.post("/score", a, format="json").json() for a in applicants]
    probabilities = [b["probability_default"] for b in bodies]
    assert len(set(probabilities)) == 3
    assert probabilities[0] > probabilities[2]  # the risky profile scores riskier
    assert {b["decision"] for b in bodies} == {"approve", "refuse"}
    for body in bodies:
        assert body["prediction"] == int(body["probability_default"] >= body["threshold_used"])


def test_each_decision_is_stored_with_its_input_snapshot_and_listed(analyst: APIClient) -> None:
    body = analyst.post("/score", {**SEED, "client_id": "C1001"}, format="json").json()
    stored = Decision.objects.get(pk=body["id"])
    assert stored.features == SEED
    assert stored.caller.startswith("apikey:")
    assert stored.client.client_id == "C1001"
    listed = analyst.get("/api/v1/predictions/", {"client_id": "C1001"}).json()
    assert listed["count"] == 1
    contract = {k: v for k, v in body.items() if k not in ("score", "message")}  # the root path's seed fields
    assert listed["results"][0] == {**contract, "client_id": "C1001"}
    detail = analyst.get(f"/api/v1/predictions/{body['id']}/").json()
    assert detail["features"] == SEED
    # Read back, each reason lists its keys as the answer did (PostgreSQL's jsonb sorts them by length).
    for shown in (listed["results"][0], detail):
        assert [list(reason) for reason in shown["reasons"]] == [list(reason) for reason in body["reasons"]]


@pytest.mark.parametrize("path", ["/score", "/api/v1/score"])
def test_seed_clients_montant_credit_is_the_amount_requested_and_stored_under_that_name(
    analyst: APIClient, trained_credit: TrainedModel, path: str
) -> None:
    seed = {"client_id": "C1001", "age": 42, "revenu": 82000, "historique_impaye": 0, "montant_credit": 20000}
    response = analyst.post(path, seed, format="json")
    assert response.status_code == 201, response.json()
    features = {"age": 42, "revenu": 82000, "historique_impaye": 0, "amount": 20000}
    assert Decision.objects.get(pk=response.json()["id"]).features == features
    probability, _ = _recomputed(trained_credit, features)
    assert response.json()["probability_default"] == pytest.approx(probability, abs=1e-9)


def test_montant_credit_together_with_amount_is_a_400_naming_both(analyst: APIClient) -> None:
    response = analyst.post("/score", {**SEED, "montant_credit": 20000, "amount": 20000}, format="json")
    assert response.status_code == 400
    message = response.json()["fields"]["montant_credit"][0]
    assert "'montant_credit'" in message and "'amount'" in message
    assert not Decision.objects.exists()


def test_an_unknown_client_id_creates_the_client_and_a_known_one_is_linked(analyst: APIClient) -> None:
    known = ClientFactory(client_id="C0042")
    analyst.post("/score", {**SEED, "client_id": "C0042"}, format="json")
    analyst.post("/score", {**SEED, "client_id": "C9999"}, format="json")
    assert Decision.objects.filter(client=known).count() == 1
    assert Client.objects.get(client_id="C9999").decisions.count() == 1


@pytest.mark.parametrize("known", [True, False])
def test_the_decision_insert_finds_a_known_client_itself(analyst: APIClient, known: bool) -> None:
    """A known client costs no look-up of its own; an unknown one is created, then linked."""
    if known:
        ClientFactory(client_id="C0042")
    table = Client._meta.db_table
    with CaptureQueriesContext(connection) as queries:
        response = analyst.post("/score", {**SEED, "client_id": "C0042"}, format="json")
    assert response.status_code == 201 and response.json()["client_id"] == "C0042"
    reads = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("SELECT") and table in q["sql"]]
    assert len(reads) == (0 if known else 2)  # unknown: not found, then read back once created
    stored = Decision.objects.select_related("client").get(pk=response.json()["id"])
    assert stored.client.client_id == "C0042" and Client.objects.filter(client_id="C0042").count() == 1


def test_a_referred_decision_for_a_new_client_opens_its_case_linked_to_that_client(
    analyst: APIClient, credit_model: ModelVersion
) -> None:
    """The insert that finds the client also runs inside the referral's transaction."""
    with TestCase.captureOnCommitCallbacks(execute=True):  # the serving cache re-reads the registry
        model_version_set_refer_band(model_version=credit_model, lower=0.0, upper=1.0)  # every decision referred
    body = analyst.post("/score", {**SEED, "client_id": "C0777"}, format="json").json()
    assert body["decision"] == "refer" and body["client_id"] == "C0777"
    stored = Decision.objects.select_related("client").get(pk=body["id"])
    assert stored.client.client_id == "C0777" and stored.review_cases.count() == 1


def test_an_application_id_links_the_decision_and_marks_the_application_decided(analyst: APIClient) -> None:
    application = CreditApplicationFactory(application_id="APP-1")
    body = analyst.post("/score", {**SEED, "application_id": "APP-1"}, format="json").json()
    assert body["application_id"] == "APP-1"
    assert body["client_id"] == application.client.client_id
    application.refresh_from_db()
    assert application.status == "decided"


def test_an_application_is_read_once_and_marked_once(analyst: APIClient) -> None:
    """One look-up (application and client together), one update; a review case only when referred."""
    application = CreditApplicationFactory(application_id="APP-3")
    before = application.updated_at
    with CaptureQueriesContext(connection) as queries:
        body = analyst.post("/score", {**SEED, "application_id": "APP-3"}, format="json").json()
    assert body["application_id"] == "APP-3" and body["client_id"] == application.client.client_id
    table = CreditApplication._meta.db_table
    assert sorted(q["sql"].split()[0].upper() for q in queries if table in q["sql"]) == ["SELECT", "UPDATE"]
    assert any(ReviewCase._meta.db_table in q["sql"] for q in queries) == (body["decision"] == "refer")
    application.refresh_from_db()
    assert application.status == "decided" and application.updated_at > before


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({**SEED, "application_id": "APP-404"}, "application_id", "Unknown application"),
        ({**SEED, "client_id": "C 1"}, "client_id", "letters, digits"),
        ({**SEED, "client_id": 1001}, "client_id", "valid string"),
        ({**SEED, "age": 17.5}, "age", "valid integer"),
        ({**SEED, "age": 16}, "age", "greater than or equal to 17"),
        ({**SEED, "age": 121}, "age", "less than or equal to 120"),
        ({**SEED, "revenu": -5}, "revenu", "greater than or equal to 0"),
        ({**SEED, "revenu": "50000"}, "revenu", "valid number"),
        ({**SEED, "historique_impaye": True}, "historique_impaye", "valid number"),
        ({**SEED, "job": "astronaut"}, "job", "is not one of"),
        ({**SEED, "salaire": 3000}, "salaire", "Unknown field"),
        ({"revenu": 50000, "historique_impaye": 1}, "age", "required"),
        ({**SEED, "montant_credit": -1}, "montant_credit", "greater than or equal to 0"),
        ({**SEED, "montant_credit": 20000, "amount": 20000}, "montant_credit", "'amount'"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(
    analyst: APIClient, payload: dict[str, Any], field: str, message: str
) -> None:
    response = analyst.post("/score", payload, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "validation_error"
    assert any(message in m for m in body["fields"][field]), body
    assert not Decision.objects.exists()


def test_an_application_of_another_client_is_refused(analyst: APIClient) -> None:
    CreditApplicationFactory(application_id="APP-2", client=ClientFactory(client_id="C1"))
    response = analyst.post("/score", {**SEED, "application_id": "APP-2", "client_id": "C2"}, format="json")
    assert response.status_code == 400
    assert "another client" in response.json()["fields"]["application_id"][0]


@pytest.mark.parametrize("body", [[SEED], "age=35", 35, None])
def test_a_body_that_is_not_an_object_is_a_400(analyst: APIClient, body: Any) -> None:
    response = analyst.post("/score", body, format="json")
    assert response.status_code == 400


def test_a_viewer_cannot_score(client_as: Callable[[str | None], APIClient], credit_model: ModelVersion) -> None:
    response = client_as("viewer").post("/score", SEED, format="json")
    assert response.status_code == 403
    assert not Decision.objects.exists()


def test_an_api_key_without_the_score_scope_cannot_score(
    key_client: Callable[..., APIClient], credit_model: ModelVersion
) -> None:
    assert key_client("analyst", ["fraud"]).post("/score", SEED, format="json").status_code == 403


def test_without_a_champion_the_api_says_so_with_a_503(key_client: Callable[..., APIClient]) -> None:
    response = key_client("analyst").post("/score", SEED, format="json")
    assert response.status_code == 503
    assert "No usable credit model" in response.json()["detail"]


def test_a_champion_whose_stored_file_was_altered_is_not_served(analyst: APIClient, credit_model: ModelVersion) -> None:
    artifact = ModelArtifact.objects.get(model_version=credit_model)
    artifact.content = bytes(artifact.content).replace(b"Tree=0", b"Tree=9", 1)
    artifact.save()
    response = analyst.post("/score", SEED, format="json")
    assert response.status_code == 503
    assert not Decision.objects.exists()


# --- idempotency ------------------------------------------------------------------------


def test_the_same_idempotency_key_returns_the_stored_decision(analyst: APIClient) -> None:
    first = analyst.post("/score", SEED, format="json", HTTP_IDEMPOTENCY_KEY="order-77")
    again = analyst.post("/score", SEED, format="json", HTTP_IDEMPOTENCY_KEY="order-77")
    assert (first.status_code, again.status_code) == (201, 200)
    # The same bytes, not only the same JSON: the reasons read back from PostgreSQL (whose
    # jsonb sorts an object's keys by length) keep the order the first answer gave them.
    assert again.content == first.content
    assert list(again.json()["reasons"][0]) == ["feature", "label", "value", "contribution"]
    assert again["Idempotent-Replayed"] == "true"
    assert Decision.objects.count() == 1


def test_a_new_idempotency_key_is_checked_without_loading_a_decision(analyst: APIClient) -> None:
    """A key seen for the first time costs one look-up on the unique index, not the replay's joins."""
    with CaptureQueriesContext(connection) as queries:
        response = analyst.post("/score", SEED, format="json", HTTP_IDEMPOTENCY_KEY="order-80")
    assert response.status_code == 201
    table = Decision._meta.db_table
    assert not [q["sql"] for q in queries if table in q["sql"] and " JOIN " in q["sql"].upper()]
    assert str(Decision.objects.get(idempotency_key="order-80").pk) == response.json()["id"]


def test_an_idempotency_key_reused_with_another_body_is_a_409(analyst: APIClient) -> None:
    analyst.post("/score", SEED, format="json", HTTP_IDEMPOTENCY_KEY="order-78")
    response = analyst.post("/score", {**SEED, "age": 36}, format="json", HTTP_IDEMPOTENCY_KEY="order-78")
    assert response.status_code == 409
    assert Decision.objects.count() == 1


@pytest.mark.parametrize(
    ("first", "again"),
    [
        ({**SEED, "revenu": 50000}, {**SEED, "revenu": 50000.0}),
        ({**SEED, "amount": 1500}, {**SEED, "montant_credit": 1500.0}),  # the seed's name for the amount
        ({**SEED, "job": "fixed", "price": None}, {"job": "fixed", **SEED}),  # an explicit null is a missing value
        ({**SEED, "application_id": "A-77"}, {**SEED, "application_id": "A-77", "client_id": "C-77"}),
    ],
    ids=["int-and-float", "alias", "null-and-order", "the-application's-own-client"],
)
def test_the_same_applicant_spelt_another_way_is_a_replay_not_a_409(
    analyst: APIClient, first: dict[str, Any], again: dict[str, Any]
) -> None:
    """The key protects the applicant the model decides on, not the bytes of the body."""
    CreditApplicationFactory(application_id="A-77", client=ClientFactory(client_id="C-77"))
    stored = analyst.post("/score", first, format="json", HTTP_IDEMPOTENCY_KEY="order-90")
    replayed = analyst.post("/score", again, format="json", HTTP_IDEMPOTENCY_KEY="order-90")
    assert (stored.status_code, replayed.status_code) == (201, 200), replayed.content
    assert replayed["Idempotent-Replayed"] == "true"
    assert replayed.json()["id"] == stored.json()["id"]
    assert Decision.objects.count() == 1


@pytest.mark.parametrize(
    "again",
    [
        {**SEED, "revenu": 50000.5},
        {**SEED, "client_id": "C-78"},
        {**SEED, "job": "fixed"},
    ],
    ids=["another-value", "another-client", "one-more-feature"],
)
def test_another_applicant_under_the_same_key_is_still_a_409(analyst: APIClient, again: dict[str, Any]) -> None:
    assert analyst.post("/score", SEED, format="json", HTTP_IDEMPOTENCY_KEY="order-91").status_code == 201
    response = analyst.post("/score", again, format="json", HTTP_IDEMPOTENCY_KEY="order-91")
    assert response.status_code == 409
    assert Decision.objects.count() == 1


def test_a_decision_stored_with_the_old_body_hash_still_replays(analyst: APIClient) -> None:
    """Decisions stored before the fingerprint of the validated input hold the SHA-256 of the body as sent."""
    import hashlib
    import json

    sent = {**SEED, "client_id": "C-79"}
    stored = analyst.post("/score", sent, format="json", HTTP_IDEMPOTENCY_KEY="order-92")
    old_hash = hashlib.sha256(json.dumps(sent, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    Decision.objects.filter(pk=stored.json()["id"]).update(request_hash=old_hash)
    for again in (sent, {**sent, "revenu": 50000.0}):
        replayed = analyst.post("/score", again, format="json", HTTP_IDEMPOTENCY_KEY="order-92")
        assert replayed.status_code == 200, replayed.content
        assert replayed.json()["id"] == stored.json()["id"]
    conflict = analyst.post("/score", {**sent, "age": 36}, format="json", HTTP_IDEMPOTENCY_KEY="order-92")
    assert conflict.status_code == 409
    assert Decision.objects.count() == 1


@pytest.mark.django_db(transaction=True)  # autocommit, as in production: the race's loser commits alone
def test_the_loser_of_an_idempotency_race_leaves_no_client_behind(
    analyst: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two requests sharing a key, each naming a new client: the one that loses the insert creates nothing."""
    assert analyst.post("/score", {**SEED, "client_id": "C-WON"}, format="json", HTTP_IDEMPOTENCY_KEY="race-1")
    monkeypatch.setattr(services, "_key_taken", lambda caller, key: False)  # checked before the winner stored
    response = analyst.post("/score", {**SEED, "client_id": "C-LOST"}, format="json", HTTP_IDEMPOTENCY_KEY="race-1")
    assert response.status_code == 409, response.content
    assert not Client.objects.filter(client_id="C-LOST").exists()
    assert list(Client.objects.values_list("client_id", flat=True)) == ["C-WON"]
    assert Decision.objects.get().client.client_id == "C-WON"


def test_idempotency_keys_belong_to_their_caller(analyst: APIClient, key_client: Callable[..., APIClient]) -> None:
    other = key_client("analyst", ["score"])
    analyst.post("/score", SEED, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    other.post("/score", SEED, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    assert Decision.objects.count() == 2


def test_without_a_key_each_call_is_a_new_decision(analyst: APIClient) -> None:
    ids = {analyst.post("/score", SEED, format="json").json()["id"] for _ in range(3)}
    assert len(ids) == 3


def test_an_unusable_idempotency_key_is_a_400(analyst: APIClient) -> None:
    response = analyst.post("/score", SEED, format="json", HTTP_IDEMPOTENCY_KEY="x" * 201)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["fields"]


# --- batch --------------------------------------------------------------------------------


def test_a_batch_decides_every_applicant_like_single_calls_do(analyst: APIClient) -> None:
    items = [SEED, {"age": 52, "revenu": 180, "historique_impaye": 0, "job": "fixed", "client_id": "C77"}]
    response = analyst.post("/api/v1/score/batch", {"items": items}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["count"] == 2
    singles = [analyst.post("/score", item, format="json").json() for item in items]
    for batched, single in zip(body["results"], singles, strict=True):
        assert batched["probability_default"] == pytest.approx(single["probability_default"], abs=1e-12)
        assert batched["reasons"] == single["reasons"]
    assert body["results"][1]["client_id"] == "C77"
    assert Decision.objects.count() == 4


def test_a_batch_retried_with_its_idempotency_key_returns_the_stored_decisions(analyst: APIClient) -> None:
    """Found by review: the key was ignored here, so a retried batch decided everyone twice."""
    items = [SEED, {**SEED, "client_id": "C78"}, {"age": 52, "revenu": 180, "historique_impaye": 0}]
    first = analyst.post("/api/v1/score/batch", {"items": items}, format="json", HTTP_IDEMPOTENCY_KEY="run-1")
    again = analyst.post("/api/v1/score/batch", {"items": items}, format="json", HTTP_IDEMPOTENCY_KEY="run-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert again.content == first.content  # the same decisions, in the same order, byte for byte
    assert Decision.objects.count() == 3
    # The key names this batch only: the same key on /score is another decision.
    assert analyst.post("/score", SEED, format="json", HTTP_IDEMPOTENCY_KEY="run-1").status_code == 201
    assert Decision.objects.count() == 4


@pytest.mark.parametrize(
    "changed",
    [
        lambda items: [items[0], {**items[1], "age": 61}],  # an applicant changed
        lambda items: items[:1],  # fewer
        lambda items: [*items, SEED],  # more
    ],
    ids=["changed", "fewer", "more"],
)
def test_a_batch_idempotency_key_reused_with_another_batch_is_a_409(analyst: APIClient, changed: Any) -> None:
    items = [SEED, {**SEED, "client_id": "C79"}]
    assert (
        analyst.post("/api/v1/score/batch", {"items": items}, format="json", HTTP_IDEMPOTENCY_KEY="run-2").status_code
        == 201
    )
    response = analyst.post(
        "/api/v1/score/batch", {"items": changed(items)}, format="json", HTTP_IDEMPOTENCY_KEY="run-2"
    )
    assert response.status_code == 409, response.json()
    assert "different batch" in response.json()["detail"]
    assert Decision.objects.count() == 2


def test_a_batch_idempotency_key_of_200_characters_is_kept_whole(analyst: APIClient) -> None:
    key = "k" * 199 + "1"
    assert (
        analyst.post("/api/v1/score/batch", {"items": [SEED] * 3}, format="json", HTTP_IDEMPOTENCY_KEY=key).status_code
        == 201
    )
    other = "k" * 199 + "2"  # differs in its last character only: another batch
    assert (
        analyst.post(
            "/api/v1/score/batch", {"items": [SEED] * 3}, format="json", HTTP_IDEMPOTENCY_KEY=other
        ).status_code
        == 201
    )
    replay = analyst.post("/api/v1/score/batch", {"items": [SEED] * 3}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert replay.status_code == 200
    assert Decision.objects.count() == 6


def test_a_batch_whose_insert_fails_leaves_no_client_behind(analyst: APIClient) -> None:
    """The new clients a batch names are stored with its decisions or not at all."""
    require_postgresql()  # the refusal below is PostgreSQL's CHECK ... NOT VALID
    ClientFactory(client_id="KNOWN1")
    items = [{**SEED, "client_id": "NEW1"}, {**SEED, "client_id": "KNOWN1"}, {**SEED, "client_id": "NEW2"}]
    with connection.cursor() as cursor:  # the database refuses every new decision (rolled back with the test)
        cursor.execute("ALTER TABLE scoring_decision ADD CONSTRAINT test_refuse_all CHECK (false) NOT VALID")
    analyst.raise_request_exception = False
    response = analyst.post("/api/v1/score/batch", {"items": items}, format="json")
    assert response.status_code == 500
    assert not Decision.objects.exists()
    assert list(Client.objects.values_list("client_id", flat=True)) == ["KNOWN1"]


def test_a_batch_of_101_applicants_is_refused(analyst: APIClient) -> None:
    response = analyst.post("/api/v1/score/batch", {"items": [SEED] * 101}, format="json")
    assert response.status_code == 400
    assert "At most 100" in response.json()["fields"]["items"][0]
    assert not Decision.objects.exists()


def test_a_batch_of_exactly_100_is_accepted(analyst: APIClient) -> None:
    response = analyst.post("/api/v1/score/batch", {"items": [SEED] * 100}, format="json")
    assert response.status_code == 201
    assert Decision.objects.count() == 100


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"items": []}, "items"),
        ({"items": "all"}, "items"),
        ({}, "items"),
        ({"items": [SEED], "priority": "high"}, "priority"),
        ([SEED], "non_field_errors"),
    ],
)
def test_a_malformed_batch_is_a_400_naming_the_field(analyst: APIClient, body: Any, field: str) -> None:
    response = analyst.post("/api/v1/score/batch", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_one_bad_applicant_refuses_the_whole_batch_and_names_it(analyst: APIClient) -> None:
    items = [SEED, SEED, {**SEED, "age": 12}, {**SEED, "colour": "red"}]
    response = analyst.post("/api/v1/score/batch", {"items": items}, format="json")
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"items.2.age", "items.3.colour"}
    assert not Decision.objects.exists()


# --- read APIs ----------------------------------------------------------------------------


def test_predictions_filter_by_decision_model_version_and_dates(analyst: APIClient, credit_model: ModelVersion) -> None:
    for applicant in (
        {"age": 23, "revenu": 60, "historique_impaye": 2},
        {"age": 60, "revenu": 900, "historique_impaye": 0},
    ):
        analyst.post("/score", {**applicant, "job": "fixed"}, format="json")
    listed = analyst.get("/api/v1/predictions/").json()
    assert listed["count"] == 2
    outcomes = {r["decision"] for r in listed["results"]}
    for outcome in outcomes:
        filtered = analyst.get("/api/v1/predictions/", {"decision": outcome}).json()
        assert {r["decision"] for r in filtered["results"]} == {outcome}
    assert analyst.get("/api/v1/predictions/", {"model_version": credit_model.version}).json()["count"] == 2
    assert analyst.get("/api/v1/predictions/", {"model_version": "nope"}).json()["count"] == 0
    assert analyst.get("/api/v1/predictions/", {"created_after": "2999-01-01T00:00:00Z"}).json()["count"] == 0
    bad = analyst.get("/api/v1/predictions/", {"decision": "maybe"})
    assert bad.status_code == 400 and "decision" in bad.json()["fields"]


def test_models_lists_the_registry_with_schema_and_metrics(analyst: APIClient, credit_model: ModelVersion) -> None:
    body = analyst.get("/api/v1/models/", {"purpose": "credit", "status": "champion"}).json()
    assert body["count"] == 1
    entry = body["results"][0]
    assert entry["version"] == credit_model.version
    assert entry["feature_schema"][0]["name"] == "age"
    assert entry["metrics"]["auc"] > 0.8
    assert "artifact" not in entry and "reference_data" not in entry
