"""TreeSHAP from per-leaf tables (scoring.ml.leafshap) gives LightGBM's ``pred_contrib``.

The reasons of every credit decision come from these tables, so each test compares them
with LightGBM's own TreeSHAP: on the real models trained by the project's code and on
models trained here to reach every kind of split LightGBM makes (missing values sent
either way, zero as missing, categories, a feature split twice on one path, a tree
with no split). A model the tables cannot represent, or whose tables disagree with
LightGBM, keeps LightGBM's TreeSHAP.
"""

from __future__ import annotations

import itertools
import logging
import math
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest

from scoring.ml import leafshap
from scoring.ml.leafshap import LeafTreeShap, UnsupportedModel, leaf_answers
from scoring.ml.model import LoadedModel
from tests.models import TrainedModel

TOLERANCE = 1e-12


def _booster(trained: TrainedModel) -> lgb.Booster:
    return lgb.Booster(model_str=trained.result.model_text.decode())


def _real_rows(trained: TrainedModel, count: int = 400) -> np.ndarray:
    rng = np.random.default_rng(11)
    matrix = trained.data.encoded()[:count].copy()
    matrix[rng.random(matrix.shape) < 0.2] = np.nan  # a fifth of the values missing
    categorical = trained.data.schema.categorical_indices
    if categorical:
        unseen = rng.random((len(matrix), len(categorical))) < 0.05
        matrix[:, categorical] = np.where(unseen, 97.0, matrix[:, categorical])  # codes the model never saw
    return matrix


def _exact(booster: lgb.Booster, matrix: np.ndarray) -> np.ndarray:
    return np.asarray(booster.predict(matrix, pred_contrib=True, num_threads=1))


@pytest.mark.parametrize("which", ["trained_credit", "trained_fraud"])
def test_the_tables_give_lightgbms_contributions_on_the_real_models(which: str, request: pytest.FixtureRequest) -> None:
    trained = request.getfixturevalue(which)
    booster = _booster(trained)
    tables = LeafTreeShap(booster)
    rows = _real_rows(trained)
    exact = _exact(booster, rows)
    mine = tables.contributions(rows)
    assert mine.shape == exact.shape
    assert np.max(np.abs(mine - exact)) < TOLERANCE
    # Each row still adds up to the model's raw score.
    assert np.allclose(mine.sum(axis=1), booster.predict(rows, raw_score=True, num_threads=1), rtol=0, atol=1e-12)
    # The features no tree splits on get exactly zero, as from LightGBM.
    assert np.array_equal(mine[:, :-1] == 0.0, exact[:, :-1] == 0.0)
    # And the order of the reasons is LightGBM's.
    for got, want in zip(mine, exact, strict=True):
        assert np.argsort(-got[:-1], kind="stable").tolist() == np.argsort(-want[:-1], kind="stable").tolist()


@pytest.mark.parametrize("which", ["trained_credit", "trained_fraud"])
def test_one_row_is_answered_as_in_a_matrix_to_the_last_bit(which: str, request: pytest.FixtureRequest) -> None:
    """A request (one row) and a replay or batch (a matrix) must store the same reasons."""
    trained = request.getfixturevalue(which)
    tables = LeafTreeShap(_booster(trained))
    rows = np.concatenate([_real_rows(trained, 300), tables.check_rows(300)])  # more rows than a chunk
    matrix = tables.contributions(rows)
    for i, row in enumerate(rows):
        assert np.array_equal(tables.row(row), matrix[i])


@pytest.mark.parametrize("which", ["trained_credit", "trained_fraud"])
def test_the_check_rows_reach_thresholds_zero_missing_values_and_unknown_categories(
    which: str, request: pytest.FixtureRequest
) -> None:
    trained = request.getfixturevalue(which)
    booster = _booster(trained)
    tables = LeafTreeShap(booster)
    rows = tables.check_rows()
    assert np.isnan(rows).any() and (rows == 0.0).any()
    thresholds = {float(t) for t in tables.thresholds if not math.isnan(t)}
    assert thresholds & set(rows.ravel().tolist())  # values exactly on a threshold (LightGBM sends them left)
    assert tables.check(booster, rows) <= leafshap.CHECK_TOLERANCE


