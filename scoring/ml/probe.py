"""Load *and run* a LightGBM model file in a throwaway process: ``python -m scoring.ml.probe``.

LightGBM trusts its model files: some malformed ones abort the process that parses them,
others load cleanly and then read out of bounds when a prediction walks the broken tree
(a segmentation fault at ``pred_contrib``, the call behind every reason code). A web or
worker process must never run that risk, so a file is first exercised here, in a child
process with a CPU-time limit and no core dump, before it is registered or activated
(``scoring.ml.model.load_booster(..., isolated=True)``; the structural check of
``scoring.ml.structure`` has already run in the parent).

The child loads the file, checks its features against the schema, then predicts (the
probability, the raw score and the contributions) on rows covering each feature's minimum,
maximum and missing value and every category, and checks every number is finite, every
probability within 0-1, and that each row's contributions add up to its raw score.

Reads ``{"model": "<model text>", "schema": [...]}`` on stdin. Prints
``{"features": [...], "trees": n, "rows": n}`` on success, ``{"error": "..."}`` and exit
status 2 on a refusal; a crash shows as a signal or a non-JSON answer to the parent.
"""

from __future__ import annotations

import json
import resource
import sys
from typing import Any

CPU_SECONDS = 60
UNBOUNDED = 1e300  # stands for a numeric feature's missing min or max: any finite value is accepted


def probe_rows(schema: Any) -> Any:
    """Rows in model column order: all missing, all minimums, all maximums, then each feature's
    minimum, maximum, missing value (and every category) with the other features missing."""
    import numpy as np

    from scoring.ml.schema import CATEGORICAL

    per_feature: list[list[float]] = []
    for feature in schema.features:
        if feature.type == CATEGORICAL:
            values = [float(code) for code in range(len(feature.categories))]
        else:
            low = -UNBOUNDED if feature.min is None else float(feature.min)
            high = UNBOUNDED if feature.max is None else float(feature.max)
            values = [low, high, 0.0] if low <= 0.0 <= high else [low, high]
        per_feature.append([*values, float("nan")])
    width = len(per_feature)
    rows = [
        np.full(width, np.nan),
        np.array([values[0] for values in per_feature]),
        np.array([values[-2] for values in per_feature]),
    ]
    for i, values in enumerate(per_feature):
        for value in values:
            row = np.full(width, np.nan)
            row[i] = value
            rows.append(row)
    return np.vstack(rows)


def run(model_text: str, raw_schema: list[dict[str, Any]]) -> dict[str, Any]:
    """Load and exercise the model; ``{"error": ...}`` on the first problem."""
    import lightgbm as lgb
    import numpy as np

    from scoring.ml.schema import FeatureSchema

    schema = FeatureSchema.from_list(raw_schema)
    try:
        booster = lgb.Booster(model_str=model_text)
    except Exception as exc:  # LightGBMError, ValueError...: reported to the parent
        return {"error": f"LightGBM cannot load it: {str(exc)[:300]}"}
    if booster.feature_name() != schema.names:
        return {"error": "its features do not match the schema"}
    rows = probe_rows(schema)
    try:
        probabilities = np.asarray(booster.predict(rows, num_threads=1), dtype=float)
        raw = np.asarray(booster.predict(rows, raw_score=True, num_threads=1), dtype=float)
        contributions = np.asarray(booster.predict(rows, pred_contrib=True, num_threads=1), dtype=float)
    except Exception as exc:
        return {"error": f"LightGBM cannot predict with it: {str(exc)[:300]}"}
    if probabilities.shape != (len(rows),) or contributions.shape != (len(rows), len(schema) + 1):
        return {"error": "its predictions do not have one value per row and one contribution per feature"}
    for name, values in (("probabilities", probabilities), ("raw scores", raw), ("contributions", contributions)):
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.argwhere(bad)[0][0])
            return {"error": f"it gives non-finite {name} (test row {row})"}
    if ((probabilities < 0) | (probabilities > 1)).any():
        return {"error": "it gives probabilities outside 0-1"}
    if not np.allclose(contributions.sum(axis=1), raw, rtol=1e-6, atol=1e-6):
        return {"error": "its contributions do not add up to its raw scores"}
    return {"features": booster.feature_name(), "trees": booster.num_trees(), "rows": len(rows)}


def main() -> int:
    # A runaway model (a loop in a tree) is killed by the CPU limit; a crash leaves no core file.
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        request = json.loads(sys.stdin.buffer.read().decode("utf-8"))
        answer = run(request["model"], request["schema"])
    except (ValueError, KeyError, TypeError) as exc:
        answer = {"error": f"the probe could not read its input: {str(exc)[:200]}"}
    sys.stdout.write(json.dumps(answer))
    return 2 if "error" in answer else 0


if __name__ == "__main__":
    sys.exit(main())
