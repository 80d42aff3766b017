"""Crafted model files: refused with a clear reason, and never able to crash or hang a process.

Each file below is the default credit model's own text, edited the way an attacker (or a
broken export) would, with ``tree_sizes`` kept consistent. Before these checks the file
with a child index outside its tree was accepted (it loads cleanly) and killed the first
process that asked it for reason codes (``pred_contrib``).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as BrowserClient
from rest_framework.test import APIClient

from scoring.choices import ModelPurpose
from scoring.ml import structure
from scoring.ml.model import MAX_ARTIFACT_BYTES, ArtifactError, load_booster, probe_in_subprocess, sha256_hex
from scoring.ml.probe import probe_rows
from scoring.ml.schema import CATEGORICAL, Feature, FeatureSchema
from scoring.models import Decision, ModelArtifact, ModelVersion
from scoring.services import model_version_activate, model_version_register
from tests.factories import UserFactory
from tests.models import TrainedModel
from tests.scoring.model_files import edit_header, edit_tree, map_trees, tree_line

SEED = {"age": 35, "revenu": 50000, "historique_impaye": 1}


def _replace_first(values: str, new: str) -> str:
    parts = values.split(" ")
    parts[0] = new
    return " ".join(parts)


def child_out_of_range(text: bytes) -> bytes:
    """Tree 3's root sends its left branch to node 40 of a 14-node tree."""
    return edit_tree(text, 3, "left_child", _replace_first(tree_line(text, 3, "left_child"), "40"))


def _categorical_split_on_numeric(text: bytes) -> bytes:
    kinds = tree_line(text, 0, "decision_type").split(" ")
    features = tree_line(text, 0, "split_feature").split(" ")
    node = next(i for i, kind in enumerate(kinds) if not int(kind) & 1 and features[i] == "1")  # revenu, numeric
    kinds[node] = str(int(kinds[node]) | 1)
    return edit_tree(text, 0, "decision_type", " ".join(kinds))


# (what the file does, how it is made, what the refusal says)
CRAFTED: list[tuple[str, Callable[[bytes], bytes], str]] = [
    ("child index outside the tree", child_out_of_range, "tree 3, node 0: child 40 is outside the tree's"),
    (
        "leaf index outside the tree",
        lambda t: edit_tree(t, 3, "left_child", _replace_first(tree_line(t, 3, "left_child"), "-99")),
        "leaf 98 is outside the tree's",
    ),
    (
        "a cycle back to the root",
        lambda t: edit_tree(t, 0, "right_child", _replace_first(tree_line(t, 0, "right_child"), "0")),
        "node 0 is reached twice",
    ),
    (
        "a split on a feature the model does not have",
        lambda t: edit_tree(t, 0, "split_feature", _replace_first(tree_line(t, 0, "split_feature"), "13")),
        "splits on feature 13, but the model has 13 features",
    ),
    (
        "a NaN threshold",
        lambda t: edit_tree(t, 0, "threshold", _replace_first(tree_line(t, 0, "threshold"), "nan")),
        "threshold: 'nan' is not a finite number",
    ),
    (
        "an infinite leaf value",
        lambda t: edit_tree(t, 1, "leaf_value", _replace_first(tree_line(t, 1, "leaf_value"), "inf")),
        "leaf_value: 'inf' is not a finite number",
    ),
    (
        "leaf values that overflow the raw score",
        lambda t: map_trees(t, "leaf_value", lambda v: " ".join("1e300" for _ in v.split(" "))),
        "not a credible log-odds",
    ),
    ("num_leaves that disagrees with the arrays", lambda t: edit_tree(t, 0, "num_leaves", "40"), "values, expected"),
    (
        "a zero data count (TreeSHAP would divide by it)",
        lambda t: edit_tree(t, 0, "internal_count", _replace_first(tree_line(t, 0, "internal_count"), "0")),
        "internal_count must be positive",
    ),
    ("a categorical split on a numeric feature", _categorical_split_on_numeric, "a categorical split on feature 1"),
    ("a linear tree", lambda t: edit_tree(t, 0, "is_linear", "1"), "linear trees are not served"),
    ("an unknown tree key", lambda t: edit_tree(t, 0, "is_linear", "0\nhack=1"), "unknown key 'hack'"),
    ("a NaN sigmoid", lambda t: edit_header(t, "objective", "binary sigmoid:nan"), "sigmoid"),
    ("two classes", lambda t: edit_header(t, "num_class", "2"), "num_class must be 1"),
    ("more features than names", lambda t: edit_header(t, "max_feature_idx", "99"), "max_feature_idx says 100"),
    (
        "tree_sizes that do not match the trees",
        lambda t: t.replace(b"tree_sizes=", b"tree_sizes=1", 1),
        "tree_sizes does not match",
    ),
    ("Windows line endings", lambda t: t.replace(b"\n", b"\r\n"), "CR or NUL"),
]


