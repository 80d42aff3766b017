"""Training the fraud model: the generated data (plus resolved alerts), LightGBM, the registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

from fraud.features import Locale
from fraud.ml.dataset import training_data
from fraud.selectors import labelled_checks
from scoring.choices import ModelPurpose
from scoring.ml.datasets import TrainingData
from scoring.ml.train import TrainResult, train_binary
from scoring.training import Registered, trained_model_register


@dataclass(frozen=True)
class FraudTraining:
    data: TrainingData
    result: TrainResult


def fraud_model_train(
    *,
    seed: int = 7,
    clients: int = 1200,
    days: int = 45,
    with_labels: bool = False,
    cost_fn: float | None = None,
    cost_fp: float | None = None,
) -> FraudTraining:
    """Train on the seeded generator's transactions (and the resolved alerts, when asked)."""
    locale = Locale.named(settings.FRAUD_TIME_ZONE, settings.FRAUD_HOME_COUNTRY, settings.FRAUD_HOME_CURRENCY)
    data = training_data(
        seed=seed, clients=clients, days=days, locale=locale, labelled=labelled_checks() if with_labels else ()
    )
    result = train_binary(
        data,
        seed=seed,
        cost_fn=settings.FRAUD_COST_FALSE_NEGATIVE if cost_fn is None else cost_fn,
        cost_fp=settings.FRAUD_COST_FALSE_POSITIVE if cost_fp is None else cost_fp,
    )
    return FraudTraining(data, result)


def fraud_model_register(
    training: FraudTraining, *, version: str | None = None, activate: str | None = None, requested_by: Any = None
) -> Registered:
    """Register the trained model with purpose fraud (champion when there is none; four eyes and
    ``requested_by``: ``trained_model_register``)."""
    result = training.result
    return trained_model_register(
        purpose=ModelPurpose.FRAUD,
        data=training.data,
        model_text=result.model_text,
        threshold=result.threshold,
        metrics=result.metrics,
        reference=result.reference,
        version=version,
        activate=activate,
        requested_by=requested_by,
        notes="Seeded synthetic transactions: see docs/fraud.md (the generator and its limits).",
    )


def describe(metrics: dict[str, Any]) -> dict[str, float | None]:
    """Precision and recall at the threshold, from the hold-out confusion matrix."""
    cm = metrics["confusion_matrix"]
    flagged = cm["true_positive"] + cm["false_positive"]
    frauds = cm["true_positive"] + cm["false_negative"]
    return {
        "precision": round(cm["true_positive"] / flagged, 4) if flagged else None,
        "recall": round(cm["true_positive"] / frauds, 4) if frauds else None,
    }
