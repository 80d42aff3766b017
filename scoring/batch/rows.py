"""A chunk's rows: checked, scored with one vectorised model call, explained, rendered for storage.

No database here: the services resolve clients and applications and write what this
returns. The rules are ``/score``'s own: the schema's checks (``FeatureSchema.validate_columns``),
the model's threshold, ``risk_level_for``'s bands and ``LoadedModel.reasons``'s choice of
reason codes, applied to whole columns at once. Decisions are rendered as the JSON texts
the database stores (input snapshot, reasons), compact, built from per-feature fragments
rather than a ``json.dumps`` per row: at a million rows that is the difference between
seconds and minutes (and every byte saved is a byte PostgreSQL does not parse).
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass, field, replace

import numpy as np

from scoring.batch.files import LINK_COLUMNS, ChunkRows
from scoring.choices import CreditDecisionOutcome, RiskLevel
from scoring.ml.explain import CHECK_TOLERANCE, TreeShapExplainer, for_booster
from scoring.ml.model import MIN_REASON_COUNT, LoadedModel
from scoring.ml.schema import CATEGORICAL, FeatureSchema
from scoring.validators import ERASED_PREFIX, EXTERNAL_ID_PATTERN, RESERVED_ID_MESSAGE, external_id_validator

logger = logging.getLogger(__name__)

_EXTERNAL_ID = re.compile(EXTERNAL_ID_PATTERN.strip("^$"))  # fullmatch: "C1001\n" is not an id
VERIFY_ROWS = 8  # rows of each chunk whose reasons are checked against LightGBM's own pred_contrib


@dataclass
class CheckedRows:
    """The rows fit to score (in file order) and the rejected ones with their reasons."""

    rows: np.ndarray  # row numbers
    matrix: np.ndarray  # model column order, NaN = missing
    features: list[str]  # the feature columns the file has, in schema order
    client_ids: np.ndarray  # object: external id or None
    application_ids: np.ndarray
    rejects: dict[int, dict[str, str]] = field(default_factory=dict)

    def drop(self, refused: dict[int, dict[str, str]]) -> CheckedRows:
        """The same rows without ``refused`` (rejected later, e.g. an unknown application)."""
        if not refused:
            return self
        keep = ~np.isin(self.rows, np.fromiter(refused, dtype=np.int64, count=len(refused)))
        return CheckedRows(
            rows=self.rows[keep],
            matrix=self.matrix[keep],
            features=self.features,
            client_ids=self.client_ids[keep],
            application_ids=self.application_ids[keep],
            rejects={**self.rejects, **refused},
        )


def canonical_columns(chunk: ChunkRows, schema: FeatureSchema) -> ChunkRows:
    """The chunk with a column named by a feature's alias (``montant_credit``) named by the feature
    (``amount``), as ``/score`` reads an alias; the header check refused a file with both."""
    aliases = schema.aliases
    if not any(name in aliases for name in chunk.columns):
        return chunk
    return replace(chunk, columns={aliases.get(name, name): cells for name, cells in chunk.columns.items()})


def check_rows(schema: FeatureSchema, chunk: ChunkRows) -> CheckedRows:
    """Apply the schema's rules to every row; a refused row goes to ``rejects`` ({column: message}).

    Columns are checked under the names the file's header gives them: a reject in a column
    headed by an alias names ``montant_credit``, as the caller wrote it, not ``amount``.
    """
    n = len(chunk.rows)
    aliases = schema.aliases
    sent = [name for name in chunk.columns if name in schema or name in aliases]
    features = [f.name for f in schema if f.name in {aliases.get(name, name) for name in sent}]
    checked = schema.validate_columns({name: chunk.columns[name] for name in sent}, n)
    errors = dict(checked.errors)
    links: dict[str, np.ndarray] = {}
    for name in LINK_COLUMNS:
        values = np.full(n, None, dtype=object)
        if name in chunk.columns:
            text = np.array([cell.strip() for cell in chunk.columns[name]], dtype=object)
            given = text != ""
            valid = np.fromiter((_EXTERNAL_ID.fullmatch(cell) is not None for cell in text), dtype=bool, count=n)
            # external_id_validator's rule: an erased client's token (erased-…) is not sent as an id.
            reserved = np.fromiter((cell.startswith(ERASED_PREFIX) for cell in text), dtype=bool, count=n) & valid
            valid &= ~reserved
            values[given & valid] = text[given & valid]
            if (given & ~valid).any():
                messages = np.full(n, None, dtype=object)
                messages[given & ~valid] = str(external_id_validator.message)
                messages[given & reserved] = RESERVED_ID_MESSAGE
                errors[name] = messages
        links[name] = values
    refused = np.zeros(n, dtype=bool)
    for messages in errors.values():
        refused |= messages != None  # noqa: E711
    rejects = {int(row): {"row": message} for row, message in chunk.malformed.items()}
    for i in np.flatnonzero(refused).tolist():
        rejects[int(chunk.rows[i])] = {
            name: str(messages[i]) for name, messages in errors.items() if messages[i] is not None
        }
    keep = ~refused
    return CheckedRows(
        rows=chunk.rows[keep],
        matrix=checked.matrix[keep],
        features=features,
        client_ids=links["client_id"][keep],
        application_ids=links["application_id"][keep],
        rejects=rejects,
    )


@dataclass
class ScoredRows:
    """Decisions on the checked rows, as stored: numbers, and JSON texts for the JSON columns."""

    rows: np.ndarray
    probabilities: np.ndarray
    predictions: np.ndarray  # 0 accept, 1 refuse
    decisions: np.ndarray  # object: "approve"/"refer"/"refuse"
    risk_levels: np.ndarray  # object
    features_json: list[str]
    reasons_json: list[str]
    latency_ms: float  # per row
    exact_fallback: bool = False  # the memoised reasons disagreed with LightGBM: computed row by row

    @property
    def outcomes(self) -> list[str]:
        return self.decisions.tolist()

    def subset(self, keep: np.ndarray) -> ScoredRows:
        """Only the rows where ``keep`` (a boolean mask) is true."""
        positions = np.flatnonzero(keep).tolist()
        return ScoredRows(
            rows=self.rows[keep],
            probabilities=self.probabilities[keep],
            predictions=self.predictions[keep],
            decisions=self.decisions[keep],
            risk_levels=self.risk_levels[keep],
            features_json=[self.features_json[i] for i in positions],
            reasons_json=[self.reasons_json[i] for i in positions],
            latency_ms=self.latency_ms,
            exact_fallback=self.exact_fallback,
        )


def risk_levels(probabilities: np.ndarray, threshold: float, medium_fraction: float) -> np.ndarray:
    """``scoring.services.risk_level_for`` on a whole column (the same bands)."""
    out = np.full(len(probabilities), RiskLevel.LOW.value, dtype=object)
    out[probabilities >= threshold * medium_fraction] = RiskLevel.MEDIUM.value
    out[probabilities >= threshold] = RiskLevel.HIGH.value
    return out


def score_rows(
    model: LoadedModel,
    checked: CheckedRows,
    *,
    reason_count: int,
    medium_fraction: float,
    seed: int = 0,
    refer_missing_share: float = 1.0,
) -> ScoredRows:
    """Probabilities and TreeSHAP reasons of every checked row, from one pass over the trees."""
    started = time.perf_counter()
    matrix = checked.matrix
    contributions, fallback = _contributions(model, matrix, seed)
    raw = contributions.sum(axis=1)
    with np.errstate(over="ignore"):
        probabilities = np.clip(1.0 / (1.0 + np.exp(-model.sigmoid * raw)), 0.0, 1.0)
    predictions = (probabilities >= model.threshold).astype(np.int64)
    decisions = np.where(predictions == 1, CreditDecisionOutcome.REFUSE.value, CreditDecisionOutcome.APPROVE.value)
    # The refer band and the missing-information rule (``LoadedModel.referred``), as /score applies them.
    decisions = np.where(
        model.referred(probabilities, matrix, refer_missing_share), CreditDecisionOutcome.REFER.value, decisions
    )
    texts = _value_texts(model.schema, matrix, checked.features)
    features_json = _features_json(model.schema, texts, len(matrix))
    reasons_json = _reasons_json(model.schema, contributions, texts, reason_count)
    elapsed_ms = (time.perf_counter() - started) * 1000
    return ScoredRows(
        rows=checked.rows,
        probabilities=probabilities,
        predictions=predictions,
        decisions=decisions.astype(object),
        risk_levels=risk_levels(probabilities, model.threshold, medium_fraction),
        features_json=features_json,
        reasons_json=reasons_json,
        latency_ms=round(elapsed_ms / max(len(matrix), 1), 3),
        exact_fallback=fallback,
    )


def _contributions(model: LoadedModel, matrix: np.ndarray, seed: int) -> tuple[np.ndarray, bool]:
    """Memoised TreeSHAP (``scoring.ml.explain``), checked on a few rows against LightGBM's own."""
    if not len(matrix):
        return np.zeros((0, len(model.schema) + 1)), False
    explainer = explainer_for(model)
    if explainer is not None:
        contributions = explainer.contributions(matrix)
        sample = np.random.default_rng(seed).choice(len(matrix), size=min(VERIFY_ROWS, len(matrix)), replace=False)
        exact = model.contributions(matrix[sample])
        difference = float(np.max(np.abs(exact - contributions[sample])))
        if difference <= CHECK_TOLERANCE:
            return contributions, False
        logger.error(
            "memoised TreeSHAP disagreed with LightGBM; this chunk is explained row by row",
            extra={"model_version": model.version, "difference": difference},
        )
    return model.contributions(matrix), True


