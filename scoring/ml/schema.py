"""Feature schemas: what a model takes, and the validation of a payload against it.

Pure Python and NumPy (no Django): training, serving, batch jobs and the admin share it. A
schema is
the list of a model's input features *in the model's column order*; each feature says its
type, its allowed range or categories and a readable label (used for reason codes).

Serving turns a validated payload into one float64 row: numbers as they are, categories as
their index in ``categories`` (the integer codes LightGBM was trained on), and a missing
value as NaN, which LightGBM routes down each split's default branch.

A feature may also declare **aliases**: other names a caller may send it under (the seed
clients send ``montant_credit`` for the requested ``amount``). Validation accepts either
name, refuses both at once, and always returns values under the feature's own (canonical)
name, so stored snapshots, replays, drift reports and reasons see one vocabulary.

``validate`` checks one JSON payload (``/score``); ``validate_columns`` applies the same
rules, with the same messages, to whole text columns of a batch file at once. The only
difference is the format's: JSON has types (``"35"`` is not a number), CSV cells are text
(``35`` is read as the number it spells).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

NUMERIC = "numeric"
INTEGER = "integer"
CATEGORICAL = "categorical"
FEATURE_TYPES = (NUMERIC, INTEGER, CATEGORICAL)
FAIRNESS_KINDS = ("", "sensitive", "proxy")

FEATURE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")  # always fullmatch: "$" would let "age\n" in
MAX_CATEGORIES = 200
MAX_CATEGORY_LENGTH = 100

# The messages of a refused value, shared by ``validate`` (one payload) and ``validate_columns``.
MSG_REQUIRED = "This field is required."
MSG_UNKNOWN_FIELD = "Unknown field."
MSG_NUMBER = "A valid number is required."
MSG_FINITE = "A finite number is required."
MSG_INTEGER = "A valid integer is required."
MSG_STRING = "Not a valid string."


class SchemaError(ValueError):
    """A schema that cannot describe a model's inputs (raised when it is built or loaded)."""


@dataclass(frozen=True)
class Feature:
    """One model input."""

    name: str
    type: str = NUMERIC
    label: str = ""
    min: float | None = None
    max: float | None = None
    categories: tuple[str, ...] = ()
    required: bool = False
    source: str = ""  # the data set column it came from, for the documentation
    aliases: tuple[str, ...] = ()  # other names callers may send it under
    # "sensitive" (a protected characteristic: age, sex) or "proxy" (one that may stand for
    # one: marital status): the groups of the fairness report (governance.fairness).
    fairness: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not FEATURE_NAME.fullmatch(self.name):
            raise SchemaError(
                f"{self.name!r}: feature names are 1-64 letters, digits or '_', not starting with a digit"
            )
        for alias in self.aliases:
            if not isinstance(alias, str) or not FEATURE_NAME.fullmatch(alias):
                raise SchemaError(f"{self.name}: alias {alias!r} is not a valid name (letters, digits, '_')")
        if self.fairness not in FAIRNESS_KINDS:
            raise SchemaError(f"{self.name}: fairness must be one of {', '.join(FAIRNESS_KINDS[1:])} or empty")
        if self.name in self.aliases or len(set(self.aliases)) != len(self.aliases):
            raise SchemaError(f"{self.name}: aliases must be distinct and differ from the feature's name")
        if self.type not in FEATURE_TYPES:
            raise SchemaError(f"{self.name}: type must be one of {', '.join(FEATURE_TYPES)}, not {self.type!r}")
        if self.type == CATEGORICAL:
            if not self.categories:
                raise SchemaError(f"{self.name}: a categorical feature needs its categories")
            if len(self.categories) > MAX_CATEGORIES:
                raise SchemaError(f"{self.name}: at most {MAX_CATEGORIES} categories")
            if len(set(self.categories)) != len(self.categories):
                raise SchemaError(f"{self.name}: categories must be distinct")
            if any(not isinstance(c, str) or not c or len(c) > MAX_CATEGORY_LENGTH for c in self.categories):
                raise SchemaError(f"{self.name}: categories are non-empty strings of at most {MAX_CATEGORY_LENGTH}")
        elif self.categories:
            raise SchemaError(f"{self.name}: only categorical features have categories")
        for bound in (self.min, self.max):
            if bound is not None and (isinstance(bound, bool) or not math.isfinite(bound)):
                raise SchemaError(f"{self.name}: min and max must be finite numbers")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise SchemaError(f"{self.name}: min is above max")

    @property
    def display(self) -> str:
        return self.label or self.name.replace("_", " ")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "label": self.label}
        if self.type == CATEGORICAL:
            out["categories"] = list(self.categories)
        else:
            out["min"], out["max"] = self.min, self.max
        out["required"] = self.required
        if self.source:
            out["source"] = self.source
        if self.aliases:
            out["aliases"] = list(self.aliases)
        if self.fairness:
            out["fairness"] = self.fairness
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Feature:
        if not isinstance(raw, Mapping):
            raise SchemaError("each feature is an object with at least a 'name'")
        unknown = set(raw) - {
            "name",
            "type",
            "label",
            "min",
            "max",
            "categories",
            "required",
            "source",
            "aliases",
            "fairness",
        }
        if unknown:
            raise SchemaError(f"{raw.get('name', '?')}: unknown keys {sorted(unknown)}")
        if not isinstance(raw.get("name"), str):
            raise SchemaError("each feature needs a 'name' string")
        categories = raw.get("categories") or ()
        if not isinstance(categories, list | tuple):
            raise SchemaError(f"{raw['name']}: categories is a list of strings")
        aliases = raw.get("aliases") or ()
        if not isinstance(aliases, list | tuple):
            raise SchemaError(f"{raw['name']}: aliases is a list of names")

        def bound(key: str) -> float | None:
            value = raw.get(key)
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SchemaError(f"{raw['name']}: {key} must be a number")
            return float(value)

        return cls(
            name=raw["name"],
            type=str(raw.get("type", NUMERIC)),
            label=str(raw.get("label", "")),
            min=bound("min"),
            max=bound("max"),
            categories=tuple(categories),
            required=bool(raw.get("required", False)),
            source=str(raw.get("source", "")),
            aliases=tuple(aliases),
            fairness=str(raw.get("fairness") or ""),
        )

    def with_aliases(self, *aliases: str) -> Feature:
        """The same feature, also accepted under ``aliases``."""
        return replace(self, aliases=(*self.aliases, *aliases))


