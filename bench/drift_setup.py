"""Benchmark fixtures for the drift report: a day of N credit decisions, written in bulk.

The applicants are the rows of the public data set the default model was trained on,
drawn with replacement and scored by the champion (one vectorised predict over the
distinct rows), so the day looks like real traffic. PostgreSQL gets them by ``COPY``;
SQLite by ``bulk_create`` (slower: the embedded default is not for a million rows).
"""

from __future__ import annotations

import io
import json
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np


def prepare_drift_bench(*, rows: int, day: date, seed: int = 7) -> dict[str, Any]:
    import lightgbm as lgb
    from django.db import connection

    from scoring.choices import ModelPurpose, ModelStatus
    from scoring.ml.datasets import credit_data
    from scoring.models import Decision, ModelVersion

    champion = ModelVersion.objects.select_related("artifact_file").get(
        purpose=ModelPurpose.CREDIT, status=ModelStatus.CHAMPION
    )
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    existing = Decision.objects.filter(
        model_version=champion, created_at__gte=start, created_at__lt=start + timedelta(days=1)
    ).count()
    if existing >= rows:
        return {"rows": existing, "day": day.isoformat(), "seconds": 0.0, "reused": True}
    began = time.perf_counter()
    data = credit_data()
    booster = lgb.Booster(model_str=bytes(champion.artifact_file.content).decode())
    scores = booster.predict(data.encoded(), num_threads=1)
    features = [
        json.dumps(
            {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items() if v == v and v is not None}
        )
        for row in data.frame.to_dict("records")
    ]
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(features), size=rows)
    seconds = rng.integers(0, 86_400 * 1_000_000, size=rows)
    threshold = champion.threshold
    if connection.vendor == "postgresql":
        buffer = io.StringIO()
        for i, pick in enumerate(picks):
            p = float(scores[pick])
            refused = p >= threshold
            at = start + timedelta(microseconds=int(seconds[i]))
            escaped = features[pick].replace("\\", "\\\\")
            buffer.write(
                f"{uuid.uuid4()}\t{champion.pk}\t{escaped}\t{p}\t{int(refused)}\t"
                f"{'refuse' if refused else 'approve'}\t{'HIGH' if refused else 'LOW'}\t{threshold}\t[]\t2.0\t"
                f"bench\t\t{at.isoformat()}\n"
            )
        buffer.seek(0)
        with connection.cursor() as cursor:
            cursor.copy_expert(
                "COPY scoring_decision (id, model_version_id, features, probability_default, prediction, decision, "
                "risk_level, threshold_used, reasons, latency_ms, caller, request_hash, created_at) FROM STDIN",
                buffer,
            )
            cursor.execute("ANALYZE scoring_decision")
    else:
        batch: list[tuple[Decision, datetime]] = []
        for i, pick in enumerate(picks):
            p = float(scores[pick])
            refused = p >= threshold
            decision = Decision(
                model_version=champion,
                features=json.loads(features[pick]),
                probability_default=p,
                prediction=int(refused),
                decision="refuse" if refused else "approve",
                risk_level="HIGH" if refused else "LOW",
                threshold_used=threshold,
                caller="bench",
            )
            batch.append((decision, start + timedelta(microseconds=int(seconds[i]))))
            if len(batch) == 20_000:
                _bulk(batch)
                batch = []
        _bulk(batch)
    return {"rows": rows, "day": day.isoformat(), "seconds": round(time.perf_counter() - began, 1), "reused": False}


def _bulk(batch: list[tuple[Any, datetime]]) -> None:
    from scoring.models import Decision

    Decision.objects.bulk_create([decision for decision, _ in batch])
    for decision, at in batch:  # auto_now_add stamped "now": put them back on the benchmark day
        decision.created_at = at
    Decision.objects.bulk_update([decision for decision, _ in batch], ["created_at"])
