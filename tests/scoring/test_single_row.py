"""LightGBM's single-row API (scoring.ml.single_row) gives ``Booster.predict``'s numbers, to the last bit.

``/fraude`` and ``/score`` predict one row's probability per request through it, and models
without TreeSHAP tables (``scoring.ml.leafshap``) their contributions; batch jobs and replays
still call ``Booster.predict`` on whole matrices. A decision must not depend on which of
the two made it, so every comparison here is exact: the real credit and fraud models
trained by the project's own code, on their own data with values removed at random (missing
values follow each split's default direction) and category codes the model never saw.

If a lightgbm upgrade renames the private names the module relies on, or changes the C
API's arguments, these tests fail before any request does.
"""

from __future__ import annotations

import threading

import lightgbm as lgb
import numpy as np
import pytest

from scoring.ml.explain import TreeShapExplainer
from scoring.ml.model import LoadedModel
from scoring.ml.single_row import SingleRowPredictor
from tests.models import TrainedModel


def _booster(trained: TrainedModel) -> lgb.Booster:
    return lgb.Booster(model_str=trained.result.model_text.decode())


def _rows(trained: TrainedModel, count: int = 300) -> np.ndarray:
    rng = np.random.default_rng(3)
    matrix = trained.data.encoded()[:count].copy()
    matrix[rng.random(matrix.shape) < 0.2] = np.nan  # a fifth of the values missing
    return matrix


@pytest.mark.parametrize("which", ["trained_credit", "trained_fraud"])
def test_probabilities_and_contributions_are_those_of_booster_predict(
    which: str, request: pytest.FixtureRequest
) -> None:
    trained = request.getfixturevalue(which)
    booster = _booster(trained)
    probability = SingleRowPredictor(booster, contributions=False)
    contributions = SingleRowPredictor(booster, contributions=True)
    rows = _rows(trained)
    expected_p = booster.predict(rows, num_threads=1)
    expected_c = booster.predict(rows, pred_contrib=True, num_threads=1)
    for i, row in enumerate(rows):
        assert probability(row)[0] == expected_p[i]
        assert np.array_equal(contributions(row), expected_c[i])


def test_an_unknown_category_code_gets_the_same_answer(trained_credit: TrainedModel) -> None:
    booster = _booster(trained_credit)
    categorical = trained_credit.data.schema.categorical_indices
    row = _rows(trained_credit, 1)[0]
    row[categorical] = 97.0  # a code the model never saw: LightGBM sends it right
    contributions = SingleRowPredictor(booster, contributions=True)
    assert np.array_equal(contributions(row), booster.predict(row[None], pred_contrib=True, num_threads=1)[0])


def test_each_answer_is_a_copy_not_the_shared_buffer(trained_credit: TrainedModel) -> None:
    predictor = SingleRowPredictor(_booster(trained_credit), contributions=True)
    rows = _rows(trained_credit, 2)
    first = predictor(rows[0])
    kept = first.copy()
    predictor(rows[1])
    assert np.array_equal(first, kept)


def test_a_row_of_the_wrong_length_is_refused_before_lightgbm_reads_it(trained_credit: TrainedModel) -> None:
    predictor = SingleRowPredictor(_booster(trained_credit), contributions=False)
    with pytest.raises(ValueError):
        predictor(np.zeros(len(trained_credit.data.schema) + 1))


def test_threads_sharing_one_predictor_each_get_their_own_row_answered(trained_credit: TrainedModel) -> None:
    booster = _booster(trained_credit)
    predictor = SingleRowPredictor(booster, contributions=True)
    rows = _rows(trained_credit, 200)
    expected = booster.predict(rows, pred_contrib=True, num_threads=1)
    wrong: list[int] = []

    def work(offset: int) -> None:
        for _ in range(5):
            for i in range(offset, len(rows), 4):
                if not np.array_equal(predictor(rows[i]), expected[i]):
                    wrong.append(i)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []


def _loaded(trained: TrainedModel) -> LoadedModel:
    return LoadedModel(
        model_version_id=1,
        version="v1",
        purpose=trained.purpose,
        threshold=0.5,
        sha256="0" * 64,
        schema=trained.data.schema,
        booster=_booster(trained),
    )


@pytest.mark.parametrize("which", ["trained_credit", "trained_fraud"])
def test_a_loaded_model_answers_one_row_as_it_answers_many(which: str, request: pytest.FixtureRequest) -> None:
    trained = request.getfixturevalue(which)
    model = _loaded(trained)
    rows = _rows(trained, 120)
    probabilities, contributions = model.score(rows)
    exact_p = model.booster.predict(rows, num_threads=1)
    for i, row in enumerate(rows):
        one_p, one_c = model.score(row[None])
        assert one_p.shape == (1,) and one_c.shape == (1, len(trained.data.schema) + 1)
        assert one_p[0] == probabilities[i]
        assert np.array_equal(one_c[0], contributions[i])
        assert model.probabilities(row[None])[0] == exact_p[i]


def test_batch_jobs_asking_one_tree_at_a_time_leave_the_single_row_answers_whole(trained_credit: TrainedModel) -> None:
    """LightGBM keeps a prediction's iteration range in the booster: the batch jobs' memo
    (scoring.ml.explain), which asks LightGBM about one tree at a time, must do it on its
    own copy, or every later request in that process would be scored by one tree."""
    model = _loaded(trained_credit)
    rows = _rows(trained_credit, 60)
    exact_p = model.booster.predict(rows, num_threads=1)
    exact_c = model.booster.predict(rows, pred_contrib=True, num_threads=1)
    model.probabilities(rows[:1])  # both single-row predictors are set up before the memo learns
    contributions = SingleRowPredictor(model.booster, contributions=True)  # (the fallback of models without tables)
    contributions(rows[0])
    counts = {i: len(f.categories) for i, f in enumerate(model.schema) if f.categories}
    explainer = TreeShapExplainer(model.booster, counts)
    assert np.allclose(explainer.contributions(rows), exact_c, rtol=0, atol=1e-12)  # learns tree by tree
    for i, row in enumerate(rows):
        assert model.probabilities(row[None])[0] == exact_p[i]
        assert np.array_equal(contributions(row), exact_c[i])


def test_multiclass_models_are_refused() -> None:
    rng = np.random.default_rng(0)
    data = lgb.Dataset(rng.normal(size=(60, 3)), label=rng.integers(0, 3, 60))
    booster = lgb.train({"objective": "multiclass", "num_class": 3, "verbose": -1}, data, num_boost_round=2)
    with pytest.raises(ValueError, match="binary"):
        SingleRowPredictor(booster, contributions=False)
