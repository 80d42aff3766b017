"""Property tests (hypothesis) of the feature schemas (pure: no database, also run by `make mutation`).

- A schema accepts any finite bounds with min <= max, refuses non-finite or crossed ones,
  and survives its JSON round trip whole (``source`` and aliases included).
- ``validate`` (one JSON payload) accepts exactly the values inside a feature's type and
  range, and ``validate_columns`` (a batch file's text cells) gives the same verdict and the
  same message for the same number.

The feature pipeline behind ``/score`` has its own: tests/scoring/test_feature_pipeline.py.

Examples are bounded per test and derandomised (the ``ci`` profile of tests/conftest.py).
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.ml.schema import CATEGORICAL, FEATURE_TYPES, INTEGER, NUMERIC, Feature, FeatureSchema, SchemaError

NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True)
FINITE = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12)
CATEGORIES = st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=6, unique=True)


@st.composite
def features(draw: st.DrawFn) -> Feature:
    kind = draw(st.sampled_from(FEATURE_TYPES))
    name = draw(NAMES)
    aliases = draw(st.lists(NAMES.filter(lambda a: a != name), max_size=2, unique=True))
    common = dict(
        name=name,
        type=kind,
        label=draw(st.text(max_size=10)),
        required=draw(st.booleans()),
        source=draw(st.text(max_size=10)),
        aliases=tuple(aliases),
    )
    if kind == CATEGORICAL:
        return Feature(**common, categories=tuple(draw(CATEGORIES)))
    low, high = draw(st.none() | FINITE), draw(st.none() | FINITE)
    if low is not None and high is not None and low > high:
        low, high = high, low
    return Feature(**common, min=low, max=high)


@settings(max_examples=200)
@given(feature=features())
def test_a_feature_survives_its_json_round_trip_whole(feature: Feature) -> None:
    again = Feature.from_dict(json.loads(json.dumps(feature.to_dict())))
    assert again == feature
    assert again.source == feature.source and again.aliases == feature.aliases


@settings(max_examples=200)
@given(low=FINITE, high=FINITE)
def test_finite_bounds_are_accepted_in_order_and_refused_crossed(low: float, high: float) -> None:
    if low <= high:
        feature = Feature("x", min=low, max=high)
        assert (feature.min, feature.max) == (low, high)
    else:
        with pytest.raises(SchemaError, match="min is above max"):
            Feature("x", min=low, max=high)


@settings(max_examples=50)
@given(bad=st.sampled_from([math.nan, math.inf, -math.inf]), other=st.none() | FINITE, which=st.booleans())
def test_non_finite_bounds_are_refused(bad: float, other: float | None, which: bool) -> None:
    bounds = {"min": bad, "max": other} if which else {"min": other, "max": bad}
    with pytest.raises(SchemaError, match="finite"):
        Feature("x", **bounds)
    with pytest.raises(SchemaError, match="finite"):
        Feature.from_dict({"name": "x", **bounds})


NUMERIC_FEATURES = st.builds(
    lambda kind, low, span: Feature("x", type=kind, min=low, max=low + span),
    st.sampled_from([NUMERIC, INTEGER]),
    st.integers(-1000, 1000).map(float),
    st.integers(0, 1000).map(float),
)
VALUES = st.one_of(
    FINITE,
    st.integers(-(2**60), 2**60),
    st.sampled_from([math.nan, math.inf, -math.inf, 0, -0.0, 2**53, 2**53 + 1, 1e308, -1e308, 5e-324]),
)


@settings(max_examples=300)
@given(feature=NUMERIC_FEATURES, value=VALUES)
def test_validate_accepts_exactly_the_values_inside_the_type_and_range(feature: Feature, value: float) -> None:
    clean, errors = FeatureSchema((feature,)).validate({"x": value})
    inside = (
        abs(value) <= 2**53
        and math.isfinite(value)
        and (feature.type != INTEGER or float(value).is_integer())
        and feature.min <= value <= feature.max  # type: ignore[operator]
    )
    assert (errors == {}) is inside, (value, errors)
    assert clean == ({"x": value} if inside else {})


@settings(max_examples=300)
@given(feature=NUMERIC_FEATURES, value=st.one_of(FINITE, st.integers(-(10**6), 10**6), st.just(math.inf)))
def test_a_batch_cell_gets_the_verdict_and_message_of_the_same_json_number(feature: Feature, value: float) -> None:
    schema = FeatureSchema((feature,))
    _, errors = schema.validate({"x": value})
    check = schema.validate_columns({"x": [repr(value)]}, rows=1)
    assert check.row_errors(0) == errors
    if not errors:
        assert check.matrix[0, 0] == float(value)


@settings(max_examples=100)
@given(
    categories=CATEGORIES,
    value=st.one_of(st.text(max_size=8), st.integers(), st.booleans(), st.none(), st.floats()),
)
def test_a_category_is_accepted_exactly_when_it_is_one_of_the_strings_listed(categories: list[str], value: Any) -> None:
    schema = FeatureSchema((Feature("c", type=CATEGORICAL, categories=tuple(categories)),))
    clean, errors = schema.validate({"c": value})
    if value is None:
        assert (clean, errors) == ({}, {})
    elif isinstance(value, str) and value in categories:
        assert (clean, errors) == ({"c": value}, {})
        assert schema.row(clean)[0] == categories.index(value)
    else:
        assert list(errors) == ["c"] and clean == {}
