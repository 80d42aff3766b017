"""Exact replay of stored credit decisions: each input snapshot through the exact model file it names.

For every decision: the model file of its version is loaded and checked against the
SHA-256 the decision stored (the version's, for decisions older than that column); the
snapshot goes through today's feature pipeline (a decision stored under another
``pipeline_version`` is a mismatch: it cannot be replayed exactly); then the probability
(to ``PROBABILITY_TOLERANCE``), the decision at the stored threshold and the reasons are
compared. The decision is recomputed with the refer rule it was made under (the band and
``SCORE_REFER_MISSING_SHARE`` stored on it, ``refer_rule``), so a band changed on the version
afterwards is no mismatch; decisions older than those columns fall back to the version's band
and today's setting. A decision whose model file is gone or fails its checks is reported,
never skipped.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

import numpy as np
from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from scoring.ml.model import ArtifactError, LoadedModel, load_booster, objective_sigmoid, refer_rule, sha256_hex
from scoring.ml.pipeline import PIPELINE_VERSION
from scoring.ml.schema import FeatureSchema, SchemaError
from scoring.models import Decision, ModelArtifact, ModelVersion
from scoring.services import outcome_for

PROBABILITY_TOLERANCE = 1e-12
# A reason's contribution is stored rounded to 6 decimals (Reason.as_dict). Two computations
# of it that agree to 1e-12 (LightGBM's TreeSHAP before the per-leaf tables, the tables since:
# scoring.ml.leafshap) can round one unit apart, so a replay accepts one unit and no more.
CONTRIBUTION_TOLERANCE = 1e-6 + 1e-9
# SCORE_REASON_COUNT's range (creditplatform.settings). A decision does not store the count in
# force when it was made: its reasons are replayed up to the largest count, and the stored ones
# must be the first of those, as many as some count in this range gives.
REASON_COUNTS = range(3, 11)
CHUNK = 2000


@dataclass(frozen=True)
class Mismatch:
    decision_id: str
    model_version: str
    what: str  # probability, decision, reasons, pipeline, artifact
    stored: Any
    replayed: Any

    def line(self) -> str:
        where = f"{self.decision_id} ({self.model_version})"
        return f"{where}: {self.what}: stored {self.stored!r}, replayed {self.replayed!r}"


@dataclass
class ReplayResult:
    checked: int = 0
    matched: int = 0
    mismatched: int = 0
    missing_artifact: int = 0  # decisions whose model file is gone or fails its checks
    mismatches: list[Mismatch] = field(default_factory=list)  # the first ones, up to ``keep``
    per_version: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.checked > 0 and self.mismatched == 0 and self.missing_artifact == 0


def decisions_to_replay(
    *, since: date | None = None, model_version: str | None = None, sample: int | None = None
) -> QuerySet[Decision]:
    decisions = Decision.objects.all()
    if since:
        decisions = decisions.filter(created_at__gte=timezone.make_aware(datetime.combine(since, time.min)))
    if model_version:
        decisions = decisions.filter(model_version__version=model_version)
    if sample:
        decisions = decisions.order_by("?")[:sample]
    return decisions


class _Gone(Exception):
    pass


def _load(version: ModelVersion, expected_sha256: str) -> LoadedModel:
    try:
        content = bytes(ModelArtifact.objects.only("content").get(model_version=version).content)
    except ModelArtifact.DoesNotExist as exc:
        raise _Gone("the model file is missing") from exc
    if sha256_hex(content) != expected_sha256:
        raise _Gone(
            f"the model file's SHA-256 is {sha256_hex(content)[:12]}…, the decision names {expected_sha256[:12]}…"
        )
    try:
        schema = FeatureSchema.from_list(version.feature_schema)
        booster = load_booster(content, schema, expected_sha256=expected_sha256)
    except (ArtifactError, SchemaError) as exc:
        raise _Gone(f"the model file fails its checks: {exc}") from exc
    return LoadedModel(
        model_version_id=version.pk,
        version=version.version,
        purpose=version.purpose,
        threshold=float(version.threshold),
        sha256=expected_sha256,
        schema=schema,
        booster=booster,
        sigmoid=objective_sigmoid(content),
        record=version,
    )


def _same_reasons(stored: list[dict[str, Any]], replayed: list[dict[str, Any]]) -> bool:
    if len(stored) != len(replayed):
        return False
    for a, b in zip(stored, replayed, strict=True):
        if set(a) != set(b):
            return False
        for key in a:
            x, y = a[key], b[key]
            if isinstance(x, float) and isinstance(y, float):
                if not math.isclose(x, y, rel_tol=0, abs_tol=CONTRIBUTION_TOLERANCE):
                    return False
            elif x != y:
                return False
    return True


def reasons_as_made(stored: list[dict[str, Any]], replayed: list[dict[str, Any]]) -> bool:
    """Whether ``stored`` is what some ``SCORE_REASON_COUNT`` (``REASON_COUNTS``) made of ``replayed``
    (the reasons up to the largest count): its first ones, all of them or at least the smallest count.

    ``reasons`` with a count gives the first ``count`` of what it gives with a larger one, so a
    change of the setting since the decision is no mismatch; a list cut below the smallest
    count, or other reasons, are.
    """
    n = len(stored)
    if n > len(replayed) or (n < len(replayed) and n < REASON_COUNTS[0]):
        return False
    return _same_reasons(stored, replayed[:n])


def _chunks(decisions: QuerySet[Decision]) -> Iterator[list[Decision]]:
    batch: list[Decision] = []
    fields = ("id", "model_version", "artifact_sha256", "pipeline_version", "features", "probability_default",
              "prediction", "decision", "threshold_used", "reasons", "refer_lower_used", "refer_upper_used",
              "refer_missing_share_used")  # fmt: skip
    for decision in decisions.only(*fields).iterator(chunk_size=CHUNK):
        batch.append(decision)
        if len(batch) >= CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def refer_rule_used(decision: Decision, version: ModelVersion) -> tuple[float | None, float | None, float]:
    """The refer band and missing-share setting a decision was made under.

    Stored on the decision since they were kept (``refer_missing_share_used`` set, the band
    empty when the version had none); older decisions get the version's band and today's setting.
    """
    if decision.refer_missing_share_used is not None:
        return decision.refer_lower_used, decision.refer_upper_used, decision.refer_missing_share_used
    return version.refer_lower, version.refer_upper, float(settings.SCORE_REFER_MISSING_SHARE)


def _referred(
    group: list[Decision], version: ModelVersion, model: LoadedModel, probabilities: np.ndarray, matrix: np.ndarray
) -> np.ndarray:
    """Per decision of the group: referred under its own rule (one ``refer_rule`` call per distinct rule)."""
    referred = np.zeros(len(group), dtype=bool)
    missing_share = model.missing_share(matrix)
    by_rule: dict[tuple[float | None, float | None, float], list[int]] = defaultdict(list)
    for i, d in enumerate(group):
        by_rule[refer_rule_used(d, version)].append(i)
    for (lower, upper, max_missing_share), rows in by_rule.items():
        index = np.asarray(rows, dtype=int)
        referred[index] = refer_rule(
            probabilities[index], missing_share[index], lower=lower, upper=upper, max_missing_share=max_missing_share
        )
    return referred


def decisions_replay(*, decisions: QuerySet[Decision], keep: int = 20) -> ReplayResult:
    """Replay ``decisions`` (credit) and count the matches; the first ``keep`` mismatches are kept."""
    result = ReplayResult()
    versions = {v.pk: v for v in ModelVersion.objects.all()}
    loaded: dict[tuple[int, str], LoadedModel | str] = {}

    def note(d: Decision, version: ModelVersion, what: str, stored: Any, replayed: Any) -> None:
        if len(result.mismatches) < keep:
            result.mismatches.append(Mismatch(str(d.id), version.version, what, stored, replayed))

    for chunk in _chunks(decisions):
        groups: dict[tuple[int, str], list[Decision]] = defaultdict(list)
        for d in chunk:
            version = versions[d.model_version_id]
            groups[(version.pk, d.artifact_sha256 or version.sha256)].append(d)
        for (version_pk, sha), group in groups.items():
            version = versions[version_pk]
            counts = result.per_version.setdefault(version.version, {"matched": 0, "mismatched": 0, "missing": 0})
            if (version_pk, sha) not in loaded:
                try:
                    loaded[(version_pk, sha)] = _load(version, sha)
                except _Gone as exc:
                    loaded[(version_pk, sha)] = str(exc)
            model = loaded[(version_pk, sha)]
            result.checked += len(group)
            if isinstance(model, str):
                result.missing_artifact += len(group)
                counts["missing"] += len(group)
                for d in group:
                    note(d, version, "artifact", sha, model)
                continue
            matrix = model.schema.matrix([d.features for d in group])
            probabilities, contributions = model.score(matrix)
            referred = _referred(group, version, model, probabilities, matrix)
            for i, d in enumerate(group):
                problems: list[tuple[str, Any, Any]] = []
                if d.pipeline_version and d.pipeline_version != PIPELINE_VERSION:
                    problems.append(("pipeline", d.pipeline_version, PIPELINE_VERSION))
                p = min(max(float(probabilities[i]), 0.0), 1.0)
                if not math.isclose(p, d.probability_default, rel_tol=0, abs_tol=PROBABILITY_TOLERANCE):
                    problems.append(("probability", d.probability_default, p))
                prediction = int(p >= d.threshold_used)
                if prediction != d.prediction:  # a referred decision's verdict is not in its outcome
                    problems.append(("prediction", d.prediction, prediction))
                outcome = outcome_for(prediction, bool(referred[i]))
                if outcome != d.decision:
                    problems.append(("decision", d.decision, str(outcome)))
                reasons = [r.as_dict() for r in model.reasons(contributions[i], d.features, REASON_COUNTS[-1])]
                if not reasons_as_made(d.reasons, reasons):
                    shown = reasons[: max(len(d.reasons), settings.SCORE_REASON_COUNT)]
                    problems.append(("reasons", [r.get("feature") for r in d.reasons], [r["feature"] for r in shown]))
                if problems:
                    result.mismatched += 1
                    counts["mismatched"] += 1
                    for what, stored, replayed in problems:
                        note(d, version, what, stored, replayed)
                else:
                    result.matched += 1
                    counts["matched"] += 1
    return result
