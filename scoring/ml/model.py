"""A loaded, checked LightGBM model and the predictions made with it (no Django here).

An artifact is the model text LightGBM writes (``Booster.model_to_string``). Before it is
used it must prove it is the registered one (SHA-256) and that it takes exactly the
registered schema (same features, same order, categorical where the schema says so), so a
swapped, truncated or mismatched file is refused instead of scoring nonsense. A crafted file
(a child index outside its tree, a cycle, NaN thresholds, ten thousand deep trees...) is
refused before LightGBM parses it (``scoring.ml.structure``), and a new file is also run in a
child process before it may serve (``scoring.ml.probe``).

Every prediction runs on one thread (``num_threads=1``): on a busy 2-core machine
LightGBM's OpenMP threads otherwise spin against each other and a 30 µs single-row
predict becomes milliseconds.

TreeSHAP contributions (the reasons) come from per-leaf tables built once per model and
process (``scoring.ml.leafshap``: LightGBM's values to ~1e-15, in 43 % of the
instructions), for a model whose tables pass their check against LightGBM; any other model
keeps LightGBM's own ``pred_contrib``. Requests and replays go through
``LoadedModel.contributions``, so they compute the same bits; batch jobs check their memo
against it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from scoring.ml import leafshap
from scoring.ml.schema import FeatureSchema
from scoring.ml.single_row import SingleRowPredictor
from scoring.ml.structure import MalformedModel, check_structure

logger = logging.getLogger(__name__)

MAX_ARTIFACT_BYTES = 50 * 1024 * 1024
DEFAULT_REASON_COUNT = 4
MIN_REASON_COUNT = 3


class ArtifactError(ValueError):
    """The model file cannot be used: corrupt, altered, or not matching its schema."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def objective_sigmoid(artifact: bytes) -> float:
    """The ``sigmoid:`` parameter of a binary objective (LightGBM's default is 1)."""
    for part in _header(artifact.decode("utf-8", "replace")).get("objective", "").split():
        if part.startswith("sigmoid:"):
            return float(part.split(":", 1)[1])
    return 1.0


def _header(text: str) -> dict[str, str]:
    """The ``key=value`` lines before the first tree."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("Tree="):
            break
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


PROBE_TIMEOUT_SECONDS = 90  # the child's own CPU limit is 60 s (scoring.ml.probe)
_vetted: set[str] = set()  # files (with their schema) a child process has loaded and run cleanly


def probe_in_subprocess(text: str, schema: FeatureSchema) -> None:
    """Load and run the model in a child process first (see ``scoring.ml.probe``); once per file and schema."""
    request = json.dumps({"model": text, "schema": schema.to_list()}).encode()
    digest = sha256_hex(request)
    if digest in _vetted:
        return
    try:
        done = subprocess.run(
            [sys.executable, "-m", "scoring.ml.probe"],
            input=request,
            capture_output=True,
            timeout=PROBE_TIMEOUT_SECONDS,
            cwd=Path(__file__).resolve().parents[2],
            env={**os.environ, "OMP_NUM_THREADS": "1"},
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ArtifactError("LightGBM took too long to load and run this model file.") from exc
    try:
        answer = json.loads(done.stdout or b"{}")
    except ValueError:
        answer = {}
    if done.returncode == 0 and "features" in answer:
        _vetted.add(digest)
        return
    if isinstance(answer, dict) and "error" in answer:
        raise ArtifactError(f"This model file cannot be served: {str(answer['error'])[:300]}.")
    how = f"signal {-done.returncode}" if done.returncode < 0 else f"exit status {done.returncode}"
    raise ArtifactError(f"This model file is corrupt: LightGBM crashed on it in a test process ({how}).")


def artifact_size_check(*, size: int) -> None:
    """The size limit of a model file, checked before an upload is read and again on its bytes."""
    if size > MAX_ARTIFACT_BYTES:
        raise ArtifactError(f"The model file is larger than {MAX_ARTIFACT_BYTES // (1024 * 1024)} MB.")


def load_booster(
    artifact: bytes, schema: FeatureSchema, expected_sha256: str | None = None, *, isolated: bool = False
) -> lgb.Booster:
    """Check ``artifact`` and return its booster; raises ``ArtifactError`` with the reason.

    Every file is checked structurally first (``scoring.ml.structure``: plain Python, before
    LightGBM parses anything), so a crafted file cannot crash or hang this process.
    ``isolated=True`` also loads it and predicts with it in a child process (see
    ``scoring.ml.probe``), for files that have not been vetted yet: uploads, registration,
    activation. Files already registered are identified by their SHA-256.
    """
    if not artifact:
        raise ArtifactError("The model file is empty.")
    artifact_size_check(size=len(artifact))
    if expected_sha256 is not None and sha256_hex(artifact) != expected_sha256:
        raise ArtifactError("The model file does not match its registered SHA-256: it was altered or corrupted.")
    try:
        text = artifact.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ArtifactError("This is not a LightGBM model file (not text).") from exc
    header = _header(text)
    if not text.startswith("tree") or "feature_names" not in header:
        raise ArtifactError("This is not a LightGBM model file (no 'tree' header or feature names).")
    if not header.get("objective", "").startswith("binary"):
        raise ArtifactError(
            f"Only binary classifiers are served; this model's objective is {header.get('objective')!r}."
        )
    if "end of trees" not in text:
        raise ArtifactError("The model file is truncated (no 'end of trees').")
    try:
        check_structure(artifact, schema)
    except MalformedModel as exc:
        raise ArtifactError(f"This model file cannot be served: {exc}.") from exc
    if isolated:
        probe_in_subprocess(text, schema)
    try:
        booster = lgb.Booster(model_str=text)
    except lgb.basic.LightGBMError as exc:
        raise ArtifactError(f"LightGBM cannot load this model file: {str(exc)[:200]}") from exc
    if booster.feature_name() != schema.names:  # already checked on the text; LightGBM must agree
        raise ArtifactError("The model's features do not match the schema.")
    return booster


def gain_shares(booster: lgb.Booster) -> np.ndarray:
    """Each feature's share of the total split gain (zeros for a model without a split)."""
    gain = np.asarray(booster.feature_importance(importance_type="gain"), dtype=float)
    total = gain.sum()
    return gain / total if total > 0 else np.zeros_like(gain)