def explainer_for(model: LoadedModel) -> TreeShapExplainer | None:
    counts = {i: len(f.categories) for i, f in enumerate(model.schema) if f.type == CATEGORICAL}
    return for_booster(model.sha256, model.booster, counts)


# --- Rendering -----------------------------------------------------------------------------


def _number_texts(values: np.ndarray) -> np.ndarray:
    """JSON numbers: whole values as integers (35, not 35.0), others as Python writes them."""
    out = np.empty(len(values), dtype=object)
    whole = np.isfinite(values) & (values == np.floor(values)) & (np.abs(values) < 2**53)
    # Python's own str/repr: what json.dumps writes, and several times faster than NumPy's astype(str).
    out[whole] = list(map(str, values[whole].astype(np.int64).tolist()))
    rest = np.flatnonzero(~whole & ~np.isnan(values))
    out[rest] = list(map(repr, values[rest].tolist()))
    return out


def _value_texts(schema: FeatureSchema, matrix: np.ndarray, present: list[str]) -> dict[str, np.ndarray]:
    """Each present feature's values as JSON texts; None where the value is missing."""
    out: dict[str, np.ndarray] = {}
    for name in present:
        i = schema.names.index(name)
        feature = schema.features[i]
        column = matrix[:, i]
        missing = np.isnan(column)
        if feature.type == CATEGORICAL:
            literals = np.array([json.dumps(c) for c in feature.categories], dtype=object)
            texts = np.full(len(column), None, dtype=object)
            texts[~missing] = literals[column[~missing].astype(np.int64)]
        else:
            texts = _number_texts(column)
            texts[missing] = None
        out[name] = texts
    return out


