"""The batch scenario of ``make bench``, inside Django (called through ``bench/setup_db.py``).

- ``write_file``: N applicants drawn from the real data set (every feature, a fifth of the
  optional values missing, as real files are), written as CSV;
- ``reset``: empties the batch tables and the decisions, so each run starts alike;
- ``run_job``: submits the file as the ``score_batch`` command does and waits for the real
  workers to finish it: end-to-end time, and the part spent checking and storing the file;
- ``baseline``: the same rows read with pandas and scored by one bare vectorised LightGBM
  call (probabilities only: no checks, no reasons, nothing stored), plus what the reasons
  cost per row with LightGBM's ``pred_contrib`` and with the memoised TreeSHAP batch jobs use.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any


def write_file(path: Path, rows: int, seed: int = 2026) -> dict[str, Any]:
    from scoring.ml.datasets import applicant_sample

    frame = applicant_sample(rows, seed=seed, columns=None)
    frame.to_csv(path, index=False)
    return {"rows": rows, "bytes": path.stat().st_size, "columns": list(frame.columns)}


def reset() -> dict[str, Any]:
    from django.db import connection

    from scoring.models import BatchChunk, BatchJob, BatchReject, Decision

    tables = [m._meta.db_table for m in (Decision, BatchReject, BatchChunk, BatchJob)]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # CASCADE: what refers to decisions (review cases, outcomes, contests, webhook
            # deliveries) goes with them; this is the bench's own database.
            cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
            cursor.execute(f"VACUUM ANALYZE {tables[0]}")
        else:
            for table in tables:
                cursor.execute(f"DELETE FROM {table}")
    return {"reset": tables}


def run_job(path: Path, chunk_rows: int | None = None, timeout: float = 1800) -> dict[str, Any]:
    from scoring.batch.services import batch_job_submit
    from scoring.models import BatchJob

    started = time.monotonic()
    job = batch_job_submit(
        data=path.read_bytes(), filename=path.name, caller="command:bench", source="command", chunk_rows=chunk_rows
    )
    submitted = time.monotonic() - started
    deadline = started + timeout
    while not job.is_finished and time.monotonic() < deadline:
        time.sleep(0.05)
        job.refresh_from_db()
    total = time.monotonic() - started
    job = BatchJob.objects.get(pk=job.pk)
    workers = sorted({c.split("@")[0] for c in job.chunks.values_list("claimed_by", flat=True) if c})
    return {
        "status": job.status,
        "rows": job.total_rows,
        "scored": job.rows_scored,
        "rejected": job.rows_rejected,
        "chunks": job.chunk_count,
        "chunk_retries": job.chunk_retries,
        "submit_s": submitted,
        "total_s": total,
        "worker_processes": len(set(job.chunks.values_list("claimed_by", flat=True))),
        "worker_nodes": workers,
    }


def baseline(path: Path, sample: int = 20_000) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    from scoring.choices import ModelPurpose
    from scoring.ml.datasets import encode
    from scoring.ml.explain import TreeShapExplainer
    from scoring.ml.predictor import require_model

    model = require_model(ModelPurpose.CREDIT)
    started = time.perf_counter()
    frame = pd.read_csv(path)
    matrix = encode(frame, model.schema)
    read_s = time.perf_counter() - started
    started = time.perf_counter()
    probabilities = model.booster.predict(matrix)  # one call, every core
    predict_s = time.perf_counter() - started

    rows = matrix[np.random.default_rng(0).choice(len(matrix), size=min(sample, len(matrix)), replace=False)]
    started = time.perf_counter()
    model.booster.predict(rows, pred_contrib=True, num_threads=1)
    treeshap_per_row = (time.perf_counter() - started) / len(rows)
    counts = {i: len(f.categories) for i, f in enumerate(model.schema) if f.categories}
    explainer = TreeShapExplainer(model.booster, counts)
    started = time.perf_counter()
    for first in range(0, len(matrix), 10_000):
        explainer.contributions(matrix[first : first + 10_000])
    memoised_s = time.perf_counter() - started
    return {
        "rows": len(matrix),
        "read_encode_s": read_s,
        "predict_s": predict_s,
        "mean_probability": float(np.mean(probabilities)),
        "pred_contrib_us_per_row": treeshap_per_row * 1e6,
        "pred_contrib_s_for_all": treeshap_per_row * len(matrix),
        "memoised_treeshap_s": memoised_s,
        "memoised_patterns": explainer.patterns,
    }