@dataclass(frozen=True)
class Reason:
    """One adverse-action reason: a feature and how far it moved the score (log-odds)."""

    feature: str
    label: str
    value: Any
    contribution: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "label": self.label,
            "value": self.value,
            "contribution": round(self.contribution, 6),
        }


# The order of a reason's keys in every answer (``in_key_order``): as ``Reason.as_dict`` writes them.
REASON_KEYS = tuple(f.name for f in fields(Reason))


def refer_rule(
    probabilities: np.ndarray,
    missing_share: np.ndarray,
    *,
    lower: float | None,
    upper: float | None,
    max_missing_share: float,
) -> np.ndarray:
    """Which rows go to an underwriter: inside the refer band [lower, upper], or too much of what
    matters missing (``missing_share`` above ``max_missing_share``).

    Without a band nothing is referred (every decision is approve or refuse, as before bands).
    The one home of the rule: scoring (``LoadedModel.referred``) and exact replay
    (governance/replay.py, with the band stored on each decision) both call it.
    """
    if lower is None or upper is None:
        return np.zeros(len(probabilities), dtype=bool)
    in_band = (probabilities >= lower) & (probabilities <= upper)
    return np.asarray(in_band | (missing_share > max_missing_share), dtype=bool)


@dataclass(frozen=True)
class LoadedModel:
    """A registry entry loaded in this process: immutable, shared by every request.

    A request takes one reference and uses it from validation to the stored decision, so
    a swap in the middle of a request can never mix two versions.
    """

    model_version_id: int
    version: str
    purpose: str
    threshold: float
    sha256: str
    schema: FeatureSchema
    booster: lgb.Booster
    sigmoid: float = 1.0  # the binary objective's slope: probability = 1 / (1 + exp(-sigmoid * raw score))
    record: Any = None  # the registry row it came from (scoring.models.ModelVersion), read-only
    refer_lower: float | None = None  # the refer band (both set or neither)
    refer_upper: float | None = None
    importance: np.ndarray | None = None  # per feature, its share of the model's total gain (sums to 1)
    # Made at first use, kept for the life of this object: the single-row predictors and the
    # TreeSHAP tables (None: the model keeps LightGBM's TreeSHAP).
    _per_process: dict[str, SingleRowPredictor | leafshap.LeafTreeShap | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.importance is None:
            object.__setattr__(self, "importance", gain_shares(self.booster))

    @property
    def has_refer_band(self) -> bool:
        return self.refer_lower is not None and self.refer_upper is not None

    def missing_share(self, matrix: np.ndarray) -> np.ndarray:
        """Per row: the share of the model's importance (gain) carried by the features missing (NaN)."""
        assert self.importance is not None
        return np.asarray(np.isnan(matrix) @ self.importance, dtype=float)

    def referred(self, probabilities: np.ndarray, matrix: np.ndarray, max_missing_share: float) -> np.ndarray:
        """Which rows go to an underwriter under this model's band (see ``refer_rule``)."""
        return refer_rule(
            probabilities,
            self.missing_share(matrix),
            lower=self.refer_lower,
            upper=self.refer_upper,
            max_missing_share=max_missing_share,
        )

    def probabilities(self, matrix: np.ndarray) -> np.ndarray:
        """Probability of the positive class (default, fraud) for each row."""
        if len(matrix) == 1:  # a request: LightGBM's single-row API, the same numbers
            return self._single_row(contributions=False)(matrix[0])
        return np.asarray(self.booster.predict(matrix, num_threads=1), dtype=float)

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """TreeSHAP contributions (LightGBM's ``pred_contrib``): one column per feature plus the bias.

        Each row sums to the raw score (log-odds) of that row. From the per-leaf tables when
        the model has them (the module's docstring), else from LightGBM.
        """
        tables = self.shap_tables()
        if tables is not None:
            return tables.row(matrix[0]).reshape(1, -1) if len(matrix) == 1 else tables.contributions(matrix)
        if len(matrix) == 1:
            return self._single_row(contributions=True)(matrix[0]).reshape(1, -1)
        return np.asarray(self.booster.predict(matrix, pred_contrib=True, num_threads=1), dtype=float)

    def shap_tables(self) -> leafshap.LeafTreeShap | None:
        """This model's TreeSHAP tables, built and checked at first use; None if it cannot have them."""
        if "tables" not in self._per_process:
            self._per_process["tables"] = _checked_tables(self.booster, self.describe())
        tables = self._per_process["tables"]
        assert tables is None or isinstance(tables, leafshap.LeafTreeShap)
        return tables

    def _single_row(self, *, contributions: bool) -> SingleRowPredictor:
        """This model's single-row predictor (``scoring.ml.single_row``), made at its first use."""
        key = "contributions" if contributions else "probability"
        predictor = self._per_process.get(key)
        if predictor is None:
            predictor = self._per_process[key] = SingleRowPredictor(self.booster, contributions=contributions)
        assert isinstance(predictor, SingleRowPredictor)
        return predictor

    def score(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and contributions from one LightGBM call (the contributions sum to the raw score)."""
        contributions = self.contributions(matrix)
        raw = contributions.sum(axis=1)
        return 1.0 / (1.0 + np.exp(-self.sigmoid * raw)), contributions

    def reasons(
        self, contributions: np.ndarray, values: dict[str, Any], count: int = DEFAULT_REASON_COUNT
    ) -> list[Reason]:
        """The features that pushed the score up most, from one row of ``contributions``.

        Up to ``count`` features with a positive contribution, largest first; when fewer
        than three pushed it up (a clear approval), the next largest follow so that at
        least three are shown. Features that did not move the score are never listed.
        """
        per_feature = contributions[: len(self.schema)]
        order = np.argsort(-per_feature, kind="stable")
        chosen: list[Reason] = []
        for i in order:
            contribution = float(per_feature[i])
            if contribution == 0.0:
                continue
            if contribution < 0 and len(chosen) >= MIN_REASON_COUNT:
                break
            feature = self.schema.features[i]
            chosen.append(Reason(feature.name, feature.display, values.get(feature.name), contribution))
            if len(chosen) >= count:
                break
        return chosen

    def describe(self) -> str:
        return f"{self.purpose} {self.version}"


def _checked_tables(booster: lgb.Booster, name: str) -> leafshap.LeafTreeShap | None:
    """TreeSHAP tables for ``booster`` if it can have them and they agree with LightGBM on ``check_rows``."""
    if not isinstance(booster, lgb.Booster):
        return None  # (a test's stand-in)
    try:
        tables = leafshap.LeafTreeShap(booster)
    except leafshap.UnsupportedModel as exc:
        logger.info("model %s keeps LightGBM's TreeSHAP: %s", name, exc)
        return None
    difference = tables.check(booster, tables.check_rows())
    if not difference <= leafshap.CHECK_TOLERANCE:
        logger.warning(
            "model %s keeps LightGBM's TreeSHAP: its tables differ by %.3g (tolerance %.3g)",
            name,
            difference,
            leafshap.CHECK_TOLERANCE,
        )
        return None
    return tables