@pytest.mark.parametrize(("build", "message"), [c[1:] for c in CRAFTED], ids=[c[0] for c in CRAFTED])
def test_a_crafted_model_file_is_refused_before_lightgbm_parses_it(
    trained_credit: TrainedModel, build: Callable[[bytes], bytes], message: str
) -> None:
    with pytest.raises(ArtifactError, match="cannot be served") as refused:
        load_booster(build(trained_credit.result.model_text), trained_credit.data.schema)
    assert message in str(refused.value)


@pytest.mark.parametrize(
    ("limit", "value", "message"),
    [("MAX_TREES", 10, "77 trees; at most 10"), ("MAX_DEPTH", 3, "levels deep; at most 3")],
)
def test_a_model_too_big_to_explain_quickly_is_refused(
    trained_credit: TrainedModel, monkeypatch: pytest.MonkeyPatch, limit: str, value: int, message: str
) -> None:
    monkeypatch.setattr(structure, limit, value)
    with pytest.raises(ArtifactError, match=message):
        load_booster(trained_credit.result.model_text, trained_credit.data.schema)


def test_a_model_whose_explanations_would_cost_too_much_is_refused(
    trained_credit: TrainedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = structure.check_structure(trained_credit.result.model_text, trained_credit.data.schema).explain_work
    monkeypatch.setattr(structure, "MAX_EXPLAIN_WORK", work - 1)
    with pytest.raises(ArtifactError, match="TreeSHAP steps"):
        load_booster(trained_credit.result.model_text, trained_credit.data.schema)


def test_a_file_over_the_size_limit_is_refused_unread(trained_credit: TrainedModel) -> None:
    with pytest.raises(ArtifactError, match="larger than 50 MB"):
        load_booster(b"tree\n" + b" " * MAX_ARTIFACT_BYTES, trained_credit.data.schema)


def test_a_schema_with_one_feature_too_few_is_refused(trained_credit: TrainedModel) -> None:
    schema = FeatureSchema(trained_credit.data.schema.features[:-1])
    with pytest.raises(ArtifactError, match="in the model but not the schema: price"):
        load_booster(trained_credit.result.model_text, schema)


def test_the_default_models_pass_every_structural_check(
    trained_credit: TrainedModel, trained_fraud: TrainedModel
) -> None:
    for trained in (trained_credit, trained_fraud):
        found = structure.check_structure(trained.result.model_text, trained.data.schema)
        assert found.feature_names == tuple(trained.data.schema.names)
        assert found.trees == trained.result.booster.num_trees()


def test_the_probe_runs_contributions_and_survives_a_model_that_crashes_lightgbm(trained_credit: TrainedModel) -> None:
    # Straight to the child process, past the structural check: the segmentation fault at
    # pred_contrib happens there, and only there.
    with pytest.raises(ArtifactError, match="LightGBM crashed on it in a test process"):
        probe_in_subprocess(child_out_of_range(trained_credit.result.model_text).decode(), trained_credit.data.schema)
    # This process is unharmed: the sound model still predicts with contributions.
    booster = load_booster(trained_credit.result.model_text, trained_credit.data.schema)
    assert booster.predict(np.full((1, 13), np.nan), pred_contrib=True).shape == (1, 14)


def test_the_probe_rows_cover_each_features_bounds_missing_value_and_categories() -> None:
    schema = FeatureSchema(
        (
            Feature("age", "integer", min=17, max=120),
            Feature("income", "numeric", min=None, max=None),
            Feature("job", CATEGORICAL, categories=("fixed", "freelance", "other")),
        )
    )
    rows = probe_rows(schema)
    columns = [set(rows[:, i][~np.isnan(rows[:, i])].tolist()) for i in range(3)]
    assert columns[0] == {17.0, 120.0}
    assert columns[1] == {-1e300, 1e300, 0.0}
    assert columns[2] == {0.0, 1.0, 2.0}
    assert all(np.isnan(rows[:, i]).any() for i in range(3))
    assert np.isnan(rows[0]).all()


# --- every way in: admin upload, registration, activation, serving ------------------------


def _admin() -> BrowserClient:
    browser = BrowserClient()
    browser.force_login(UserFactory(username="admin-staff", roles=["admin"]))
    return browser


@pytest.mark.django_db
def test_an_admin_upload_of_a_model_that_crashes_lightgbm_is_refused_and_scoring_goes_on(
    trained_credit: TrainedModel, credit_model: ModelVersion, key_client: Callable[..., APIClient]
) -> None:
    form = {
        "purpose": "credit",
        "version": "crafted-1",
        "model_file": SimpleUploadedFile("model.txt", child_out_of_range(trained_credit.result.model_text)),
        "schema_json": json.dumps(trained_credit.data.schema.to_list()),
        "threshold": "0.12",
        "metrics_json": "{}",
        "training_data": "",
        "notes": "",
    }
    response = _admin().post("/admin/scoring/modelversion/add/", form)
    assert response.status_code == 200
    assert "child 40 is outside the tree" in response.content.decode()
    assert not ModelVersion.objects.filter(version="crafted-1").exists()
    # The web process that handled the upload still decides, with reason codes.
    scored = key_client("analyst", ["score"]).post("/score", SEED, format="json")
    assert scored.status_code == 201 and scored.json()["reasons"]


@pytest.mark.django_db
def test_registering_a_crafted_model_from_code_is_refused(trained_credit: TrainedModel) -> None:
    with pytest.raises(ArtifactError, match="child 40 is outside the tree"):
        model_version_register(
            purpose=ModelPurpose.CREDIT,
            version="crafted-2",
            artifact=child_out_of_range(trained_credit.result.model_text),
            feature_schema=trained_credit.data.schema.to_list(),
            threshold=0.1,
        )
    assert not ModelVersion.objects.exists()


@pytest.mark.django_db
def test_a_crafted_file_registered_before_these_checks_is_never_activated_nor_served(
    trained_credit: TrainedModel, key_client: Callable[..., APIClient]
) -> None:
    crafted = child_out_of_range(trained_credit.result.model_text)
    # As the registry holds it after an upload that only loaded the file.
    draft = ModelVersion.objects.create(
        purpose=ModelPurpose.CREDIT,
        version="legacy",
        sha256=sha256_hex(crafted),
        feature_schema=trained_credit.data.schema.to_list(),
        threshold=0.1,
    )
    ModelArtifact.objects.create(model_version=draft, content=crafted, size=len(crafted))
    with pytest.raises(ArtifactError, match="child 40 is outside the tree"):
        model_version_activate(model_version=draft, status="champion")
    # Even forced into service by hand, no process loads it: /score answers 503, in JSON.
    ModelVersion.objects.filter(pk=draft.pk).update(status="champion")
    response = key_client("analyst", ["score"]).post("/score", SEED, format="json")
    assert response.status_code == 503
    assert response.json()["error"] == "service_unavailable"
    assert not Decision.objects.exists()
