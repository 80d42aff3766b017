"""Storing a chunk's decisions in bulk: ``COPY`` on PostgreSQL, ``bulk_create`` elsewhere.

Called inside the chunk's transaction (``scoring.batch.services``), which also marks the
chunk done: either all its rows are stored or none is. ``COPY`` straight into the
decision table is the fast path. Should a row already be there (it cannot, short of a bug:
a chunk's rows and its ``done`` mark commit together, and a chunk is claimed by one attempt
at a time), the unique ``(batch_job, batch_row)`` constraint refuses the ``COPY``, and the
chunk is written again through a staging table with ``INSERT … ON CONFLICT DO NOTHING``:
no row is ever stored twice.
"""

from __future__ import annotations

import io
import json
import os
import uuid
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.db import IntegrityError, connection, transaction

from scoring.batch.rows import ScoredRows, copy_safe
from scoring.models import Decision

# Columns that change from row to row, then the ones a chunk shares.
ROW_FIELDS = [
    "id",
    "client",
    "application",
    "features",
    "probability_default",
    "prediction",
    "decision",
    "risk_level",
    "reasons",
    "shadow_probability",
    "shadow_prediction",
    "batch_row",
]
CHUNK_FIELDS = [
    "model_version",
    "threshold_used",
    "shadow_model_version",
    "latency_ms",
    "caller",
    "idempotency_key",
    "request_hash",
    "created_at",
    "batch_job",
    "artifact_sha256",
    "pipeline_version",
    "refer_lower_used",
    "refer_upper_used",
    "refer_missing_share_used",
]


@dataclass(frozen=True)
class ChunkContext:
    """What every decision of a chunk shares."""

    job_id: uuid.UUID
    model_version_id: int
    threshold: float
    caller: str
    created_at: datetime
    shadow_model_version_id: int | None = None
    artifact_sha256: str = ""
    pipeline_version: str = ""
    refer_lower_used: float | None = None  # the refer rule in force (exact replay)
    refer_upper_used: float | None = None
    refer_missing_share_used: float | None = None


@dataclass(frozen=True)
class Links:
    """Per scored row: the client's and the application's primary keys (None when not given)."""

    client_pks: list[int | None]
    application_pks: list[int | None]
    shadow_probabilities: np.ndarray | None = None  # NaN: the challenger could not take the row
    shadow_predictions: np.ndarray | None = None


def write_decisions(scored: ScoredRows, links: Links, context: ChunkContext) -> int:
    """Insert the chunk's decisions (inside the caller's transaction); returns the rows written."""
    if not len(scored.rows):
        return 0
    if connection.vendor == "postgresql":
        return _copy(scored, links, context)
    return _bulk_create(scored, links, context)


def _columns(fields: list[str]) -> list[str]:
    return [Decision._meta.get_field(name).column for name in fields]  # type: ignore[union-attr,misc]


def time_ordered_uuids(n: int, now: datetime) -> list[str]:
    """``n`` version-7 UUIDs (RFC 9562) as 32 hex digits, increasing within the chunk.

    A millisecond timestamp, 42 random bits drawn once per chunk, then the row's position:
    the primary-key index of a million new decisions grows at its right edge instead of
    being written at random pages, as random (version 4) ids would make it.
    """
    milliseconds = int(now.timestamp() * 1000) & ((1 << 48) - 1)
    rand_a, rand_b = int.from_bytes(os.urandom(2), "big") & 0xFFF, int.from_bytes(os.urandom(4), "big") & 0x3FFFFFFF
    high = f"{milliseconds:012x}7{rand_a:03x}"
    low = (0b10 << 62) | (rand_b << 32)
    return [f"{high}{low + i:016x}" for i in range(n)]


def _text(value: object) -> str:
    return r"\N" if value is None else str(value)


def _float(value: float | None) -> str:
    return r"\N" if value is None else repr(float(value))