def _features_json(schema: FeatureSchema, texts: dict[str, np.ndarray], n: int) -> list[str]:
    """The input snapshot of each row: the features given, as ``/score`` stores them."""
    columns = [(json.dumps(f.name) + ":", texts[f.name].tolist()) for f in schema.features if f.name in texts]
    return ["{" + ",".join([key + cells[r] for key, cells in columns if cells[r] is not None]) + "}" for r in range(n)]


def _reasons_json(
    schema: FeatureSchema, contributions: np.ndarray, texts: dict[str, np.ndarray], count: int
) -> list[str]:
    """``LoadedModel.reasons`` for every row: the features that pushed the score up most.

    Up to ``count`` positive contributions, largest first; at least ``MIN_REASON_COUNT``
    non-zero ones (the next largest) when fewer pushed it up; zeros never. The choice and
    the rounding are done slot by slot for all rows at once (the first reason of every
    row, then the second...), the texts assembled row by row.
    """
    n, features = len(contributions), len(schema)
    if not n:
        return []
    per_feature = contributions[:, :features]
    order = np.argsort(-per_feature, axis=1, kind="stable")
    ranked = np.take_along_axis(per_feature, order, axis=1)
    positive = (per_feature > 0).sum(axis=1)
    nonzero = (per_feature != 0).sum(axis=1)
    chosen = np.where(positive >= MIN_REASON_COUNT, np.minimum(count, positive), np.minimum(MIN_REASON_COUNT, nonzero))
    first_negative = features - (nonzero - positive)  # ranked position of the first negative
    heads = [
        '{"feature":' + json.dumps(f.name) + ',"label":' + json.dumps(f.display) + ',"value":' for f in schema.features
    ]
    values = []
    for feature in schema.features:
        column = texts.get(feature.name)
        values.append(["null" if v is None else v for v in column.tolist()] if column is not None else ["null"] * n)
    everyone = np.arange(n)
    slot_features: list[list[int]] = []
    slot_amounts: list[list[str]] = []
    for slot in range(int(chosen.max(initial=0))):
        # Slot j is the j-th positive, or past the positives the next negative (after the zeros).
        position = np.minimum(np.where(slot < positive, slot, first_negative + slot - positive), features - 1)
        slot_features.append(order[everyone, position].tolist())
        slot_amounts.append(rounded_texts(ranked[everyone, position]).tolist())
    out = []
    for r, k in enumerate(chosen.tolist()):
        parts = []
        for slot in range(k):
            i = slot_features[slot][r]
            parts.append(f'{heads[i]}{values[i][r]},"contribution":{slot_amounts[slot][r]}}}')
        out.append("[" + ",".join(parts) + "]")
    return out


def rounded_texts(values: np.ndarray, digits: int = 6) -> np.ndarray:
    """``repr(round(v, 6))`` of each value (``Reason.as_dict``'s rounding), vectorised.

    NumPy rounds through ``v * 10**6``, which can land on the other side of a half when the
    product is within rounding error of one; those few values are rounded by Python itself,
    so every text is exactly what ``/score`` would store.
    """
    scaled = values * 10.0**digits
    rounded = np.round(values, digits)
    doubtful = np.flatnonzero(np.abs(np.abs(scaled - np.floor(scaled)) - 0.5) < 1e-6)
    for i in doubtful.tolist():
        rounded[i] = round(float(values[i]), digits)
    texts = np.array(list(map(repr, rounded.tolist())), dtype=object)  # Python's repr: what json.dumps writes
    texts[~np.isfinite(rounded)] = "null"
    return texts


def copy_safe(texts: list[str]) -> bool:
    """No character PostgreSQL's COPY text format would need escaped, in any of the texts."""
    joined = "".join(texts)
    return not any(ch in joined for ch in ("\\", "\t", "\n", "\r"))
