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
from tests.factories import batch_caller
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
        batch_job_submit(
            data=frame.to_csv(index=False).encode(), filename="a.csv", caller=batch_caller(), source="admin"
        )
    assert Decision.objects.count() == 300
    assert set(Decision.objects.values_list("artifact_sha256", "pipeline_version").distinct()) == {
        (credit_model.sha256, PIPELINE_VERSION)
    }
    out, error = replay()
    assert error is None, out
    assert "300 matched" in out


# --- The refer band: each decision replays under the rule it was made with ----------------------


def set_band(model: ModelVersion, lower: float | None, upper: float | None) -> None:
    """Set the band and run what its commit runs (the serving cache re-reads the registry)."""
    from django.test import TestCase

    from scoring.services import model_version_set_refer_band

    with TestCase.captureOnCommitCallbacks(execute=True):
        model_version_set_refer_band(model_version=model, lower=lower, upper=upper)


def test_decisions_made_with_a_band_replay_identically_after_the_band_changes(
    credit_model: ModelVersion, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from scoring.ml.predictor import require_model

    threshold = credit_model.threshold
    lower, upper = max(threshold - 0.03, 0.0), threshold + 0.05
    set_band(credit_model, lower, upper)
    settings.SCORE_REFER_MISSING_SHARE = 0.5
    model = require_model("credit")
    assert (model.refer_lower, model.refer_upper) == (lower, upper)
    rows = applicants(400, seed=31)
    few = ("age", "revenu", "historique_impaye")  # less than half of the model's importance
    rows[:30] = [{k: v for k, v in row.items() if k in few} for row in rows[:30]]
    for start in range(0, len(rows), 100):  # the API path (/score and /score/batch)
        requests = []
        for raw in rows[start : start + 100]:
            clean, errors = model.schema.validate(raw)
            assert not errors
            requests.append(ScoreRequest(features=clean))
        applications_score(model=model, requests=requests, caller="user:0")
    frame = applicant_sample(300, seed=32, columns=None)  # the batch path (COPY writer)
    frame.loc[:29, [c for c in frame.columns if c not in few]] = None
    with django_capture_on_commit_callbacks(execute=True):
        batch_job_submit(
            data=frame.to_csv(index=False).encode(), filename="a.csv", caller=batch_caller(), source="admin"
        )
    decisions = list(Decision.objects.all())
    assert len(decisions) == 700
    assert {(d.refer_lower_used, d.refer_upper_used, d.refer_missing_share_used) for d in decisions} == {
        (lower, upper, 0.5)
    }
    # Every kind of outcome is there: approved, refused, referred in the band, referred for missing information.
    kinds = set()
    for d in decisions:
        features = {k: v for k, v in d.features.items() if v is not None}
        in_band = lower <= d.probability_default <= upper
        missing = float(model.missing_share(model.schema.matrix([features]))[0]) > 0.5
        kinds.add((d.decision, "band" if in_band else "missing" if missing else "-"))
    assert {("approve", "-"), ("refuse", "-"), ("refer", "band"), ("refer", "missing")} <= kinds
    assert not {k for k in kinds if (k[0] == "refer") != (k[1] != "-")}
    out, error = replay()
    assert error is None, out
    assert "Replayed 700 decision(s): 700 matched, 0 mismatched" in out

    # The band and the setting change afterwards: each decision keeps the rule it was made with.
    set_band(credit_model, None, None)
    settings.SCORE_REFER_MISSING_SHARE = 1.0
    out, error = replay()
    assert error is None, out
    assert "700 matched, 0 mismatched" in out
    set_band(credit_model, 0.0, 1.0)
    out, error = replay()
    assert error is None and "700 matched, 0 mismatched" in out, out

    # The stored band is what replay uses: a referred decision whose stored band no longer holds it is a mismatch.
    victim = next(d for d in decisions if d.decision == "refer" and lower <= d.probability_default <= upper)
    features = {k: v for k, v in victim.features.items() if v is not None}
    assert float(model.missing_share(model.schema.matrix([features]))[0]) <= 0.5
    Decision.objects.filter(pk=victim.pk).update(refer_lower_used=threshold, refer_upper_used=threshold)
    out, error = replay()
    assert error is not None
    assert "699 matched, 1 mismatched" in out
    assert f"{victim.id} ({credit_model.version}): decision: stored 'refer'" in out

    # A referred decision's own verdict (``prediction``) is not in its outcome: replay checks it too.
    Decision.objects.filter(pk=victim.pk).update(refer_lower_used=lower, refer_upper_used=upper)
    flipped = next(d for d in decisions if d.decision == "refer" and d.pk != victim.pk)
    Decision.objects.filter(pk=flipped.pk).update(prediction=1 - flipped.prediction)
    out, error = replay()
    assert error is not None
    assert "699 matched, 1 mismatched" in out
    assert f"{flipped.id} ({credit_model.version}): prediction: stored {1 - flipped.prediction}" in out


def test_decisions_from_before_the_band_was_stored_replay_with_the_versions_band(
    credit_model: ModelVersion, settings: Any
) -> None:
    from scoring.ml.predictor import require_model

    threshold = credit_model.threshold
    set_band(credit_model, max(threshold - 0.03, 0.0), threshold + 0.05)
    settings.SCORE_REFER_MISSING_SHARE = 0.5
    score(credit_model, applicants(200, seed=33))
    assert require_model("credit").has_refer_band and Decision.objects.filter(decision="refer").exists()
    Decision.objects.update(refer_lower_used=None, refer_upper_used=None, refer_missing_share_used=None)
    out, error = replay()
    assert error is None and "200 matched, 0 mismatched" in out, out


def test_reasons_one_rounding_unit_apart_still_match_and_more_does_not(two_versions: dict[str, ModelVersion]) -> None:
    """Contributions are stored to 6 decimals; the TreeSHAP of an older release (LightGBM's own,
    before scoring.ml.leafshap) agrees with today's to 1e-12, so it may round one unit apart."""
    first, second = Decision.objects.filter(model_version=two_versions["a"]).order_by("id")[:2]
    for decision, shift in ((first, 1e-6), (second, 3e-6)):
        reasons = [dict(r) for r in decision.reasons]
        reasons[0]["contribution"] = round(reasons[0]["contribution"] + shift, 6)
        Decision.objects.filter(pk=decision.pk).update(reasons=reasons)
    out, error = replay()
    assert error is not None
    assert "999 matched, 1 mismatched" in out
    assert f"{second.id} ({two_versions['a'].version}): reasons" in out


def test_decisions_replay_identically_after_the_reason_count_changes(credit_model: ModelVersion, settings: Any) -> None:
    """Found by review: replay recomputed the reasons with today's SCORE_REASON_COUNT, so raising
    it from 4 to 6 (or lowering it to 3) made every earlier decision a ``reasons`` mismatch."""
    settings.SCORE_REASON_COUNT = 4
    score(credit_model, applicants(100, seed=31))
    assert max(len(r) for r in Decision.objects.values_list("reasons", flat=True)) == 4
    for count in (6, 3):
        settings.SCORE_REASON_COUNT = count
        out, error = replay()
        assert error is None and "100 matched, 0 mismatched" in out, out
    # What the count in force cannot explain is still a mismatch: reasons cut below the smallest
    # count (3), or a reason left out.
    cut, skipped = [d for d in Decision.objects.order_by("id") if len(d.reasons) == 4][:2]
    Decision.objects.filter(pk=cut.pk).update(reasons=cut.reasons[:2])
    Decision.objects.filter(pk=skipped.pk).update(reasons=[skipped.reasons[0], *skipped.reasons[2:]])
    out, error = replay()
    assert error is not None and "98 matched, 2 mismatched" in out, out
    assert f"{cut.id} ({credit_model.version}): reasons" in out
    assert f"{skipped.id} ({credit_model.version}): reasons" in out
