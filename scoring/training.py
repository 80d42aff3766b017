"""Registering what training produced: shared by ``train_credit_model`` and ``train_fraud_model``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scoring.choices import ModelStatus
from scoring.ml.datasets import TrainingData
from scoring.ml.model import sha256_hex
from scoring.models import ModelVersion
from scoring.services import model_version_activate, model_version_register


@dataclass(frozen=True)
class Registered:
    model_version: ModelVersion
    created: bool  # False: the same model file was already registered
    activated_as: str | None


def trained_model_register(
    *,
    purpose: str,
    data: TrainingData,
    model_text: bytes,
    threshold: float,
    metrics: dict[str, Any],
    reference: dict[str, Any],
    version: str | None = None,
    activate: str | None = None,
    notes: str = "",
) -> Registered:
    """Register a trained model (once per distinct file) and activate it when asked.

    ``activate`` is ``"champion"``, ``"challenger"`` or None; with None the model becomes the
    champion only when its purpose has none yet, so a fresh install can serve at once.
    """
    sha = sha256_hex(model_text)
    existing = ModelVersion.objects.filter(purpose=purpose, sha256=sha).first()
    created = existing is None
    if existing is None:
        existing = model_version_register(
            purpose=purpose,
            version=version or f"{purpose}-{sha[:10]}",
            artifact=model_text,
            feature_schema=data.schema.to_list(),
            threshold=threshold,
            metrics=metrics,
            dataset=data.dataset[:200],
            reference_data=reference,
            notes="\n".join([notes, *data.notes]).strip(),
        )
    if activate is None and not ModelVersion.objects.filter(purpose=purpose, status=ModelStatus.CHAMPION).exists():
        activate = ModelStatus.CHAMPION
    if activate is not None and existing.status != activate:
        existing = model_version_activate(model_version=existing, status=activate)
    return Registered(existing, created, activate)