def _copy_text(scored: ScoredRows, links: Links, context: ChunkContext) -> str:
    shared = "\t".join(
        [
            str(context.model_version_id),
            repr(float(context.threshold)),
            _text(context.shadow_model_version_id),
            repr(float(scored.latency_ms)),
            _escape(context.caller),
            r"\N",
            "",
            context.created_at.isoformat(),
            str(context.job_id),
            _escape(context.artifact_sha256),
            _escape(context.pipeline_version),
            _float(context.refer_lower_used),
            _float(context.refer_upper_used),
            _float(context.refer_missing_share_used),
        ]
    )
    n = len(scored.rows)
    ids = time_ordered_uuids(n, context.created_at)
    if links.shadow_probabilities is not None and links.shadow_predictions is not None:
        shadow_p = [r"\N" if np.isnan(v) else repr(v) for v in links.shadow_probabilities.tolist()]
        shadow_y = [r"\N" if v < 0 else str(v) for v in links.shadow_predictions.tolist()]
    else:
        shadow_p = shadow_y = [r"\N"] * n
    features, reasons = scored.features_json, scored.reasons_json
    if not copy_safe(features) or not copy_safe(reasons):
        features = [_escape(s) for s in features]
        reasons = [_escape(s) for s in reasons]
    lines = [
        f"{i}\t{_text(c)}\t{_text(a)}\t{f}\t{p!r}\t{y}\t{d}\t{k}\t{r}\t{sp}\t{sy}\t{row}\t{shared}\n"
        for i, c, a, f, p, y, d, k, r, sp, sy, row in zip(
            ids,
            links.client_pks,
            links.application_pks,
            features,
            scored.probabilities.tolist(),
            scored.predictions.tolist(),
            scored.decisions.tolist(),
            scored.risk_levels.tolist(),
            reasons,
            shadow_p,
            shadow_y,
            scored.rows.tolist(),
            strict=True,
        )
    ]
    return "".join(lines)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _copy(scored: ScoredRows, links: Links, context: ChunkContext) -> int:
    table = Decision._meta.db_table
    columns = ", ".join(_columns(ROW_FIELDS + CHUNK_FIELDS))
    data = _copy_text(scored, links, context)
    with connection.cursor() as cursor:
        try:
            # A savepoint: a refused COPY leaves the chunk's transaction usable. (copy_expert is
            # psycopg2's own: its errors are turned into Django's here.)
            with transaction.atomic(), connection.wrap_database_errors:
                cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN", io.StringIO(data), size=1 << 20)
            return len(scored.rows)
        except IntegrityError:
            pass
        # Some rows are already stored: write the others, never a row twice.
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS batch_decision_stage (LIKE {table}) ON COMMIT DELETE ROWS"
        )
        cursor.execute("TRUNCATE batch_decision_stage")
        with connection.wrap_database_errors:
            cursor.copy_expert(f"COPY batch_decision_stage ({columns}) FROM STDIN", io.StringIO(data), size=1 << 20)
        job, row = _columns(["batch_job", "batch_row"])
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM batch_decision_stage "
            f"ON CONFLICT ({job}, {row}) WHERE {job} IS NOT NULL DO NOTHING"
        )
        return int(cursor.rowcount)


def _bulk_create(scored: ScoredRows, links: Links, context: ChunkContext) -> int:
    n = len(scored.rows)
    shadow_p: list[float | None] = [None] * n
    shadow_y: list[int | None] = [None] * n
    if links.shadow_probabilities is not None and links.shadow_predictions is not None:
        for i, (p, y) in enumerate(
            zip(links.shadow_probabilities.tolist(), links.shadow_predictions.tolist(), strict=True)
        ):
            if not np.isnan(p):
                shadow_p[i], shadow_y[i] = float(p), int(y)
    decisions = [
        Decision(
            client_id=links.client_pks[i],
            application_id=links.application_pks[i],
            model_version_id=context.model_version_id,
            features=json.loads(scored.features_json[i]),
            probability_default=float(scored.probabilities[i]),
            prediction=int(scored.predictions[i]),
            decision=scored.decisions[i],
            risk_level=scored.risk_levels[i],
            threshold_used=context.threshold,
            reasons=json.loads(scored.reasons_json[i]),
            shadow_model_version_id=context.shadow_model_version_id,
            shadow_probability=shadow_p[i],
            shadow_prediction=shadow_y[i],
            latency_ms=scored.latency_ms,
            caller=context.caller,
            created_at=context.created_at,
            batch_job_id=context.job_id,
            batch_row=row,
            artifact_sha256=context.artifact_sha256,
            pipeline_version=context.pipeline_version,
            refer_lower_used=context.refer_lower_used,
            refer_upper_used=context.refer_upper_used,
            refer_missing_share_used=context.refer_missing_share_used,
        )
        for i, row in enumerate(scored.rows.tolist())
    ]
    created = Decision.objects.bulk_create(decisions, batch_size=500, ignore_conflicts=True)
    return len(created)
