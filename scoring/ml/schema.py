"""Feature schemas: what a model takes, and the validation of a payload against it.

Pure Python and NumPy (no Django): training, serving and the admin share it. A schema is
the list of a model's input features *in the model's column order*; each feature says its
type, its allowed range or categories and a readable label (used for reason codes).

Serving turns a validated payload into one float64 row: numbers as they are, categories as
their index in ``categories`` (the integer codes LightGBM was trained on), and a missing
value as NaN, which LightGBM routes down each split's default branch.

A feature may also declare **aliases**: other names a caller may send it under (the seed
clients send ``montant_credit`` for the requested ``amount``). Validation accepts either
name, refuses both at once, and always returns values under the feature's own (canonical)
name, so stored snapshots, replays, drift reports and reasons see one vocabulary.
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

FEATURE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")  # always fullmatch: "$" would let "age\n" in
MAX_CATEGORIES = 200
MAX_CATEGORY_LENGTH = 100


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

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not FEATURE_NAME.fullmatch(self.name):
            raise SchemaError(
                f"{self.name!r}: feature names are 1-64 letters, digits or '_', not starting with a digit"
            )
        for alias in self.aliases:
            if not isinstance(alias, str) or not FEATURE_NAME.fullmatch(alias):
                raise SchemaError(f"{self.name}: alias {alias!r} is not a valid name (letters, digits, '_')")
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
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Feature:
        if not isinstance(raw, Mapping):
            raise SchemaError("each feature is an object with at least a 'name'")
        unknown = set(raw) - {"name", "type", "label", "min", "max", "categories", "required", "source", "aliases"}
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
                errors[str(key)] = "Unknown field."
                continue
            message = _check(self.features[self._index[name]], value)
            if message:
                errors[key] = message
            elif value is not None:
                values[name] = value
        for feature in self.features:
            if feature.required and feature.name not in values and not _named(errors, feature):
                errors[feature.name] = "This field is required."
        return values, errors

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


def _check(feature: Feature, value: Any) -> str | None:
    """The problem with one value, or None."""
    if value is None:
        return None
    if feature.type == CATEGORICAL:
        if not isinstance(value, str):
            return "Not a valid string."
        if value not in feature.categories:
            shown = ", ".join(feature.categories[:20]) + (", ..." if len(feature.categories) > 20 else "")
            return f"'{value[:50]}' is not one of: {shown}."
        return None
    # bool is an int in Python; true/false for a number is a client bug.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "A valid number is required."
    if isinstance(value, int) and abs(value) > 2**53:
        return "Ensure this value is a number of at most 16 digits."  # float(10**400) would overflow
    if not math.isfinite(value):
        return "A finite number is required."
    if feature.type == INTEGER and not float(value).is_integer():
        return "A valid integer is required."
    if feature.min is not None and value < feature.min:
        return f"Ensure this value is greater than or equal to {_fmt(feature.min)}."
    if feature.max is not None and value > feature.max:
        return f"Ensure this value is less than or equal to {_fmt(feature.max)}."
    return None


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)
