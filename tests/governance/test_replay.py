"""Exact replay: every stored decision recomputed from its snapshot with the exact model file it names."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from scoring.batch.services import batch_job_submit
from scoring.ml.datasets import applicant_sample
from scoring.ml.pipeline import PIPELINE_VERSION
from scoring.ml.predictor import require_model_version
from scoring.models import Decision, ModelArtifact, ModelVersion
from scoring.services import ScoreRequest, applications_score
from tests.models import TrainedModel, credit_training, register_trained

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def other_trained() -> TrainedModel:
    """A second credit model (another seed, so another file and other trees)."""
    return credit_training(seed=7)


def applicants(n: int, seed: int) -> list[dict[str, Any]]:
    frame = applicant_sample(n, seed=seed, columns=None)
    return [
        {k: (None if pd.isna(v) else (int(v) if not isinstance(v, str) else v)) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


def score(model_version: ModelVersion, rows: list[dict[str, Any]]) -> None:
    model = require_model_version(model_version.pk)
    for start in range(0, len(rows), 100):
        requests = []
        for raw in rows[start : start + 100]:
            clean, errors = model.schema.validate(raw)
            assert not errors
            requests.append(ScoreRequest(features=clean))
        applications_score(model=model, requests=requests, caller="user:0")


@pytest.fixture
def two_versions(credit_model: ModelVersion, other_trained: TrainedModel) -> dict[str, ModelVersion]:
    other = register_trained(other_trained, version="credit-replay-b")
    score(credit_model, applicants(500, seed=21))
    score(other, applicants(500, seed=22))
    return {"a": credit_model, "b": other}


def replay(*args: str) -> tuple[str, CommandError | None]:
    out = StringIO()
    try:
        call_command("replay_decisions", *args, stdout=out)
    except CommandError as exc:
        return out.getvalue(), exc
    return out.getvalue(), None


def test_a_thousand_decisions_of_two_versions_replay_identically(two_versions: dict[str, ModelVersion]) -> None:
    a, b = two_versions["a"], two_versions["b"]
    assert a.sha256 != b.sha256
    stored = Decision.objects.values_list("artifact_sha256", "pipeline_version").distinct()
    assert set(stored) == {(a.sha256, PIPELINE_VERSION), (b.sha256, PIPELINE_VERSION)}
    assert Decision.objects.filter(decision="refuse").exists() and Decision.objects.filter(decision="approve").exists()
    out, error = replay()
    assert error is None, out
    assert "Replayed 1000 decision(s): 1000 matched, 0 mismatched, 0 with a missing model file." in out
    assert f"{a.version}: 500 matched" in out and f"{b.version}: 500 matched" in out
    out, error = replay("--model-version", b.version, "--sample", "50")
    assert error is None and "Replayed 50 decision(s): 50 matched" in out


def test_a_tampered_snapshot_is_a_mismatch(two_versions: dict[str, ModelVersion]) -> None:
    victim = Decision.objects.filter(model_version=two_versions["a"], decision="approve").first()
    features = {**victim.features, "historique_impaye": (victim.features.get("historique_impaye") or 0) + 3}
    Decision.objects.filter(pk=victim.pk).update(features=features)
    out, error = replay()
    assert error is not None
    assert "999 matched, 1 mismatched" in out
    assert f"{victim.id} ({two_versions['a'].version}): probability: stored {victim.probability_default!r}" in out


def test_a_decision_whose_model_file_is_gone_is_reported(two_versions: dict[str, ModelVersion]) -> None:
    ModelArtifact.objects.filter(model_version=two_versions["b"]).delete()
    out, error = replay()
    assert error is not None
    assert "500 matched, 0 mismatched, 500 with a missing model file" in out
    assert "the model file is missing" in out


def test_a_changed_model_file_is_reported(two_versions: dict[str, ModelVersion], other_trained: TrainedModel) -> None:
    text = bytes(ModelArtifact.objects.get(model_version=two_versions["b"]).content)
    ModelArtifact.objects.filter(model_version=two_versions["b"]).update(content=text + b"\n")
    out, error = replay("--model-version", two_versions["b"].version)
    assert error is not None and "500 with a missing model file" in out and "SHA-256" in out


def test_batch_decisions_keep_what_replay_needs(
    credit_model: ModelVersion, django_capture_on_commit_callbacks: Any
) -> None:
    frame = applicant_sample(300, seed=5, columns=None)
    with django_capture_on_commit_callbacks(execute=True):
        batch_job_submit(data=frame.to_csv(index=False).encode(), filename="a.csv", caller="user:0", source="admin")
    assert Decision.objects.count() == 300
    assert set(Decision.objects.values_list("artifact_sha256", "pipeline_version").distinct()) == {
        (credit_model.sha256, PIPELINE_VERSION)
    }
    out, error = replay()
    assert error is None, out
    assert "300 matched" in out
