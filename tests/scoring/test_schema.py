"""Feature schemas: what a payload may contain and how it becomes a model row (pure, no database)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scoring.ml.schema import Feature, FeatureSchema, SchemaError

SCHEMA = FeatureSchema(
    (
        Feature("age", "integer", "Age", min=17, max=120, required=True),
        Feature("revenu", "numeric", "Income", min=0, max=10_000_000, required=True),
        Feature("job", "categorical", "Job", categories=("fixed", "freelance", "partime")),
        Feature("debt", "numeric", "Debt", min=0, max=1e9),
    )
)


def test_a_valid_payload_passes_and_missing_optional_features_are_simply_absent() -> None:
    values, errors = SCHEMA.validate({"age": 35, "revenu": 50000, "job": None})
    assert errors == {}
    assert values == {"age": 35, "revenu": 50000}


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"age": 16, "revenu": 1}, "age", "greater than or equal to 17"),
        ({"age": 121, "revenu": 1}, "age", "less than or equal to 120"),
        ({"age": 35.5, "revenu": 1}, "age", "valid integer"),
        ({"age": "35", "revenu": 1}, "age", "valid number"),
        ({"age": True, "revenu": 1}, "age", "valid number"),
        ({"age": 35, "revenu": -1}, "revenu", "greater than or equal to 0"),
        ({"age": 35, "revenu": 10**400}, "revenu", "at most 16 digits"),
        ({"age": 35, "revenu": math.inf}, "revenu", "finite"),
        ({"age": 35, "revenu": 1, "job": "astronaut"}, "job", "not one of: fixed, freelance, partime"),
        ({"age": 35, "revenu": 1, "job": 3}, "job", "valid string"),
        ({"age": 35, "revenu": 1, "salary": 3}, "salary", "Unknown field"),
        ({"revenu": 1}, "age", "required"),
        ({"age": None, "revenu": 1}, "age", "required"),
    ],
)
def test_each_bad_value_is_named_with_its_problem(payload: dict, field: str, message: str) -> None:
    _, errors = SCHEMA.validate(payload)
    assert field in errors
    assert message in errors[field]


def test_every_problem_of_a_payload_is_reported_at_once() -> None:
    _, errors = SCHEMA.validate({"age": 10, "revenu": "a lot", "colour": "blue"})
    assert set(errors) == {"age", "revenu", "colour"}


def test_ignored_fields_are_left_to_the_caller() -> None:
    values, errors = SCHEMA.validate({"age": 35, "revenu": 1, "client_id": "C1"}, ignore=["client_id"])
    assert errors == {} and "client_id" not in values


def test_rows_follow_the_model_column_order_with_category_codes_and_nan_for_missing() -> None:
    row = SCHEMA.row({"job": "partime", "age": 40, "revenu": 1200.5})
    assert row[:3].tolist() == [40.0, 1200.5, 2.0]
    assert np.isnan(row[3])


def test_a_schema_round_trips_through_json() -> None:
    assert FeatureSchema.from_list(SCHEMA.to_list()) == SCHEMA


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "at least one feature"),
        ([{"name": "a"}, {"name": "a"}], "duplicate"),
        ([{"name": "1abc"}], "feature names"),
        ([{"name": "a", "type": "date"}], "type must be"),
        ([{"name": "a", "type": "categorical"}], "needs its categories"),
        ([{"name": "a", "type": "categorical", "categories": ["x", "x"]}], "distinct"),
        ([{"name": "a", "min": 5, "max": 1}], "min is above max"),
        ([{"name": "a", "min": "low"}], "must be a number"),
        ([{"name": "a", "colour": "red"}], "unknown keys"),
        ("age", "list of features"),
    ],
)
def test_a_malformed_schema_is_refused_with_the_reason(raw: object, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        FeatureSchema.from_list(raw)  # type: ignore[arg-type]


# --- aliases ----------------------------------------------------------------------------------

ALIASED = FeatureSchema(
    (
        Feature("age", "integer", "Age", min=17, max=120, required=True),
        Feature("amount", "numeric", "Amount requested", min=0, max=1e8, aliases=("montant_credit",)),
    )
)


def test_a_value_sent_under_an_alias_is_checked_and_returned_under_the_feature_name() -> None:
    values, errors = ALIASED.validate({"age": 42, "montant_credit": 20000})
    assert errors == {}
    assert values == {"age": 42, "amount": 20000}


def test_a_bad_value_under_an_alias_is_named_as_it_was_sent() -> None:
    _, errors = ALIASED.validate({"age": 42, "montant_credit": -5})
    assert errors == {"montant_credit": "Ensure this value is greater than or equal to 0."}


def test_sending_an_alias_and_its_feature_together_names_both() -> None:
    _, errors = ALIASED.validate({"age": 42, "montant_credit": 20000, "amount": 20000})
    assert list(errors) == ["montant_credit"]
    assert "'montant_credit'" in errors["montant_credit"] and "'amount'" in errors["montant_credit"]


def test_a_required_feature_may_arrive_under_its_alias() -> None:
    schema = FeatureSchema((Feature("revenu", "numeric", min=0, required=True, aliases=("income",)),))
    assert schema.validate({"income": 10}) == ({"revenu": 10}, {})
    assert schema.validate({}) == ({}, {"revenu": "This field is required."})


def test_aliases_round_trip_through_json_and_are_listed() -> None:
    assert FeatureSchema.from_list(ALIASED.to_list()) == ALIASED
    assert ALIASED.to_list()[1]["aliases"] == ["montant_credit"]
    assert "aliases" not in ALIASED.to_list()[0]  # schemas without aliases keep their stored shape
    assert ALIASED.aliases == {"montant_credit": "amount"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([{"name": "a", "aliases": ["b"]}, {"name": "b"}], "already the name or an alias"),
        ([{"name": "a", "aliases": ["c"]}, {"name": "b", "aliases": ["c"]}], "already the name or an alias"),
        ([{"name": "a", "aliases": ["a"]}], "differ from the feature's name"),
        ([{"name": "a", "aliases": ["x y"]}], "not a valid name"),
        ([{"name": "a", "aliases": "b"}], "list of names"),
    ],
)
def test_an_alias_that_would_be_ambiguous_is_refused(raw: list[dict], message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        FeatureSchema.from_list(raw)
