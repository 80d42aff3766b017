"""The champion's model file lost, damaged or not matching its checksum.

A process that has to load the champion (a new worker, a restart, a scale-out) and finds
its file unusable answers ``/score`` with a clear 503 and reports ``degraded`` health naming
the purpose, instead of scoring with something else or failing with a 500. When an admin
restores the file, the same process serves again without a restart.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from scoring.ml import predictor
from scoring.models import ModelArtifact, ModelVersion

pytestmark = [pytest.mark.faults, pytest.mark.django_db]

SEED = {"age": 35, "revenu": 50000, "historique_impaye": 1}
UNUSABLE_DETAIL = (
    "The credit champion's model file is missing or fails its checks; nothing was decided. "
    "An admin restores the file or activates another version in the model registry."
)


def _lose_the_file(model_version: ModelVersion) -> None:
    ModelArtifact.objects.filter(model_version=model_version).delete()


def _damage_the_file(model_version: ModelVersion) -> None:
    artifact = model_version.artifact_file
    artifact.content = bytes(artifact.content).replace(b"Tree=1", b"Tree=7", 1)
    artifact.save()


def _alter_the_checksum(model_version: ModelVersion) -> None:
    ModelVersion.objects.filter(pk=model_version.pk).update(sha256="0" * 64)


@pytest.mark.parametrize(
    "damage", [_lose_the_file, _damage_the_file, _alter_the_checksum], ids=["missing", "corrupt", "sha-mismatch"]
)
def test_an_unusable_champion_file_gives_degraded_health_and_a_clear_503(
    damage: Callable[[ModelVersion], None], credit_model: ModelVersion, key_client: Callable[..., APIClient]
) -> None:
    damage(credit_model)

    response = key_client("analyst", ["score"]).post("/score", SEED, format="json")
    assert response.status_code == 503
    assert response.json() == {"error": "service_unavailable", "detail": UNUSABLE_DETAIL}

    health = APIClient().get("/api/v1/health")
    assert health.status_code == 200, "fraud checks and reads still work: the platform stays in the load balancer"
    body = health.json()
    assert body["status"] == "degraded"
    assert body["checks"]["models"]["unusable"] == ["credit"]
    assert body["checks"]["models"]["purposes"]["credit"]["champion"] == credit_model.version


def test_the_same_process_serves_again_once_the_file_is_restored(
    credit_model: ModelVersion, key_client: Callable[..., APIClient], monkeypatch: pytest.MonkeyPatch, settings: object
) -> None:
    # Restored elsewhere (another process, SQL): seen at the next registry check and retry.
    settings.MODEL_REFRESH_SECONDS = 0  # type: ignore[attr-defined]
    monkeypatch.setattr(predictor, "BROKEN_MODEL_RETRY_SECONDS", 0.0)
    artifact = credit_model.artifact_file
    good = bytes(artifact.content)
    _damage_the_file(credit_model)
    api = key_client("analyst", ["score"])
    assert api.post("/score", SEED, format="json").status_code == 503

    artifact.content = good
    artifact.save()
    assert api.post("/score", SEED, format="json").status_code == 201
    assert APIClient().get("/api/v1/health").json()["checks"]["models"]["unusable"] == []


def test_a_process_already_serving_keeps_its_verified_copy_when_the_stored_file_is_damaged(
    credit_model: ModelVersion, key_client: Callable[..., APIClient]
) -> None:
    api = key_client("analyst", ["score"])
    assert api.post("/score", SEED, format="json").status_code == 201
    _damage_the_file(credit_model)
    predictor.models.invalidate()  # the next request re-reads the registry: same version, same checksum
    assert api.post("/score", SEED, format="json").status_code == 201
