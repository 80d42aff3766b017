"""The refer band: three outcomes per version, the missing-information referral, the batch path too."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import TestCase
from rest_framework.test import APIClient

from audit.models import AuditEvent
from scoring.batch.services import batch_job_submit
from scoring.ml.predictor import require_model
from scoring.models import Decision, ModelVersion
from scoring.services import model_version_set_refer_band, refer_band_check
from tests.factories import batch_caller
from tests.scoring.batchfiles import applicants_csv

pytestmark = pytest.mark.django_db

SEED = {"age": 35, "revenu": 50000, "historique_impaye": 1}
# Every feature of the default model: nothing is missing.
FULL = {
    "age": 30,
    "revenu": 130,
    "historique_impaye": 0,
    "seniority_years": 8,
    "home": "owner",
    "duration_months": 36,
    "marital_status": "married",
    "job": "fixed",
    "expenses": 60,
    "assets": 5000,
    "debt": 0,
    "amount": 1000,
    "price": 1300,
}


@pytest.fixture
def analyst(key_client: Callable[..., APIClient], credit_model: ModelVersion) -> APIClient:
    return key_client("analyst", ["score", "read"])


def band(model: ModelVersion, lower: float | None, upper: float | None) -> ModelVersion:
    """Set the band and run what its commit runs (the serving cache re-reads the registry)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return model_version_set_refer_band(model_version=model, lower=lower, upper=upper)