def _train(params: dict[str, Any], x: np.ndarray, y: np.ndarray, rounds: int = 12, **dataset: Any) -> lgb.Booster:
    settings = {"objective": "binary", "verbose": -1, "num_threads": 1, "min_data_in_leaf": 5, **params}
    return lgb.train(settings, lgb.Dataset(x, label=y, **dataset), num_boost_round=rounds)


def _data(rows: int = 600, seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 4))
    x[:, 3] = rng.integers(0, 6, rows)  # a categorical column (codes 0-5)
    y = ((x[:, 0] + (x[:, 3] % 2) + rng.normal(scale=0.5, size=rows)) > 0.5).astype(int)
    return x, y


def _probe(booster: lgb.Booster, x: np.ndarray) -> np.ndarray:
    """The training rows, with values on thresholds, zeros and missing values mixed in."""
    tables = LeafTreeShap(booster)
    rng = np.random.default_rng(1)
    rows = x.copy()
    rows[rng.random(rows.shape) < 0.15] = np.nan
    rows[rng.random(rows.shape) < 0.1] = 0.0
    return np.concatenate([rows, tables.check_rows(300)])


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"max_depth": 4, "num_leaves": 12}, id="missing values learnt as NaN"),
        pytest.param({"use_missing": False}, id="missing values compared as zero"),
        pytest.param({"zero_as_missing": True}, id="zero as missing"),
        pytest.param({"max_depth": 6, "num_leaves": 40, "min_data_in_leaf": 2}, id="deep trees"),
    ],
)
def test_every_kind_of_split_gets_lightgbms_contributions(params: dict[str, Any]) -> None:
    x, y = _data()
    x[np.random.default_rng(2).random(x.shape) < 0.1] = np.nan  # the model learns where missing values go
    booster = _train(params, x, y, categorical_feature=[3])
    tables = LeafTreeShap(booster)
    rows = _probe(booster, x)
    assert np.max(np.abs(tables.contributions(rows) - _exact(booster, rows))) < TOLERANCE


def test_a_feature_split_several_times_on_one_path() -> None:
    """One feature only: every path splits it again and again (LightGBM merges them into one
    path element; the tables multiply their shares and AND their tests)."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(800, 1))
    y = (np.sin(3 * x[:, 0]) > 0).astype(int)
    booster = _train({"max_depth": 6, "num_leaves": 30}, x, y, rounds=8)
    tables = LeafTreeShap(booster)
    rows = _probe(booster, x)
    assert np.max(np.abs(tables.contributions(rows) - _exact(booster, rows))) < TOLERANCE


def test_a_tree_without_a_split_is_all_bias() -> None:
    x, y = _data(rows=40)
    booster = _train({"min_data_in_leaf": 30}, x, y, rounds=3)  # too few rows to split: single-leaf trees
    tables = LeafTreeShap(booster)
    assert tables.leaves == 0
    rows = x[:10]
    assert np.max(np.abs(tables.contributions(rows) - _exact(booster, rows))) < TOLERANCE


def _shapley(value: float, shares: list[float], bits: tuple[int, ...]) -> list[float]:
    """Shapley values of one leaf's game, by enumerating every coalition (the definition)."""
    d = len(shares)

    def game(coalition: set[int]) -> float:
        out = value
        for j in range(d):
            out *= bits[j] if j in coalition else shares[j]
        return out

    phi = []
    for i in range(d):
        others = [j for j in range(d) if j != i]
        total = 0.0
        for size in range(d):
            weight = math.factorial(size) * math.factorial(d - size - 1) / math.factorial(d)
            for coalition in itertools.combinations(others, size):
                total += weight * (game({*coalition, i}) - game(set(coalition)))
        phi.append(total)
    return phi


