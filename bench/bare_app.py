"""The baseline of ``make bench``: a bare WSGI endpoint that only calls the same LightGBM model.

No Django, no authentication, no validation, no database: parse the JSON body, build the
row in the model's column order, ``Booster.predict`` on one thread, answer the
probability. Whatever the platform does beyond this is its cost, which the benchmark shows
side by side. Configured by ``BARE_MODEL_FILE`` (LightGBM text) and ``BARE_SCHEMA_FILE``
(the registry's feature schema, JSON).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from typing import Any

import lightgbm as lgb
import numpy as np

with open(os.environ["BARE_SCHEMA_FILE"]) as handle:
    SCHEMA = json.load(handle)
NAMES = [f["name"] for f in SCHEMA]
CATEGORIES = {f["name"]: {c: float(i) for i, c in enumerate(f["categories"])} for f in SCHEMA if f.get("categories")}
INDEX = {name: i for i, name in enumerate(NAMES)}
BOOSTER = lgb.Booster(model_file=os.environ["BARE_MODEL_FILE"])


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    payload = json.loads(environ["wsgi.input"].read(length) or b"{}")
    row = np.full((1, len(NAMES)), np.nan)
    for name, value in payload.items():
        i = INDEX.get(name)
        if i is not None and value is not None:
            row[0, i] = CATEGORIES[name][value] if name in CATEGORIES else float(value)
    probability = float(BOOSTER.predict(row, num_threads=1)[0])
    body = json.dumps({"probability_default": probability}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
