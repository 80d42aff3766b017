"""The drift statistics: the only module that imports Evidently (no Django here).

``drift_compare`` takes two frames with the same columns (a model's features plus its
score) and answers, per column, Evidently's drift statistic and verdict, plus the
self-contained HTML report. Evidently picks the statistic by the reference's size: up to
1,000 rows a p-value test (K-S for numbers, chi-square for categories; drift when the
p-value is *below* the threshold 0.05), above that a distance (Wasserstein normed for
numbers, Jensen-Shannon for categories; drift when the distance is *at or above* 0.1).

A column with too few values on either side (a feature the callers never send, say) is
not tested: Evidently refuses empty columns, and a distance on a handful of values is
noise. It is reported as such, with its share of missing values on both sides.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

os.environ.setdefault("DO_NOT_TRACK", "1")  # Evidently's telemetry lives in its UI service only; be sure

NUMERICAL = "numerical"
CATEGORICAL = "categorical"


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    tested: bool
    drifted: bool
    method: str = ""
    threshold: float | None = None
    score: float | None = None
    current_values: int = 0
    current_missing_share: float = 0.0
    reference_missing_share: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "tested": self.tested,
            "drifted": self.drifted,
            "method": self.method,
            "threshold": self.threshold,
            "score": None if self.score is None else round(self.score, 6),
            "current_values": self.current_values,
            "current_missing_share": round(self.current_missing_share, 4),
            "reference_missing_share": round(self.reference_missing_share, 4),
        }


@dataclass(frozen=True)
class DriftComparison:
    columns: dict[str, ColumnDrift]
    html: str


def _missing_share(series: pd.Series) -> float:
    return float(series.isna().mean()) if len(series) else 1.0


def drift_compare(
    *, reference: pd.DataFrame, current: pd.DataFrame, kinds: dict[str, str], min_values: int
) -> DriftComparison:
    """Per-column drift of ``current`` against ``reference`` (``kinds``: column -> numerical|categorical)."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    untested: dict[str, ColumnDrift] = {}
    tested: list[str] = []
    for column in kinds:
        cur, ref = current[column], reference[column]
        values = int(cur.notna().sum())
        if values < min_values or int(ref.notna().sum()) < min_values:
            untested[column] = ColumnDrift(
                column,
                tested=False,
                drifted=False,
                current_values=values,
                current_missing_share=_missing_share(cur),
                reference_missing_share=_missing_share(ref),
            )
        else:
            tested.append(column)
    if not tested:
        return DriftComparison(untested, "")

    definition = DataDefinition(
        numerical_columns=[c for c in tested if kinds[c] == NUMERICAL],
        categorical_columns=[c for c in tested if kinds[c] == CATEGORICAL],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy/pandas deprecation noise from Evidently and plotly
        snapshot = Report([DataDriftPreset(columns=tested)], include_tests=True).run(
            Dataset.from_pandas(current[tested], data_definition=definition),
            Dataset.from_pandas(reference[tested], data_definition=definition),
        )
        html = snapshot.get_html_str(as_iframe=False)
    # snapshot.dict() holds numpy scalars that json cannot write; its own json() can.
    results: dict[str, ColumnDrift] = {}
    for metric in json.loads(snapshot.json())["metrics"]:
        config = metric["config"]
        if not config["type"].endswith("ValueDrift"):
            continue
        column, method, threshold = config["column"], config["method"], float(config["threshold"])
        score = float(metric["value"])
        # p-value tests drift *below* their threshold, distances *at or above* it.
        drifted = score < threshold if "p_value" in method else score >= threshold
        results[column] = ColumnDrift(
            column,
            tested=True,
            drifted=bool(drifted),
            method=method,
            threshold=threshold,
            score=score,
            current_values=int(current[column].notna().sum()),
            current_missing_share=_missing_share(current[column]),
            reference_missing_share=_missing_share(reference[column]),
        )
    missing = set(tested) - set(results)
    if missing:  # Evidently changed its output: fail loudly rather than report a wrong share
        raise RuntimeError(f"Evidently gave no drift result for: {', '.join(sorted(missing))}")
    return DriftComparison({**results, **untested}, html)


def frame_from_rows(rows: list[list[Any]], columns: list[str], kinds: dict[str, str]) -> pd.DataFrame:
    """A frame with numbers as float (missing: NaN) and categories as strings (missing: None)."""
    frame = pd.DataFrame(rows, columns=columns)
    for column, kind in kinds.items():
        if column not in frame:
            frame[column] = np.nan if kind == NUMERICAL else None
        elif kind == NUMERICAL:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
        else:
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame[list(kinds)]
