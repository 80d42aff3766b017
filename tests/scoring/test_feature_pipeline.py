"""The feature pipeline behind /score under hostile values (hypothesis).

Whatever a caller puts in a payload (NaN and Infinity literals, ±inf, huge integers,
extremes, wrong types, unknown fields), ``/api/v1/score`` and ``/api/v1/score/batch`` answer
a 400 naming the field or the body, or a decision whose probability is in [0, 1] and whose
reason contributions are finite; never a 500. Examples are bounded per test and derandomised
(the ``ci`` profile of tests/conftest.py).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from scoring.ml.schema import CATEGORICAL, INTEGER, FeatureSchema
from tests.models import TrainedModel

HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(),  # NaN and ±inf included: sent as the bare literals NaN / Infinity
    st.integers(-(10**30), 10**30),
    st.sampled_from([0, -1, 2**53, 2**53 + 1, 10**400, 1e308, -1e308, 5e-324, -0.0]),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def _payload(schema: FeatureSchema, data: st.DataObject) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    for feature in schema:
        choice = data.draw(st.sampled_from(["valid", "hostile", "absent"]), label=feature.name)
        if choice == "absent":
            continue
        if choice == "hostile":
            payload[feature.name] = data.draw(HOSTILE, label=feature.name)
        elif feature.type == CATEGORICAL:
            payload[feature.name] = data.draw(st.sampled_from(feature.categories), label=feature.name)
        else:
            low = -1e15 if feature.min is None else feature.min
            high = 1e15 if feature.max is None else feature.max
            number = data.draw(st.floats(min_value=low, max_value=high), label=feature.name)
            payload[feature.name] = math.floor(number) if feature.type == INTEGER else number
            assume(feature.type != INTEGER or low <= payload[feature.name])
    return payload


def _raw(body: Any) -> str:
    return json.dumps(body, allow_nan=True, default=str)  # NaN, Infinity: what a careless client sends


def _assert_refused_or_finite(response: Any, body: Any) -> None:
    assert response.status_code in (201, 400), (response.status_code, body, response.content[:500])
    answer = response.json()
    if response.status_code == 400:
        assert answer.get("fields") or answer.get("detail"), answer
        return
    decisions = answer.get("results", [answer])
    for decision in decisions:
        assert 0.0 <= decision["probability_default"] <= 1.0
        for reason in decision["reasons"]:
            assert all(math.isfinite(v) for v in reason.values() if isinstance(v, float)), reason


@pytest.fixture
def scorer(key_client: Callable[..., APIClient], credit_model: object) -> APIClient:
    return key_client("analyst", ["score"])


@pytest.mark.django_db
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_score_answers_a_400_or_a_finite_decision_whatever_the_features(
    scorer: APIClient, trained_credit: TrainedModel, data: st.DataObject
) -> None:
    payload = _payload(trained_credit.data.schema, data)
    if data.draw(st.booleans(), label="unknown field"):
        payload[data.draw(st.text(max_size=6), label="unknown name")] = data.draw(HOSTILE)
    response = scorer.generic("POST", "/api/v1/score", _raw(payload), content_type="application/json")
    _assert_refused_or_finite(response, payload)


@pytest.mark.django_db
@settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_score_batch_answers_a_400_or_finite_decisions_whatever_the_features(
    scorer: APIClient, trained_credit: TrainedModel, data: st.DataObject
) -> None:
    items = [_payload(trained_credit.data.schema, data) for _ in range(data.draw(st.integers(1, 3)))]
    response = scorer.generic("POST", "/api/v1/score/batch", _raw({"items": items}), content_type="application/json")
    _assert_refused_or_finite(response, items)


def test_non_finite_json_literals_are_a_400_naming_the_body(scorer: APIClient) -> None:
    for literal in ("NaN", "Infinity", "-Infinity"):
        body = f'{{"age": {literal}, "revenu": 50000, "historique_impaye": 1}}'
        response = scorer.generic("POST", "/api/v1/score", body, content_type="application/json")
        assert response.status_code == 400, literal
        assert f"{literal.lstrip('-')} is not a valid JSON value" in response.json()["detail"]
