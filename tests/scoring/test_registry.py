"""The model registry: activation rules, the checked upload in the admin, comparison, shadow scoring."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from django.test import Client as BrowserClient
from rest_framework.test import APIClient

from scoring.ml.model import ArtifactError
from scoring.ml.predictor import get_model
from scoring.models import Decision, ModelArtifact, ModelVersion
from scoring.services import model_version_activate
from tests.factories import UserFactory
from tests.models import TrainedModel, register_trained

pytestmark = pytest.mark.django_db

SEED = {"age": 35, "revenu": 50000, "historique_impaye": 1}
ADD_URL = "/admin/scoring/modelversion/add/"
LIST_URL = "/admin/scoring/modelversion/"


def _staff(role: str) -> BrowserClient:
    browser = BrowserClient()
    browser.force_login(UserFactory(username=f"{role}-staff", roles=[role]))
    return browser


def test_activating_a_champion_retires_the_previous_one(trained_credit: TrainedModel) -> None:
    first = register_trained(trained_credit, version="v1", status="champion")
    second = register_trained(trained_credit, version="v2")
    activated = model_version_activate(model_version=second, status="champion")
    first.refresh_from_db()
    assert (activated.status, first.status) == ("champion", "retired")
    assert activated.activated_at is not None


def test_promoting_the_challenger_leaves_no_challenger(trained_credit: TrainedModel) -> None:
    register_trained(trained_credit, version="v1", status="champion")
    challenger = register_trained(trained_credit, version="v2", status="challenger")
    model_version_activate(model_version=challenger, status="champion")
    assert dict(ModelVersion.objects.values_list("version", "status")) == {"v1": "retired", "v2": "champion"}


def test_the_database_refuses_two_champions_for_one_purpose(trained_credit: TrainedModel) -> None:
    register_trained(trained_credit, version="v1", status="champion")
    second = register_trained(trained_credit, version="v2")
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(pk=second.pk).update(status="champion")


def test_a_version_whose_file_was_altered_cannot_be_activated(trained_credit: TrainedModel) -> None:
    draft = register_trained(trained_credit, version="v1")
    ModelArtifact.objects.filter(model_version=draft).update(content=b"tree\nfeature_names=x\nend of trees")
    with pytest.raises(ArtifactError):
        model_version_activate(model_version=draft, status="champion")
    draft.refresh_from_db()
    assert draft.status == "draft"


def _upload_form(trained: TrainedModel, **overrides: object) -> dict[str, object]:
    form: dict[str, object] = {
        "purpose": "credit",
        "version": "uploaded-1",
        "model_file": SimpleUploadedFile("model.txt", trained.result.model_text),
        "schema_json": json.dumps(trained.data.schema.to_list()),
        "threshold": "0.12",
        "metrics_json": json.dumps({"auc": 0.81}),
        "training_data": "bank portfolio 2025",
        "notes": "",
    }
    form.update(overrides)
    return form


def test_an_admin_uploads_a_model_file_with_its_schema_as_a_draft(trained_credit: TrainedModel) -> None:
    response = _staff("admin").post(ADD_URL, _upload_form(trained_credit))
    assert response.status_code == 302, response.content.decode()[:2000]
    uploaded = ModelVersion.objects.get(version="uploaded-1")
    assert uploaded.status == "draft"
    assert uploaded.threshold == 0.12
    assert bytes(uploaded.artifact_file.content) == trained_credit.result.model_text
    assert uploaded.created_by is not None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"model_file": SimpleUploadedFile("model.txt", b"\x00\x01garbage")}, "not a LightGBM model file"),
        ({"schema_json": "[{"}, "Not valid JSON"),
        ({"schema_json": json.dumps([{"name": "age", "type": "integer"}])}, "do not match the schema"),
        ({"threshold": "1.5"}, "between 0 and 1"),
        # JSON the database cannot store (PostgreSQL's json has no NaN): refused, never a 500.
        ({"metrics_json": '{"auc": NaN}'}, "Metrics are JSON numbers, text"),
        ({"metrics_json": '{"cost": [1, Infinity]}'}, "Metrics are JSON numbers, text"),
    ],
)
def test_a_bad_upload_is_refused_in_the_form_and_nothing_is_stored(
    trained_credit: TrainedModel, overrides: dict[str, object], message: str
) -> None:
    response = _staff("admin").post(ADD_URL, _upload_form(trained_credit, **overrides))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not ModelVersion.objects.exists()


@pytest.mark.parametrize(
    "name",
    [
        "credit-x\nSet-Cookie: a=b",  # a header of the model card's download (500 once stored)
        "x" * 51,  # longer than the column: a database error
        "credit x",
        "-credit",
    ],
)
def test_a_version_name_that_cannot_be_served_is_refused_by_the_registry(
    trained_credit: TrainedModel, name: str
) -> None:
    from scoring.services import ModelVersionRefused

    with pytest.raises(ModelVersionRefused, match="A version name is 1-50 letters") as refused:
        register_trained(trained_credit, version=name)
    assert refused.value.field == "version"
    assert not ModelVersion.objects.exists()


def test_a_version_name_already_registered_is_refused_naming_the_version(trained_credit: TrainedModel) -> None:
    from scoring.services import ModelVersionRefused

    register_trained(trained_credit, version="credit-taken")
    with pytest.raises(ModelVersionRefused, match="credit-taken is already registered") as refused:
        register_trained(trained_credit, version="credit-taken", threshold=0.2)
    assert refused.value.field == "version"
    assert ModelVersion.objects.count() == 1
    # The admin's upload form shows the registry's message on its field.
    response = _staff("admin").post(ADD_URL, _upload_form(trained_credit, version="credit x"))
    assert response.status_code == 200
    assert "A version name is 1-50 letters" in response.content.decode()
    assert ModelVersion.objects.count() == 1


def test_a_truncated_model_file_is_refused_in_the_form(trained_credit: TrainedModel) -> None:
    half = trained_credit.result.model_text[: len(trained_credit.result.model_text) // 2]
    response = _staff("admin").post(ADD_URL, _upload_form(trained_credit, model_file=SimpleUploadedFile("m.txt", half)))
    assert "truncated" in response.content.decode()
    assert not ModelVersion.objects.exists()


def test_an_analyst_cannot_upload_models(trained_credit: TrainedModel) -> None:
    assert _staff("analyst").post(ADD_URL, _upload_form(trained_credit)).status_code == 403
    assert not ModelVersion.objects.exists()


def test_the_admin_activate_action_swaps_the_champion_that_serves(
    trained_credit: TrainedModel, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    register_trained(trained_credit, version="v1", status="champion")
    second = register_trained(trained_credit, version="v2", threshold=0.5)
    assert get_model("credit").version == "v1"
    with django_capture_on_commit_callbacks(execute=True):
        response = _staff("admin").post(LIST_URL, {"action": "activate_champion", "_selected_action": [second.pk]})
    assert response.status_code == 302
    assert get_model("credit").version == "v2"  # this process reloads at once


def test_analysts_and_viewers_are_not_offered_the_activation_actions(trained_credit: TrainedModel) -> None:
    draft = register_trained(trained_credit, version="v1")
    for role in ("analyst", "viewer"):
        page = _staff(role).get(LIST_URL).content.decode()
        assert "activate_champion" not in page
        assert "compare_versions" in page
        _staff(role).post(LIST_URL, {"action": "activate_champion", "_selected_action": [draft.pk]})
    draft.refresh_from_db()
    assert draft.status == "draft"


def test_compare_shows_the_metrics_of_the_selected_versions_side_by_side(trained_credit: TrainedModel) -> None:
    a = register_trained(trained_credit, version="v1", status="champion")
    b = register_trained(trained_credit, version="v2")
    response = _staff("viewer").post(LIST_URL, {"action": "compare_versions", "_selected_action": [a.pk, b.pk]})
    page = response.content.decode()
    assert response.status_code == 200
    assert "v1" in page and "v2" in page
    assert str(trained_credit.result.metrics["auc"]) in page


def test_a_challenger_scores_in_shadow_stored_but_never_returned(
    trained_credit: TrainedModel, key_client: Callable[..., APIClient]
) -> None:
    register_trained(trained_credit, version="champ", status="champion")
    challenger = register_trained(trained_credit, version="chall", status="challenger", threshold=0.9)
    api = key_client("analyst")
    bodies = [
        api.post("/score", a, format="json").json()
        for a in (
            SEED,
            {"age": 23, "revenu": 60, "historique_impaye": 2},
            {"age": 50, "revenu": 400, "historique_impaye": 0},
        )
    ]
    assert all(b["model_version"] == "champ" and "shadow" not in json.dumps(b) for b in bodies)
    stored = Decision.objects.filter(shadow_model_version=challenger)
    assert stored.count() == 3
    for decision in stored:
        # Same booster, same inputs: same probability; only the threshold differs.
        assert decision.shadow_probability == pytest.approx(decision.probability_default)
        assert decision.shadow_prediction == int(decision.shadow_probability >= 0.9)

    page = _staff("viewer").get(f"/admin/scoring/modelversion/{challenger.pk}/change/").content.decode()
    agreement = sum(d.prediction == d.shadow_prediction for d in stored) / 3
    assert "3 decisions scored in shadow" in page
    assert f"{agreement:.1%}" in page


def test_without_a_challenger_nothing_is_scored_in_shadow(
    credit_model: ModelVersion, key_client: Callable[..., APIClient]
) -> None:
    key_client("analyst").post("/score", SEED, format="json")
    assert Decision.objects.get().shadow_model_version is None


@pytest.fixture
def draft(trained_credit: TrainedModel) -> ModelVersion:
    """A draft v2 next to the champion v1, for the activation endpoint."""
    register_trained(trained_credit, version="v1", status="champion")
    return register_trained(trained_credit, version="v2")


def test_the_api_activates_for_admins_and_refuses_a_broken_file(
    draft: ModelVersion, client_as: Callable[[str | None], APIClient]
) -> None:
    admin = client_as("admin")
    response = admin.post(f"/api/v1/models/{draft.pk}/activate/", {"status": "challenger"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "challenger"
    bad = admin.post(f"/api/v1/models/{draft.pk}/activate/", {"status": "retired"}, format="json")
    assert bad.status_code == 400 and "status" in bad.json()["fields"]
    ModelArtifact.objects.filter(model_version=draft).update(content=b"broken")
    broken = admin.post(f"/api/v1/models/{draft.pk}/activate/", {"status": "champion"}, format="json")
    assert broken.status_code == 400
    assert ModelVersion.objects.get(version="v1").status == "champion"


def test_an_admin_key_limited_to_reading_activates_nothing(
    draft: ModelVersion, key_client: Callable[..., APIClient]
) -> None:
    reader = key_client("admin", scopes=["read"])
    response = reader.post(f"/api/v1/models/{draft.pk}/activate/", {"status": "challenger"}, format="json")
    assert response.status_code == 403 and "'score' scope" in response.json()["detail"]
    assert ModelVersion.objects.get(pk=draft.pk).status == "draft"
    writer = key_client("admin", scopes=["score", "read"])
    response = writer.post(f"/api/v1/models/{draft.pk}/activate/", {"status": "challenger"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "challenger"


def test_a_default_model_registered_before_aliases_existed_gains_montant_credit_by_migration(
    trained_credit: TrainedModel, key_client: Callable[..., APIClient]
) -> None:
    from importlib import import_module

    from django.apps import apps

    migration = import_module("scoring.migrations.0004_default_credit_aliases")
    old = register_trained(trained_credit, status="champion")
    ModelVersion.objects.filter(pk=old.pk).update(
        feature_schema=[{k: v for k, v in f.items() if k != "aliases"} for f in old.feature_schema]
    )
    bank = ModelVersion.objects.create(
        purpose="credit", version="bank-1", sha256="1" * 64, threshold=0.5, dataset="CSV bank.csv (target y)",
        feature_schema=[{"name": "amount", "type": "numeric", "source": "Amount"}],
    )  # fmt: skip
    migration.add_aliases(apps, None)
    old.refresh_from_db()
    bank.refresh_from_db()
    assert [f.get("aliases") for f in old.feature_schema if f["name"] == "amount"] == [["montant_credit"]]
    assert "aliases" not in bank.feature_schema[0]  # a bank's own model keeps the names it was trained with
    api = key_client("analyst", ["score"])
    assert api.post("/score", {**SEED, "montant_credit": 9000}, format="json").status_code == 201


def test_activation_refuses_an_unknown_key_and_keeps_champion_as_the_default(
    draft: ModelVersion, client_as: Callable[[str | None], APIClient]
) -> None:
    """A misspelt key (``{"stauts": "challenger"}``) was read as an empty body: the version became champion."""
    admin = client_as("admin")
    typo = admin.post(f"/api/v1/models/{draft.pk}/activate/", {"stauts": "challenger"}, format="json")
    assert typo.status_code == 400 and typo.json()["fields"] == {"stauts": ["Unknown field."]}
    assert ModelVersion.objects.get(version="v1").status == "champion"
    assert ModelVersion.objects.get(version="v2").status != "champion"
    empty = admin.post(f"/api/v1/models/{draft.pk}/activate/", {}, format="json")
    assert empty.status_code == 200 and empty.json()["status"] == "champion"


def test_the_champion_is_never_made_challenger_so_a_purpose_keeps_serving(
    draft: ModelVersion, client_as: Callable[[str | None], APIClient]
) -> None:
    """Made challenger, the champion would leave the champion role empty: every /score a 503."""
    champion, admin = ModelVersion.objects.get(version="v1"), client_as("admin")
    response = admin.post(f"/api/v1/models/{champion.pk}/activate/", {"status": "challenger"}, format="json")
    assert response.status_code == 400, response.json()
    assert "leaves that role only when another version becomes champion" in response.json()["fields"]["status"][0]
    champion.refresh_from_db()
    assert champion.status == "champion"
    # Another version made champion retires it, as before.
    promoted = admin.post(f"/api/v1/models/{draft.pk}/activate/", {"status": "champion"}, format="json")
    assert promoted.status_code == 200
    champion.refresh_from_db()
    assert champion.status == "retired"
