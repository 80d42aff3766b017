"""The edges of scoring.ml.model that mutation testing found unpinned (pure: no database).

The header parsing, the objective's sigmoid, each refusal of ``load_booster`` with its
reason, reasons from contributions (count, the three-reason floor, zeros skipped) and the
sigmoid applied by ``score``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from scoring.ml import model as model_module
from scoring.ml.model import (
    MAX_ARTIFACT_BYTES,
    ArtifactError,
    LoadedModel,
    Reason,
    _header,
    load_booster,
    objective_sigmoid,
    probe_in_subprocess,
    sha256_hex,
)
from scoring.ml.schema import Feature, FeatureSchema
from tests.models import TrainedModel

SCHEMA = FeatureSchema(tuple(Feature(name, label=name.upper()) for name in ("a", "b", "c", "d", "e")))


class FixedBooster:
    """Answers ``predict`` with fixed contributions (``score`` and ``reasons`` need nothing else) and
    ``feature_importance`` with no gain (read when the model is loaded)."""

    def __init__(self, contributions: np.ndarray) -> None:
        self.contributions = contributions

    def predict(self, matrix: np.ndarray, pred_contrib: bool = False, num_threads: int = 0) -> np.ndarray:
        assert num_threads == 1
        if pred_contrib:
            return self.contributions
        return 1.0 / (1.0 + np.exp(-self.contributions.sum(axis=1)))

    def feature_importance(self, importance_type: str = "split") -> np.ndarray:
        """No split gain (the refer band's missing-share rule then weighs every feature at zero)."""
        assert importance_type == "gain"
        return np.zeros(self.contributions.shape[1] - 1)


def loaded(contributions: Any = None, sigmoid: float = 1.0) -> LoadedModel:
    booster = FixedBooster(np.asarray(contributions if contributions is not None else [[0.0] * 6], dtype=float))
    return LoadedModel(
        model_version_id=1,
        version="v9",
        purpose="credit",
        threshold=0.5,
        sha256="0" * 64,
        schema=SCHEMA,
        booster=booster,  # type: ignore[arg-type]
        sigmoid=sigmoid,
    )


def test_the_header_is_the_key_value_lines_before_the_first_tree() -> None:
    text = "tree\nversion=v4\n objective = binary sigmoid:2\nno separator\n\nTree=0\nsplit_feature=1\n"
    assert _header(text) == {"version": "v4", "objective": "binary sigmoid:2"}


@pytest.mark.parametrize(
    ("header", "sigmoid"),
    [
        ("objective=binary sigmoid:0.5\n", 0.5),
        ("objective=binary\n", 1.0),
        ("version=v4\n", 1.0),
        ("objective=binary sigmoid:2:3\n", None),
    ],
)
def test_the_sigmoid_is_read_from_the_binary_objective(header: str, sigmoid: float | None) -> None:
    artifact = ("tree\n" + header + "Tree=0\nobjective=binary sigmoid:7\n").encode()
    if sigmoid is None:
        with pytest.raises(ValueError):
            objective_sigmoid(artifact)
    else:
        assert objective_sigmoid(artifact) == sigmoid


def test_score_applies_the_objectives_sigmoid_to_the_summed_contributions() -> None:
    contributions = np.array([[0.5, -0.25, 0.0, 0.0, 0.0, 0.25], [0.0, 0.0, 0.0, 0.0, 0.0, -1.0]])
    probabilities, returned = loaded(contributions, sigmoid=2.0).score(np.zeros((2, 5)))
    assert probabilities == pytest.approx([1 / (1 + np.exp(-1.0)), 1 / (1 + np.exp(2.0))])
    assert returned is not None and np.array_equal(returned, contributions)


def test_reasons_take_count_largest_positive_contributions_without_the_bias() -> None:
    model = loaded()
    contributions = np.array([0.1, 0.4, 0.3, 0.2, 0.5, 9.0])  # the last column is the bias
    values = {"a": 1, "e": 5}
    assert [r.feature for r in model.reasons(contributions, values)] == ["e", "b", "c", "d"]
    assert [r.feature for r in model.reasons(contributions, values, count=2)] == ["e", "b"]
    first = model.reasons(contributions, values, count=1)[0]
    assert first == Reason("e", "E", 5, 0.5)
    assert model.reasons(contributions, values, count=5)[-1] == Reason("a", "A", 1, 0.1)


def test_fewer_than_three_positive_reasons_are_completed_with_the_next_largest() -> None:
    contributions = np.array([-0.3, 0.2, -0.1, -0.2, 0.0, 0.0])
    assert [r.feature for r in loaded().reasons(contributions, {})] == ["b", "c", "d"]
    assert [r.feature for r in loaded().reasons(np.array([-0.3, -0.1, -0.2, -0.4, -0.5, 0.0]), {})] == [
        "b",
        "c",
        "a",
    ]


def test_a_reason_rounds_its_contribution_to_six_decimals() -> None:
    assert Reason("a", "A", None, 0.12345649).as_dict() == {
        "feature": "a",
        "label": "A",
        "value": None,
        "contribution": 0.123456,
    }


def test_a_loaded_model_describes_itself() -> None:
    assert loaded().describe() == "credit v9"


def test_each_unusable_file_is_refused_with_its_reason(trained_credit: TrainedModel) -> None:
    schema = trained_credit.data.schema
    good = trained_credit.result.model_text
    cases = [
        (b"", "The model file is empty."),
        (b"\xff\xfe tree", "This is not a LightGBM model file \\(not text\\)."),
        (b"version=v4\nfeature_names=a\n", "no 'tree' header or feature names"),
        (b"tree\nversion=v4\n", "no 'tree' header or feature names"),
        (good.replace(b"objective=binary", b"objective=regression", 1), "objective is 'regression"),
        (good.replace(b"end of trees", b"", 1), "The model file is truncated \\(no 'end of trees'\\)."),
    ]
    for artifact, reason in cases:
        with pytest.raises(ArtifactError, match=reason):
            load_booster(artifact, schema)
    with pytest.raises(ArtifactError, match="does not match its registered SHA-256"):
        load_booster(good, schema, expected_sha256=sha256_hex(good + b" "))
    assert load_booster(good, schema, expected_sha256=sha256_hex(good)).feature_name() == schema.names


def test_a_file_at_the_size_limit_is_read_and_one_byte_more_is_not(monkeypatch: pytest.MonkeyPatch) -> None:
    schema = FeatureSchema((Feature("a"),))
    monkeypatch.setattr(model_module, "MAX_ARTIFACT_BYTES", 10)
    with pytest.raises(ArtifactError, match="This is not a LightGBM model file"):
        load_booster(b"x" * 10, schema)
    with pytest.raises(ArtifactError, match="larger than 0 MB"):
        load_booster(b"x" * 11, schema)
    assert MAX_ARTIFACT_BYTES == 50 * 1024 * 1024


def test_a_file_vetted_once_is_not_probed_again(trained_credit: TrainedModel, monkeypatch: pytest.MonkeyPatch) -> None:
    text = trained_credit.result.model_text.decode()
    monkeypatch.setattr(model_module, "_vetted", set())
    probe_in_subprocess(text, trained_credit.data.schema)
    assert len(model_module._vetted) == 1

    def no_child(*args: object, **kwargs: object) -> None:
        raise AssertionError("probed twice")

    monkeypatch.setattr(model_module.subprocess, "run", no_child)
    probe_in_subprocess(text, trained_credit.data.schema)  # the vetted digest answers


def test_probabilities_are_floats_from_one_thread() -> None:
    class IntegerBooster(FixedBooster):
        def predict(self, matrix: np.ndarray, pred_contrib: bool = False, num_threads: int = 0) -> np.ndarray:
            assert num_threads == 1  # OpenMP threads spin against each other on a busy machine
            return np.array([0, 1])

    model = loaded()
    object.__setattr__(model, "booster", IntegerBooster(np.zeros((2, 6))))
    probabilities = model.probabilities(np.zeros((2, 5)))
    assert probabilities.dtype == np.float64 and probabilities.tolist() == [0.0, 1.0]


def test_the_sigmoid_is_read_even_when_the_file_has_bytes_that_are_not_utf8() -> None:
    artifact = b"tree\nobjective=binary sigmoid:3\nnote=\xff\xfe\nTree=0\n"
    assert objective_sigmoid(artifact) == 3.0
