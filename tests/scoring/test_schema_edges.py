"""The edges of feature schemas that mutation testing found unpinned (pure: no database).

Bounds are inclusive (a schema's maximum is accepted), messages show the bound as written,
a category list is cut after 20, and batch cells follow ``validate`` to the character.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from scoring.ml.schema import (
    CATEGORICAL,
    INTEGER,
    MSG_FINITE,
    MSG_INTEGER,
    MSG_NUMBER,
    MSG_REQUIRED,
    MSG_STRING,
    MSG_UNKNOWN_FIELD,
    Feature,
    FeatureSchema,
    SchemaError,
    category_message,
    parse_numbers,
)

AGE = Feature("age", type=INTEGER, min=18, max=100, required=True, label="Age", source="AGE", aliases=("years",))
RATE = Feature("rate", min=0.5, max=2.5)
HOME = Feature("home", type=CATEGORICAL, categories=("own", "rent"))
SCHEMA = FeatureSchema((AGE, RATE, HOME))


def test_a_schemas_minimum_and_maximum_are_accepted_and_a_hair_beyond_is_not() -> None:
    for value in (18, 100, 0.5, 2.5):
        field = "age" if value in (18, 100) else "rate"
        assert SCHEMA.validate({"age": 30, field: value})[1] == {}
    assert SCHEMA.validate({"age": 101})[1] == {"age": "Ensure this value is less than or equal to 100."}
    assert SCHEMA.validate({"age": 17})[1] == {"age": "Ensure this value is greater than or equal to 18."}
    assert SCHEMA.validate({"age": 30, "rate": 2.5000001})[1] == {
        "rate": "Ensure this value is less than or equal to 2.5."
    }
    assert SCHEMA.validate({"age": 30, "rate": 0.4999999})[1] == {
        "rate": "Ensure this value is greater than or equal to 0.5."
    }


@pytest.mark.parametrize("bound", [math.inf, -math.inf, math.nan])
@pytest.mark.parametrize("key", ["min", "max"])
def test_non_finite_bounds_are_refused(bound: float, key: str) -> None:
    with pytest.raises(SchemaError, match="age: min and max must be finite numbers"):
        Feature("age", **{key: bound})


@pytest.mark.parametrize("key", ["min", "max"])
def test_a_boolean_bound_is_refused(key: str) -> None:
    with pytest.raises(SchemaError, match="min and max must be finite numbers"):
        Feature("age", **{key: True})
    with pytest.raises(SchemaError, match="age: max must be a number|age: min must be a number"):
        Feature.from_dict({"name": "age", key: True})


def test_equal_bounds_are_accepted() -> None:
    assert Feature("x", min=3.0, max=3.0).to_dict()["min"] == 3.0


def test_source_label_aliases_and_required_survive_a_round_trip() -> None:
    again = FeatureSchema.from_list(SCHEMA.to_list())
    assert again == SCHEMA
    assert again["age"].source == "AGE" and again["age"].aliases == ("years",) and again["age"].required
    assert SCHEMA.to_list()[0] == {
        "name": "age",
        "type": "integer",
        "label": "Age",
        "min": 18,
        "max": 100,
        "required": True,
        "source": "AGE",
        "aliases": ["years"],
    }
    assert "source" not in RATE.to_dict() and "aliases" not in RATE.to_dict()
    assert HOME.to_dict() == {"name": "home", "type": "categorical", "label": "", "categories": ["own", "rent"],
                              "required": False}  # fmt: skip


def test_a_schema_answers_its_names_aliases_and_categorical_columns() -> None:
    assert SCHEMA.names == ["age", "rate", "home"]
    assert SCHEMA.aliases == {"years": "age"}
    assert SCHEMA.categorical_indices == [2]
    assert "age" in SCHEMA and "years" not in SCHEMA and "nope" not in SCHEMA
    assert len(SCHEMA) == 3 and [f.name for f in SCHEMA] == SCHEMA.names
    assert RATE.with_aliases("r1", "r2").aliases == ("r1", "r2")
    assert AGE.with_aliases("y2").aliases == ("years", "y2")
    assert AGE.display == "Age" and Feature("monthly_income").display == "monthly income"


def test_a_category_message_lists_twenty_categories_then_an_ellipsis() -> None:
    twenty = Feature("c", type=CATEGORICAL, categories=tuple(f"k{i}" for i in range(20)))
    assert category_message(twenty) == "Not one of: " + ", ".join(f"k{i}" for i in range(20)) + "."
    many = Feature("c", type=CATEGORICAL, categories=tuple(f"k{i}" for i in range(21)))
    assert category_message(many) == "Not one of: " + ", ".join(f"k{i}" for i in range(20)) + ", ...."
    assert category_message(HOME, "x" * 60) == "'" + "x" * 50 + "' is not one of: own, rent."


def test_each_kind_of_bad_value_gets_its_own_message() -> None:
    values, errors = SCHEMA.validate({"age": 30.5, "rate": math.inf, "home": 3, "extra": 1}, ignore=("client_id",))
    assert values == {}
    assert errors == {"age": MSG_INTEGER, "rate": MSG_FINITE, "home": MSG_STRING, "extra": MSG_UNKNOWN_FIELD}
    assert SCHEMA.validate({"age": True})[1] == {"age": MSG_NUMBER}
    assert SCHEMA.validate({"age": 2**53 + 1})[1] == {"age": "Ensure this value is a number of at most 16 digits."}
    assert SCHEMA.validate({"age": 2**53})[1] == {"age": "Ensure this value is less than or equal to 100."}
    assert SCHEMA.validate({"client_id": "C1"}, ignore=("client_id",))[1] == {"age": MSG_REQUIRED}
    assert SCHEMA.validate({"age": None})[1] == {"age": MSG_REQUIRED}
    assert SCHEMA.validate({"years": 30, "home": None}) == ({"age": 30}, {})


def test_a_batch_column_checks_each_cell_like_validate() -> None:
    check = SCHEMA.validate_columns(
        {
            "years": ["30", " 18 ", "100.0", "17", "30.5", "", "abc", "1_000", "inf", "3.5e1"],
            "rate": ["2.5", "\t0.5", "", "2.51", "", "", "", "", "", "nan"],
            "home": ["own", "rent", "", "x", "own", "", "", "", "", "own"],
        },
        rows=10,
    )
    assert check.row_errors(0) == {} and check.row_errors(1) == {} and check.row_errors(2) == {}
    assert check.row_errors(3) == {"years": "Ensure this value is greater than or equal to 18.", "rate": (
        "Ensure this value is less than or equal to 2.5."), "home": "Not one of: own, rent."}  # fmt: skip
    assert check.row_errors(4) == {"years": MSG_INTEGER}
    assert check.row_errors(5) == {"years": MSG_REQUIRED}
    assert check.row_errors(6) == check.row_errors(7) == {"years": MSG_NUMBER}
    assert check.row_errors(8) == {"years": MSG_FINITE}
    assert check.row_errors(9) == {"rate": MSG_NUMBER}
    assert check.refused_rows().tolist() == [False, False, False, True, True, True, True, True, True, True]
    np.testing.assert_array_equal(check.matrix[0], [30.0, 2.5, 0.0])
    np.testing.assert_array_equal(check.matrix[1], [18.0, 0.5, 1.0])
    assert np.isnan(check.matrix[2, 1]) and np.isnan(check.matrix[2, 2]) and check.matrix[2, 0] == 100.0
    assert np.isnan(check.matrix[3]).all()


def test_a_batch_without_a_required_column_or_with_an_unknown_one_refuses_every_row() -> None:
    check = SCHEMA.validate_columns({"rate": ["1", "2"], "colour": ["a", "b"]}, rows=2)
    assert check.row_errors(0) == check.row_errors(1) == {"age": MSG_REQUIRED, "colour": MSG_UNKNOWN_FIELD}
    assert check.refused_rows().tolist() == [True, True]
    assert FeatureSchema((RATE,)).validate_columns({"rate": ["1"]}, rows=1).refused_rows().tolist() == [False]


def test_parse_numbers_reads_numbers_and_leaves_the_rest_nan() -> None:
    cells = ["1", "", "2.5", "1_0", "x", "-inf", "1e3"]
    empty = np.array([c == "" for c in cells])
    values = parse_numbers(cells, empty)
    assert values[0] == 1.0 and values[2] == 2.5 and values[5] == -math.inf and values[6] == 1000.0
    assert np.isnan(values[[1, 3, 4]]).all()
    assert parse_numbers(["4", "5"], np.array([False, False])).tolist() == [4.0, 5.0]


def test_rows_and_matrices_put_each_value_in_its_column() -> None:
    np.testing.assert_array_equal(SCHEMA.row({"home": "rent", "age": 40}), [40.0, np.nan, 1.0])
    matrix = SCHEMA.matrix([{"age": 20}, {"rate": 1.5, "home": "own"}])
    np.testing.assert_array_equal(matrix, [[20.0, np.nan, np.nan], [np.nan, 1.5, 0.0]])


def test_batch_cells_are_stripped_of_spaces_or_tabs_alone() -> None:
    spaces = SCHEMA.validate_columns({"age": ["30", "30", "30"], "home": [" own", "rent ", "  "]}, rows=3)
    tabs = SCHEMA.validate_columns({"age": ["30", "30", "30"], "home": ["\town", "rent\t", "\t"]}, rows=3)
    for check in (spaces, tabs):
        assert check.errors == {}
        np.testing.assert_array_equal(check.matrix[:, 2], [0.0, 1.0, np.nan])


def test_an_unknown_column_first_does_not_stop_the_columns_after_it() -> None:
    check = SCHEMA.validate_columns({"colour": ["a"], "age": ["17"], "home": ["x"]}, rows=1)
    assert check.row_errors(0) == {
        "colour": MSG_UNKNOWN_FIELD,
        "age": "Ensure this value is greater than or equal to 18.",
        "home": "Not one of: own, rent.",
    }
    assert check.errors["colour"].dtype == object  # None where fine, a message where refused
    assert all(messages.dtype == object for messages in check.errors.values())


def test_a_whole_bound_read_from_json_is_shown_without_decimals() -> None:
    loaded = FeatureSchema.from_list([{"name": "age", "type": "integer", "min": 18, "max": 100.0}])
    assert loaded["age"].min == 18.0
    assert loaded.validate({"age": 17})[1] == {"age": "Ensure this value is greater than or equal to 18."}
    assert loaded.validate({"age": 101})[1] == {"age": "Ensure this value is less than or equal to 100."}


def test_a_missing_required_column_gives_an_object_array_of_messages() -> None:
    check = SCHEMA.validate_columns({"rate": ["1"]}, rows=1)
    assert check.errors["age"].dtype == object and check.errors["age"].tolist() == [MSG_REQUIRED]


def test_an_ignored_or_unknown_field_first_does_not_stop_the_fields_after_it() -> None:
    assert SCHEMA.validate({"client_id": "C1", "age": 17}, ignore=("client_id",))[1] == {
        "age": "Ensure this value is greater than or equal to 18."
    }
    assert SCHEMA.validate({"colour": "red", "age": 30, "home": "x"}) == (
        {"age": 30},
        {"colour": MSG_UNKNOWN_FIELD, "home": "'x' is not one of: own, rent."},
    )