@dataclass(frozen=True)
class FeatureSchema:
    """The ordered inputs of one model."""

    features: tuple[Feature, ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)
    _aliases: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.features:
            raise SchemaError("a schema needs at least one feature")
        names = [f.name for f in self.features]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise SchemaError(f"duplicate features: {', '.join(duplicates)}")
        aliases: dict[str, str] = {}
        for feature in self.features:
            for alias in feature.aliases:
                if alias in aliases or alias in names:
                    taken = aliases.get(alias, alias)
                    raise SchemaError(f"{feature.name}: alias {alias!r} is already the name or an alias of {taken}")
                aliases[alias] = feature.name
        object.__setattr__(self, "_index", {name: i for i, name in enumerate(names)})
        object.__setattr__(self, "_aliases", aliases)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def categorical_indices(self) -> list[int]:
        return [i for i, f in enumerate(self.features) if f.type == CATEGORICAL]

    def __len__(self) -> int:
        return len(self.features)

    def __iter__(self) -> Any:
        return iter(self.features)

    def __getitem__(self, name: str) -> Feature:
        return self.features[self._index[name]]

    def __contains__(self, name: object) -> bool:
        return name in self._index

    @property
    def aliases(self) -> dict[str, str]:
        """{alias: canonical feature name} of every declared alias."""
        return dict(self._aliases)

    def to_list(self) -> list[dict[str, Any]]:
        return [f.to_dict() for f in self.features]

    @classmethod
    def from_list(cls, raw: Iterable[Mapping[str, Any]]) -> FeatureSchema:
        if isinstance(raw, str | bytes) or not isinstance(raw, Iterable):
            raise SchemaError("a schema is a list of features")
        return cls(tuple(Feature.from_dict(item) for item in raw))

    # --- payloads -> model rows -----------------------------------------------------------

    def validate(self, payload: Mapping[str, Any], ignore: Iterable[str] = ()) -> tuple[dict[str, Any], dict[str, str]]:
        """Check a payload's features; returns (clean values, {field: message}).

        ``ignore`` names non-feature fields the caller handles itself (``client_id``...).
        Missing optional features and explicit nulls are missing values. A value sent under
        an alias is checked as its feature and returned under the feature's name; errors name
        the field as it was sent.
        """
        skip = set(ignore)
        values: dict[str, Any] = {}
        errors: dict[str, str] = alias_conflicts(payload, self._aliases) if self._aliases else {}
        for key, value in payload.items():
            if key in skip or key in errors:
                continue
            name = self._aliases.get(key, key)
            if name not in self._index:
                errors[str(key)] = MSG_UNKNOWN_FIELD
                continue
            message = _check(self.features[self._index[name]], value)
            if message:
                errors[key] = message
            elif value is not None:
                values[name] = value
        for feature in self.features:
            if feature.required and feature.name not in values and not _named(errors, feature):
                errors[feature.name] = MSG_REQUIRED
        return values, errors

    def validate_columns(self, columns: Mapping[str, Sequence[str]], rows: int) -> ColumnCheck:
        """Check text columns (a batch file's cells) by the rules of ``validate``, vectorised.

        Cells are stripped; an empty cell is a missing value. A number is any text that
        parses as a finite number (``35``, ``35.0``, ``3.5e1``); a category must be one of
        the feature's, exactly. A required feature whose column is absent is missing on
        every row. Returns the float64 matrix (NaN where missing or refused) and, per
        field, each row's message (``None`` where the value is fine).
        """
        matrix = np.full((rows, len(self.features)), np.nan)
        errors: dict[str, np.ndarray] = {}
        for sent, cells in columns.items():
            name = self._aliases.get(sent, sent)  # a column may be named by an alias: checked as its feature
            if name not in self._index:
                errors[sent] = np.full(rows, MSG_UNKNOWN_FIELD, dtype=object)
                continue
            i = self._index[name]
            feature = self.features[i]
            joined = "\x00".join(cells)
            # Stripping costs a call per cell: only when some cell has spaces or tabs.
            text = [cell.strip() for cell in cells] if " " in joined or "\t" in joined else list(cells)
            empty = np.array(text, dtype=object) == ""
            problems = _Problems(rows)
            refuse = problems.refuse
            if feature.type == CATEGORICAL:
                codes = {c: float(n) for n, c in enumerate(feature.categories)}
                values = np.fromiter((codes.get(cell, np.nan) for cell in text), dtype=float, count=rows)
                refuse(~empty & np.isnan(values), category_message(feature))
            else:
                values = parse_numbers(text, empty)
                refuse(~empty & np.isnan(values), MSG_NUMBER)
                refuse(np.isinf(values), MSG_FINITE)
                with np.errstate(invalid="ignore"):
                    if feature.type == INTEGER:
                        refuse(np.isfinite(values) & (values != np.floor(values)), MSG_INTEGER)
                    if feature.min is not None:
                        refuse(values < feature.min, min_message(feature))
                    if feature.max is not None:
                        refuse(values > feature.max, max_message(feature))
            if feature.required:
                refuse(empty, MSG_REQUIRED)
            matrix[:, i] = np.where(problems.refused, np.nan, values)
            if problems.refused.any():
                errors[sent] = problems.messages()  # named as the file names it
        for feature in self.features:
            if feature.required and feature.name not in columns and not any(a in columns for a in feature.aliases):
                errors[feature.name] = np.full(rows, MSG_REQUIRED, dtype=object)
        return ColumnCheck(matrix=matrix, errors=errors)

    def row(self, values: Mapping[str, Any]) -> np.ndarray:
        """One float64 row in model column order (NaN for missing values)."""
        out = np.full(len(self.features), np.nan)
        for name, value in values.items():
            i = self._index[name]
            feature = self.features[i]
            out[i] = feature.categories.index(value) if feature.type == CATEGORICAL else float(value)
        return out

    def matrix(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Many validated payloads as one float64 matrix."""
        out = np.full((len(rows), len(self.features)), np.nan)
        for r, values in enumerate(rows):
            out[r] = self.row(values)
        return out


def alias_conflicts(payload: Mapping[str, Any], aliases: Mapping[str, str]) -> dict[str, str]:
    """{alias: message} for every alias sent together with its canonical name (a 400 naming both)."""
    return {
        alias: f"'{alias}' is another name for '{canonical}': send one of them, not both."
        for alias, canonical in aliases.items()
        if alias in payload and canonical in payload
    }


def _named(errors: Mapping[str, str], feature: Feature) -> bool:
    return feature.name in errors or any(alias in errors for alias in feature.aliases)


@dataclass(frozen=True)
class ColumnCheck:
    """Text columns checked against a schema: the model matrix and the refused cells."""

    matrix: np.ndarray  # rows x features, model column order; NaN where missing or refused
    errors: dict[str, np.ndarray]  # field -> message per row (None where fine); fields with a refusal only

    def refused_rows(self) -> np.ndarray:
        """A boolean mask of the rows with at least one refused value."""
        refused = np.zeros(len(self.matrix), dtype=bool)
        for messages in self.errors.values():
            refused |= messages != None  # noqa: E711
        return refused

    def row_errors(self, row: int) -> dict[str, str]:
        """{field: message} for one row."""
        return {name: str(messages[row]) for name, messages in self.errors.items() if messages[row] is not None}


def parse_numbers(text: Sequence[str], empty: np.ndarray) -> np.ndarray:
    """Stripped cells as float64: NaN where empty or not a number the C way (``1_000``, ``1,5``,
    ``abc``, digits of other scripts such as ``٣٥``).

    Texts that spell NaN or infinity parse as such, so the caller tells them from empty cells.
    """
    cells = np.array(text, dtype=object)
    cells[empty] = "nan"
    try:
        values = cells.astype(float)  # float() on each cell, in C: the common case, all numbers
    except ValueError:
        values = np.array([_number(cell) for cell in cells.tolist()], dtype=float)
    values[empty] = np.nan
    joined = "".join(text)
    if "_" in joined:  # float() takes "1_000"; a number in a file does not
        values[np.fromiter(("_" in cell for cell in text), dtype=bool, count=len(text))] = np.nan
    if not joined.isascii():  # nor does it take other scripts' digits ("٣٥", full-width "３５") as numbers
        values[np.fromiter((not cell.isascii() for cell in text), dtype=bool, count=len(text))] = np.nan
    return values


def _number(cell: str) -> float:
    try:
        return float(cell)
    except ValueError:
        return math.nan


class _Problems:
    """Each row's first problem in one column, as a small code (object arrays only at the end)."""

    def __init__(self, rows: int) -> None:
        self.codes = np.zeros(rows, dtype=np.uint8)
        self.texts: list[str | None] = [None]

    def refuse(self, mask: np.ndarray, message: str) -> None:
        """Give ``message`` to the rows in ``mask`` that have no problem yet (the first is reported)."""
        first = mask & (self.codes == 0)
        if first.any():
            self.texts.append(message)
            self.codes[first] = len(self.texts) - 1

    @property
    def refused(self) -> np.ndarray:
        return self.codes > 0

    def messages(self) -> np.ndarray:
        return np.array(self.texts, dtype=object)[self.codes]


def category_message(feature: Feature, value: str | None = None) -> str:
    """The refusal of a category; batch files leave the value out (rejects are stored)."""
    shown = ", ".join(feature.categories[:20]) + (", ..." if len(feature.categories) > 20 else "")
    if value is None:
        return f"Not one of: {shown}."
    return f"'{value[:50]}' is not one of: {shown}."


def min_message(feature: Feature) -> str:
    return f"Ensure this value is greater than or equal to {_fmt(feature.min)}."


def max_message(feature: Feature) -> str:
    return f"Ensure this value is less than or equal to {_fmt(feature.max)}."


def _check(feature: Feature, value: Any) -> str | None:
    """The problem with one value, or None."""
    if value is None:
        return None
    if feature.type == CATEGORICAL:
        if not isinstance(value, str):
            return MSG_STRING
        if value not in feature.categories:
            return category_message(feature, value)
        return None
    # bool is an int in Python; true/false for a number is a client bug.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return MSG_NUMBER
    if isinstance(value, int) and abs(value) > 2**53:
        return "Ensure this value is a number of at most 16 digits."  # float(10**400) would overflow
    if not math.isfinite(value):
        return MSG_FINITE
    if feature.type == INTEGER and not float(value).is_integer():
        return MSG_INTEGER
    if feature.min is not None and value < feature.min:
        return min_message(feature)
    if feature.max is not None and value > feature.max:
        return max_message(feature)
    return None


def _fmt(number: float | None) -> str:
    assert number is not None
    return str(int(number)) if float(number).is_integer() else str(number)