def test_a_leafs_answers_are_the_shapley_values_of_its_game() -> None:
    shares = [0.3, 0.75, 0.5, 0.9]
    answers = leaf_answers(2.5, np.array(shares))
    assert answers.shape == (16, 4)
    for pattern in range(16):
        bits = tuple((pattern >> j) & 1 for j in range(4))
        assert answers[pattern] == pytest.approx(_shapley(2.5, shares, bits), abs=1e-15)
        # Efficiency: the values add up to the leaf's part of the prediction minus its expected part.
        reached = 2.5 if all(bits) else 0.0
        assert answers[pattern].sum() == pytest.approx(reached - 2.5 * math.prod(shares), abs=1e-15)


def test_models_the_tables_cannot_represent_are_refused() -> None:
    x, y = _data()
    multiclass = lgb.train(
        {"objective": "multiclass", "num_class": 3, "verbose": -1}, lgb.Dataset(x, label=y % 3), num_boost_round=2
    )
    with pytest.raises(UnsupportedModel, match="one tree per iteration"):
        LeafTreeShap(multiclass)
    linear = _train({"linear_tree": True}, x[:, :3], y)
    with pytest.raises(UnsupportedModel, match="linear"):
        LeafTreeShap(linear)


def test_a_path_deeper_than_the_tables_allow_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = _data()
    booster = _train({"max_depth": 5, "num_leaves": 20}, x, y)
    monkeypatch.setattr(leafshap, "MAX_DEPTH", 2)
    with pytest.raises(UnsupportedModel, match="at most 2"):
        LeafTreeShap(booster)


def _loaded(booster: lgb.Booster, schema: Any) -> LoadedModel:
    return LoadedModel(
        model_version_id=1,
        version="v1",
        purpose="credit",
        threshold=0.5,
        sha256="0" * 64,
        schema=schema,
        booster=booster,
    )


def test_a_loaded_model_explains_with_its_tables(trained_credit: TrainedModel) -> None:
    booster = _booster(trained_credit)
    model = _loaded(booster, trained_credit.data.schema)
    assert model.shap_tables() is not None
    rows = _real_rows(trained_credit, 50)
    probabilities, contributions = model.score(rows)
    assert np.max(np.abs(contributions - _exact(booster, rows))) < TOLERANCE
    assert np.allclose(probabilities, booster.predict(rows, num_threads=1), rtol=0, atol=1e-14)
    for i, row in enumerate(rows):
        assert np.array_equal(model.contributions(row[None])[0], contributions[i])


def test_a_model_whose_tables_disagree_keeps_lightgbms_treeshap(
    trained_credit: TrainedModel, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    booster = _booster(trained_credit)
    monkeypatch.setattr(leafshap, "CHECK_TOLERANCE", -1.0)  # no difference is small enough
    model = _loaded(booster, trained_credit.data.schema)
    with caplog.at_level(logging.WARNING, logger="scoring.ml.model"):
        assert model.shap_tables() is None
    assert "keeps LightGBM's TreeSHAP" in caplog.text
    rows = _real_rows(trained_credit, 20)
    assert np.array_equal(model.contributions(rows), _exact(booster, rows))
    assert np.array_equal(model.contributions(rows[:1])[0], _exact(booster, rows[:1])[0])  # single-row API


def test_a_model_the_tables_cannot_represent_keeps_lightgbms_treeshap(
    trained_credit: TrainedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    booster = _booster(trained_credit)
    monkeypatch.setattr(leafshap, "MAX_DEPTH", 3)  # the credit model's paths go 6 splits deep
    model = _loaded(booster, trained_credit.data.schema)
    assert model.shap_tables() is None
    rows = _real_rows(trained_credit, 20)
    assert np.array_equal(model.contributions(rows), _exact(booster, rows))
