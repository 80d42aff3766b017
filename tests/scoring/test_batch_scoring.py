"""A batch row is decided and explained exactly as /score decides and explains the same applicant.

The batch path checks whole columns, scores a chunk with one pass over the trees and
renders the stored JSON itself; these tests hold it to /score's own functions on the same
inputs: the schema's checks, LightGBM's TreeSHAP, the reason-code rule, the risk bands.
"""

from __future__ import annotations

import json
import math
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest
from django.conf import settings

from scoring.batch.files import ChunkRows
from scoring.batch.rows import check_rows, explainer_for, risk_levels, rounded_texts, score_rows
from scoring.ml.datasets import applicant_sample
from scoring.ml.explain import TreeShapExplainer
from scoring.ml.model import LoadedModel, objective_sigmoid, sha256_hex
from scoring.ml.schema import FeatureSchema
from scoring.services import risk_level_for
from scoring.validators import RESERVED_ID_MESSAGE
from tests.models import TrainedModel


@pytest.fixture(scope="module")
def model(trained_credit: TrainedModel) -> LoadedModel:
    text = trained_credit.result.model_text
    return LoadedModel(
        model_version_id=1,
        version="credit-test",
        purpose="credit",
        threshold=trained_credit.result.threshold,
        sha256=sha256_hex(text),
        schema=trained_credit.data.schema,
        booster=lgb.Booster(model_str=text.decode()),
        sigmoid=objective_sigmoid(text),
    )


def as_cells(frame: Any) -> ChunkRows:
    """A sample of applicants as the text cells a CSV chunk holds."""
    import pandas as pd

    columns = {name: ["" if pd.isna(v) else str(v) for v in frame[name]] for name in frame}
    return ChunkRows(np.arange(2, len(frame) + 2, dtype=np.int64), columns, {})


@pytest.mark.parametrize(
    ("cell", "as_json"),
    [
        ("35", 35),
        (" 35 ", 35),
        ("35.0", 35.0),
        ("3.5e1", 35.0),
        ("35.5", 35.5),
        ("16", 16),
        ("121", 121),
        ("-1", -1),
        ("abc", "abc"),
        ("1_000", "1_000"),
        ("1,5", "1,5"),
        ("٣٥", "٣٥"),  # Arabic-Indic digits: float() reads 35, a number the C way they are not
        ("３５", "３５"),  # full-width digits
        ("inf", math.inf),
        ("true", "true"),
    ],
)
def test_a_number_in_a_file_is_checked_by_the_rules_and_messages_of_score(
    cell: str, as_json: Any, model: LoadedModel
) -> None:
    """A CSV cell is text; JSON has types: "35" is the number 35 in a file, the string "35" in JSON."""
    checked = model.schema.validate_columns({"age": [cell], "revenu": ["1"], "historique_impaye": ["0"]}, 1)
    _, errors = model.schema.validate({"age": as_json, "revenu": 1, "historique_impaye": 0})
    assert checked.row_errors(0).get("age") == errors.get("age")
    if not errors:
        assert checked.matrix[0, 0] == float(as_json)


@pytest.mark.parametrize(("cell", "refused"), [("rent", False), (" rent ", False), ("castle", True), ("Rent", True)])
def test_a_category_must_be_one_of_the_features_but_its_value_is_not_repeated(
    cell: str, refused: bool, model: LoadedModel
) -> None:
    checked = model.schema.validate_columns(
        {"age": ["35"], "revenu": ["1"], "historique_impaye": ["0"], "home": [cell]}, 1
    )
    message = checked.row_errors(0).get("home")
    assert (message is not None) == refused
    if refused:
        assert message.startswith("Not one of: ignore, other, owner") and cell not in message


def test_rows_are_rejected_with_every_problem_and_the_others_kept(model: LoadedModel) -> None:
    chunk = ChunkRows(
        np.array([2, 3, 4, 5]),
        {
            "age": ["35", "", "40", "16"],
            "revenu": ["1", "2", "3", "x"],
            "historique_impaye": ["0", "1", "0", "0"],
            "home": ["", "rent", "castle", "rent"],
            "client_id": ["C1", "C2", "", "bad id"],
        },
        {6: "Expected 5 values, found 4."},
    )
    checked = check_rows(model.schema, chunk)
    assert checked.rows.tolist() == [2]
    assert checked.client_ids.tolist() == ["C1"]
    assert checked.rejects == {
        3: {"age": "This field is required."},
        4: {"home": "Not one of: ignore, other, owner, parents, priv, rent."},
        5: {
            "age": "Ensure this value is greater than or equal to 17.",
            "revenu": "A valid number is required.",
            "client_id": "Use 1-64 letters, digits, '_', '.', ':' or '-', starting with a letter or digit.",
        },
        6: {"row": "Expected 5 values, found 4."},
    }


def test_a_row_naming_an_erased_clients_token_is_rejected_not_scored(model: LoadedModel) -> None:
    """erased-… ids name erased clients (docs/privacy.md): a row under one would add data no request can erase."""
    chunk = ChunkRows(
        np.array([2, 3]),
        {
            "age": ["35", "40"],
            "revenu": ["1", "2"],
            "historique_impaye": ["0", "0"],
            "client_id": ["C1", "erased-3f9a1c2b7d4e-17"],
        },
        {},
    )
    checked = check_rows(model.schema, chunk)
    assert checked.rows.tolist() == [2] and checked.client_ids.tolist() == ["C1"]
    assert checked.rejects == {3: {"client_id": RESERVED_ID_MESSAGE}}