def score(api: APIClient, payload: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/api/v1/score", payload, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


# --- The rule and its audit trail ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("lower", "upper", "field"),
    [
        (0.2, 0.3, "refer_lower"),  # the threshold (0.099) is below the band
        (0.01, 0.05, "refer_upper"),  # ... above it
        (-0.1, 0.3, "refer_lower"),
        (0.05, 1.5, "refer_upper"),
        (0.05, None, "refer_upper"),
    ],
)
def test_a_band_must_hold_the_threshold_inside_zero_one(
    credit_model: ModelVersion, lower: float | None, upper: float | None, field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        band(credit_model, lower, upper)
    assert field in caught.value.message_dict
    credit_model.refresh_from_db()
    assert (credit_model.refer_lower, credit_model.refer_upper) == (None, None)


def test_the_rule_takes_a_zero_width_band_at_the_threshold() -> None:
    refer_band_check(threshold=0.1, lower=0.1, upper=0.1)
    refer_band_check(threshold=0.1, lower=None, upper=None)


def test_each_band_change_is_in_the_audit_trail_with_before_and_after(credit_model: ModelVersion) -> None:
    band(credit_model, 0.05, 0.2)
    band(credit_model, 0.05, 0.2)  # unchanged: no new event
    band(credit_model, None, None)
    events = list(AuditEvent.objects.filter(action="model.refer_band_changed").order_by("seq"))
    assert [e.details["after"] for e in events] == [
        {"refer_lower": 0.05, "refer_upper": 0.2},
        {"refer_lower": None, "refer_upper": None},
    ]
    assert events[1].details["before"] == {"refer_lower": 0.05, "refer_upper": 0.2}


# --- /score -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/score", "/api/v1/score"])
def test_without_a_band_score_answers_approve_or_refuse_as_before(
    analyst: APIClient, credit_model: ModelVersion, path: str
) -> None:
    for payload in (SEED, FULL, {**SEED, "historique_impaye": 0, "revenu": 300}):
        body = analyst.post(path, payload, format="json").json()
        assert body["decision"] == ("refuse" if body["prediction"] else "approve")
    assert not Decision.objects.filter(decision="refer").exists()


def test_a_score_inside_the_band_is_referred_and_keeps_the_models_verdict(
    analyst: APIClient, credit_model: ModelVersion
) -> None:
    p = score(analyst, FULL)["probability_default"]
    threshold = credit_model.threshold
    band(credit_model, min(p, threshold) - 0.01, max(p, threshold) + 0.01)
    body = score(analyst, FULL)
    assert body["probability_default"] == p
    assert body["decision"] == "refer"
    assert body["prediction"] == int(p >= threshold)  # the model's verdict is kept
    band(credit_model, threshold, threshold)  # p is outside this band; nothing important is missing
    assert score(analyst, FULL)["decision"] == ("refuse" if p >= threshold else "approve")


def test_too_much_of_the_models_importance_missing_is_referred(
    analyst: APIClient, credit_model: ModelVersion, settings: Any
) -> None:
    threshold = credit_model.threshold
    band(credit_model, threshold, threshold)
    model = require_model("credit")
    missing = float(model.missing_share(model.schema.matrix([SEED]))[0])
    assert 0.5 < missing < 1  # the seed's three features carry less than half of the model's gain
    body = score(analyst, SEED)
    assert body["probability_default"] != threshold
    assert body["decision"] == "refer"
    settings.SCORE_REFER_MISSING_SHARE = 1.0  # the rule off
    assert score(analyst, SEED)["decision"] in {"approve", "refuse"}
    settings.SCORE_REFER_MISSING_SHARE = round(missing, 6) + 0.001
    assert score(analyst, SEED)["decision"] in {"approve", "refuse"}


def test_the_root_path_says_referred_in_its_message(analyst: APIClient, credit_model: ModelVersion) -> None:
    band(credit_model, 0.0, 1.0)
    body = analyst.post("/score", SEED, format="json").json()
    assert body["decision"] == "refer"
    assert body["message"].startswith("Referred to an underwriter: probability of default ")


def test_the_band_serves_at_once_and_shows_in_the_registry_api(
    key_client: Callable[..., APIClient], analyst: APIClient, credit_model: ModelVersion
) -> None:
    assert score(analyst, FULL)["decision"] != "refer"
    band(credit_model, 0.0, 1.0)
    assert score(analyst, FULL)["decision"] == "refer"
    models = key_client("viewer", ["read"]).get("/api/v1/models/?purpose=credit").json()["results"]
    assert (models[0]["refer_lower"], models[0]["refer_upper"]) == (0.0, 1.0)


def test_the_score_batch_call_refers_as_score_does(analyst: APIClient, credit_model: ModelVersion) -> None:
    p = score(analyst, FULL)["probability_default"]
    threshold = credit_model.threshold
    band(credit_model, min(p, threshold) - 0.01, max(p, threshold) + 0.01)
    far = {**FULL, "historique_impaye": 3, "revenu": 20, "debt": 50000, "amount": 90000}
    response = analyst.post("/api/v1/score/batch", {"items": [FULL, SEED, far]}, format="json")
    assert response.status_code == 201, response.json()
    results = response.json()["results"]
    assert [r["decision"] for r in results[:2]] == ["refer", "refer"]  # in the band; information missing
    outside = results[2]
    assert not (band_lower(credit_model) <= outside["probability_default"] <= band_upper(credit_model))
    assert outside["decision"] == ("refuse" if outside["prediction"] else "approve")


def band_lower(model: ModelVersion) -> float:
    model.refresh_from_db()
    return float(model.refer_lower or 0)


def band_upper(model: ModelVersion) -> float:
    model.refresh_from_db()
    return float(model.refer_upper or 0)


# --- Batch jobs ---------------------------------------------------------------------------------------


def test_batch_jobs_apply_the_band_and_the_missing_rule_like_score(
    analyst: APIClient, credit_model: ModelVersion, django_capture_on_commit_callbacks: Any
) -> None:
    threshold = credit_model.threshold
    band(credit_model, max(threshold - 0.03, 0), threshold + 0.05)
    text = applicants_csv(150, seed=3, columns=None)
    with django_capture_on_commit_callbacks(execute=True):
        job = batch_job_submit(data=text.encode(), filename="a.csv", caller=batch_caller(), source="api")
    decisions = list(Decision.objects.filter(batch_job=job))
    assert len(decisions) == 150
    model = require_model("credit")
    # Each stored batch decision is what /score decides on the same snapshot.
    for d in decisions:
        api = score(analyst, {k: v for k, v in d.features.items() if v is not None})
        assert api["decision"] == d.decision, (d.batch_row, d.features)
    assert {d.decision for d in decisions} == {"approve", "refer", "refuse"}
    lower, upper = band_lower(credit_model), band_upper(credit_model)
    for d in decisions:
        p = d.probability_default
        features = {k: v for k, v in d.features.items() if v is not None}
        missing = float(model.missing_share(model.schema.matrix([features]))[0])
        assert (d.decision == "refer") == (lower <= p <= upper or missing > 0.5)
        assert d.prediction == int(p >= threshold)


def test_admins_edit_the_band_on_the_versions_page_checked_and_audited(credit_model: ModelVersion) -> None:
    from django.test import Client

    from tests.factories import UserFactory

    admin = Client()
    admin.force_login(UserFactory(roles=["admin"]))
    url = f"/admin/scoring/modelversion/{credit_model.pk}/change/"
    refused = admin.post(url, {"refer_lower": "0.2", "refer_upper": "0.3", "notes": ""})
    assert refused.status_code == 200  # the form again, with the rule's message
    assert "at or below the threshold" in refused.content.decode()
    with TestCase.captureOnCommitCallbacks(execute=True):
        saved = admin.post(url, {"refer_lower": "0.05", "refer_upper": "0.2", "notes": "band from the analysis"})
    assert saved.status_code == 302
    credit_model.refresh_from_db()
    assert (credit_model.refer_lower, credit_model.refer_upper) == (0.05, 0.2)
    event = AuditEvent.objects.get(action="model.refer_band_changed")
    assert event.actor.startswith("user:")
    analyst = Client()
    analyst.force_login(UserFactory(roles=["analyst"]))
    assert analyst.post(url, {"refer_lower": "", "refer_upper": "", "notes": ""}).status_code == 403
    credit_model.refresh_from_db()
    assert credit_model.refer_lower == 0.05
