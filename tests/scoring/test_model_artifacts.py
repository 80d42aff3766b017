"""Model files are checked before they serve, and reasons are LightGBM's own contributions."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from scoring.ml.model import ArtifactError, LoadedModel, load_booster, probe_in_subprocess, sha256_hex
from scoring.ml.schema import CATEGORICAL, Feature, FeatureSchema
from tests.models import TrainedModel


def _loaded(trained: TrainedModel) -> LoadedModel:
    booster = load_booster(trained.result.model_text, trained.data.schema, sha256_hex(trained.result.model_text))
    return LoadedModel(1, "v", "credit", trained.result.threshold, "", trained.data.schema, booster)


def test_a_sound_model_file_loads(trained_credit: TrainedModel) -> None:
    booster = load_booster(trained_credit.result.model_text, trained_credit.data.schema)
    assert booster.feature_name() == trained_credit.data.schema.names


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda text: b"", "empty"),
        (lambda text: b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "not text"),
        (lambda text: b"hello, I am a model", "not a LightGBM model file"),
        (lambda text: text[: len(text) // 2], "truncated"),
        (lambda text: text.replace(b"objective=binary", b"objective=regression"), "Only binary classifiers"),
    ],
)
def test_a_corrupt_model_file_is_refused_with_a_clear_reason(
    trained_credit: TrainedModel, mangle: object, message: str
) -> None:
    with pytest.raises(ArtifactError, match=message):
        load_booster(mangle(trained_credit.result.model_text), trained_credit.data.schema)  # type: ignore[operator]


def test_a_file_that_crashes_lightgbms_loader_is_refused_without_hurting_this_process(
    trained_credit: TrainedModel,
) -> None:
    # This mangled tree makes LightGBM abort the process that parses it. The structural check
    # refuses it before LightGBM sees it; the child process would have survived it too.
    mangled = trained_credit.result.model_text.replace(b"Tree=1\n", b"Tree=1\nleaf_value=oops\n")
    with pytest.raises(ArtifactError, match="tree_sizes does not match"):
        load_booster(mangled, trained_credit.data.schema, isolated=True)
    with pytest.raises(ArtifactError, match="crashed|cannot load"):
        probe_in_subprocess(mangled.decode(), trained_credit.data.schema)


def test_a_file_that_differs_from_its_registered_checksum_is_refused(trained_credit: TrainedModel) -> None:
    with pytest.raises(ArtifactError, match="SHA-256"):
        load_booster(trained_credit.result.model_text, trained_credit.data.schema, expected_sha256="0" * 64)


def test_a_schema_naming_other_features_is_refused(trained_credit: TrainedModel) -> None:
    features = list(trained_credit.data.schema.features)
    features[0] = Feature("age_in_days", "integer")
    with pytest.raises(ArtifactError, match="in the schema but not the model: age_in_days"):
        load_booster(trained_credit.result.model_text, FeatureSchema(tuple(features)))


def test_a_schema_listing_the_features_in_another_order_is_refused(trained_credit: TrainedModel) -> None:
    features = list(trained_credit.data.schema.features)
    features[0], features[1] = features[1], features[0]
    with pytest.raises(ArtifactError, match="another order"):
        load_booster(trained_credit.result.model_text, FeatureSchema(tuple(features)))


def test_a_schema_calling_a_categorical_feature_numeric_is_refused(trained_credit: TrainedModel) -> None:
    features = [
        Feature(f.name, "numeric", min=0, max=10) if f.type == CATEGORICAL else f
        for f in trained_credit.data.schema.features
    ]
    with pytest.raises(ArtifactError, match="categorical in the model but numeric in the schema"):
        load_booster(trained_credit.result.model_text, FeatureSchema(tuple(features)))


def test_contributions_add_up_to_the_models_log_odds(trained_credit: TrainedModel) -> None:
    model = _loaded(trained_credit)
    matrix = trained_credit.data.encoded()[:200]
    contributions = model.contributions(matrix)
    probabilities = model.probabilities(matrix)
    assert contributions.shape == (200, len(model.schema) + 1)
    assert np.allclose(1 / (1 + np.exp(-contributions.sum(axis=1))), probabilities, atol=1e-9)


def test_reasons_are_the_largest_positive_contributions_in_order(trained_credit: TrainedModel) -> None:
    model = _loaded(trained_credit)
    values = {"age": 23, "revenu": 60, "historique_impaye": 1, "job": "partime", "seniority_years": 0}
    contributions = model.contributions(model.schema.row(values)[None, :])[0]
    reasons = model.reasons(contributions, values, count=4)
    by_name = dict(zip(model.schema.names, contributions[:-1], strict=True))
    expected = sorted((n for n in by_name if by_name[n] > 0), key=lambda n: -by_name[n])[:4]
    assert [r.feature for r in reasons] == expected
    assert all(r.contribution == pytest.approx(by_name[r.feature]) for r in reasons)
    assert reasons[0].value == values.get(reasons[0].feature)
    assert reasons[0].label == model.schema[reasons[0].feature].display


def test_a_clear_approval_still_lists_three_reasons_the_negative_ones_last(trained_credit: TrainedModel) -> None:
    model = _loaded(trained_credit)
    contributions = np.array([-0.5, -0.4, 0.1, *([-0.01] * (len(model.schema) - 3)), -2.0])
    reasons = model.reasons(contributions, {}, count=4)
    assert [r.contribution for r in reasons] == pytest.approx([0.1, -0.01, -0.01])


def test_features_that_did_not_move_the_score_are_never_reasons(trained_credit: TrainedModel) -> None:
    model = _loaded(trained_credit)
    contributions = np.zeros(len(model.schema) + 1)
    contributions[4] = 0.3
    assert [r.feature for r in model.reasons(contributions, {}, count=4)] == [model.schema.names[4]]


def test_a_regression_model_is_not_mistaken_for_a_classifier() -> None:
    rows = np.random.default_rng(0).normal(size=(200, 2))
    booster = lgb.train(
        {"objective": "regression", "verbosity": -1}, lgb.Dataset(rows, rows[:, 0], feature_name=["a", "b"]), 5
    )
    schema = FeatureSchema((Feature("a"), Feature("b")))
    with pytest.raises(ArtifactError, match="Only binary"):
        load_booster(booster.model_to_string().encode(), schema)


def test_scoring_once_gives_the_probability_lightgbm_predicts(trained_credit: TrainedModel) -> None:
    model = _loaded(trained_credit)
    matrix = trained_credit.data.encoded()[:300]
    probabilities, contributions = model.score(matrix)
    assert np.allclose(probabilities, model.probabilities(matrix), rtol=0, atol=1e-12)
    assert np.array_equal(contributions, model.contributions(matrix))