def test_the_memoised_treeshap_is_lightgbms_own_on_real_applicants_and_at_every_threshold(
    model: LoadedModel,
) -> None:
    frame = applicant_sample(3000, seed=11, columns=None)
    matrix = check_rows(model.schema, as_cells(frame)).matrix
    # Edge rows: values exactly at the model's thresholds, zeros, and missing values everywhere.
    rng = np.random.default_rng(3)
    edges = matrix[rng.integers(0, len(matrix), 2000)].copy()
    thresholds = {
        node["split_feature"]: node["threshold"]
        for tree in model.booster.dump_model()["tree_info"]
        for node in _walk(tree["tree_structure"])
        if node["decision_type"] == "<="
    }
    for feature, threshold in thresholds.items():
        pick = rng.random(len(edges)) < 0.3
        edges[pick, feature] = rng.choice([threshold, 0.0, np.nextafter(threshold, np.inf)], pick.sum())
    edges[rng.random(edges.shape) < 0.1] = np.nan
    edges[:, :3] = np.where(np.isnan(edges[:, :3]), 1.0, edges[:, :3])
    explainer = TreeShapExplainer(
        model.booster, {i: len(f.categories) for i, f in enumerate(model.schema) if f.categories}
    )
    for rows in (matrix, edges, matrix[:1], matrix[:0]):
        expected = model.booster.predict(rows, pred_contrib=True, num_threads=1) if len(rows) else np.zeros((0, 14))
        assert np.allclose(explainer.contributions(rows), expected, rtol=0, atol=1e-12)
    assert explainer.patterns > 0


def _walk(node: dict[str, Any]) -> list[dict[str, Any]]:
    if "split_index" not in node:
        return []
    return [node, *_walk(node["left_child"]), *_walk(node["right_child"])]


def test_each_batch_decision_is_the_decision_score_makes_for_the_same_applicant(model: LoadedModel) -> None:
    frame = applicant_sample(500, seed=12, columns=None)
    checked = check_rows(model.schema, as_cells(frame))
    scored = score_rows(model, checked, reason_count=settings.SCORE_REASON_COUNT, medium_fraction=0.5)
    assert not scored.exact_fallback
    for i in range(len(checked.rows)):
        features = json.loads(scored.features_json[i])
        # What /score does with that JSON payload (scoring.services._decisions):
        values, errors = model.schema.validate(features)
        assert not errors and values == features
        probability, contributions = model.score(model.schema.matrix([values]))
        assert scored.probabilities[i] == pytest.approx(float(probability[0]), abs=1e-12)
        assert scored.predictions[i] == int(float(probability[0]) >= model.threshold)
        assert scored.risk_levels[i] == risk_level_for(float(scored.probabilities[i]), model.threshold)
        reasons = model.reasons(contributions[0], values, settings.SCORE_REASON_COUNT)
        assert json.loads(scored.reasons_json[i]) == [r.as_dict() for r in reasons]


def test_the_batch_risk_bands_are_the_ones_of_score() -> None:
    probabilities = np.array([0.0, 0.049, 0.05, 0.0999, 0.1, 0.7, 1.0])
    assert risk_levels(probabilities, 0.1, settings.SCORE_MEDIUM_RISK_FRACTION).tolist() == [
        risk_level_for(float(p), 0.1) for p in probabilities
    ]


def test_contributions_are_rounded_exactly_as_a_reason_rounds_them() -> None:
    values = np.array([1.4656849999999, -0.0000005, 0.1234565, 2.5e-7, -3.0, 1e-12, 0.3352575000000001])
    assert rounded_texts(values).tolist() == [repr(round(float(v), 6)) for v in values]


def test_a_chunk_whose_memoised_reasons_disagree_with_lightgbm_is_explained_row_by_row(model: LoadedModel) -> None:
    frame = applicant_sample(200, seed=13, columns=None)
    checked = check_rows(model.schema, as_cells(frame))
    explainer = explainer_for(model)
    assert explainer is not None
    explainer.contributions(checked.matrix)  # learn the patterns, then corrupt what was learned
    saved = [tree.table.copy() for tree in explainer._trees]
    try:
        for tree in explainer._trees:
            tree.table += 0.5
        scored = score_rows(model, checked, reason_count=4, medium_fraction=0.5)
    finally:
        for tree, table in zip(explainer._trees, saved, strict=True):
            tree.table = table
    assert scored.exact_fallback
    exact = model.booster.predict(checked.matrix, pred_contrib=True, num_threads=1)
    expected = 1 / (1 + np.exp(-exact.sum(axis=1)))
    assert np.allclose(scored.probabilities, expected, atol=1e-12)


def test_a_bank_models_own_schema_checks_its_columns_the_same_way() -> None:
    schema = FeatureSchema.from_list(
        [
            {"name": "income", "type": "numeric", "min": 0, "max": 1e6, "required": True},
            {"name": "segment", "type": "categorical", "categories": ["a", "b"]},
        ]
    )
    checked = schema.validate_columns({"income": ["10", "-1", ""], "segment": ["a", "c", "b"]}, 3)
    assert checked.refused_rows().tolist() == [False, True, True]
    assert checked.row_errors(1) == {
        "income": "Ensure this value is greater than or equal to 0.",
        "segment": "Not one of: a, b.",
    }


def test_batch_decision_ids_are_version_7_uuids_increasing_within_a_chunk() -> None:
    import uuid
    from datetime import UTC, datetime

    from scoring.batch.writer import time_ordered_uuids

    now = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    ids = [uuid.UUID(hex=value) for value in time_ordered_uuids(1000, now)]
    assert {u.version for u in ids} == {7} and {u.variant for u in ids} == {uuid.RFC_4122}
    assert ids == sorted(ids) and len(set(ids)) == 1000
    assert int.from_bytes(ids[0].bytes[:6], "big") == int(now.timestamp() * 1000)  # the millisecond timestamp
    assert set(time_ordered_uuids(1000, now)).isdisjoint(u.hex for u in ids)  # another chunk, the same instant
