"""Training a binary LightGBM model with a cost-minimising threshold (no Django here).

1. A stratified hold-out split (``test_size``, default 25 %) is kept aside: every figure
   reported comes from it.
2. On the rest, 5-fold cross-validation with early stopping gives the number of trees and
   out-of-fold probabilities. The threshold is the one that minimises the business cost of
   those out-of-fold predictions, a false negative (a defaulter accepted) costing
   ``cost_fn`` and a false positive (a good applicant refused) ``cost_fp``; seed 004's rule
   is 10 to 1. Choosing it out-of-fold keeps the hold-out set untouched.
3. The final model is trained on all the non-held-out rows with that number of trees and
   evaluated once on the hold-out set: AUC, Gini, KS, the confusion matrix at the threshold
   and the business cost, next to the cost of accepting or refusing everyone.

Everything is seeded and single-threaded (``deterministic``), so the same data and seed
give the same model file, byte for byte.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import StratifiedKFold, train_test_split

from scoring.ml.datasets import TrainingData, reference_sample

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.08,
    "num_leaves": 15,
    "max_depth": 6,
    "min_data_in_leaf": 30,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "cat_smooth": 10.0,
    "max_cat_to_onehot": 8,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 1,
    "verbosity": -1,
}
MAX_ROUNDS = 1000
EARLY_STOPPING_ROUNDS = 50
THRESHOLD_GRID = np.round(np.linspace(0.001, 0.999, 999), 3)


@dataclass
class TrainResult:
    booster: lgb.Booster
    model_text: bytes
    threshold: float
    metrics: dict[str, Any]
    reference: dict[str, Any]


def business_cost(y: np.ndarray, scores: np.ndarray, threshold: float, cost_fn: float, cost_fp: float) -> float:
    adverse = scores >= threshold
    fn = int(np.sum((y == 1) & ~adverse))
    fp = int(np.sum((y == 0) & adverse))
    return cost_fn * fn + cost_fp * fp


def best_threshold(y: np.ndarray, scores: np.ndarray, cost_fn: float, cost_fp: float) -> float:
    """The grid threshold with the lowest cost (the lowest such threshold on ties)."""
    costs = [business_cost(y, scores, float(t), cost_fn, cost_fp) for t in THRESHOLD_GRID]
    return float(THRESHOLD_GRID[int(np.argmin(costs))])


def _confusion(y: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, int]:
    adverse = scores >= threshold
    return {
        "true_positive": int(np.sum((y == 1) & adverse)),
        "false_positive": int(np.sum((y == 0) & adverse)),
        "true_negative": int(np.sum((y == 0) & ~adverse)),
        "false_negative": int(np.sum((y == 1) & ~adverse)),
    }


def ks_statistic(y: np.ndarray, scores: np.ndarray) -> float:
    fpr, tpr, _ = roc_curve(y, scores)
    return float(np.max(tpr - fpr))


def train_binary(
    data: TrainingData,
    *,
    seed: int = 42,
    cost_fn: float = 10.0,
    cost_fp: float = 1.0,
    test_size: float = 0.25,
    folds: int = 5,
    params: dict[str, Any] | None = None,
    reference_size: int = 5000,
    missing_rate: float = 0.0,
) -> TrainResult:
    """Train, pick the threshold, evaluate on the hold-out set. See the module docstring."""
    # NaN passes "<= 0" and infinity chooses nothing: both end as metrics the database refuses.
    if not all(math.isfinite(cost) and cost > 0 for cost in (cost_fn, cost_fp)):
        raise ValueError("costs must be positive finite numbers")
    y = np.asarray(data.target, dtype=int)
    if len(y) < 50 or y.sum() < 10 or (len(y) - y.sum()) < 10:
        raise ValueError("need at least 50 rows with 10 of each class to train and evaluate")
    x = data.encoded()
    categorical = data.schema.categorical_indices
    names = data.schema.names
    settings = {**DEFAULT_PARAMS, **(params or {}), "seed": seed}

    train_idx, test_idx = train_test_split(np.arange(len(y)), test_size=test_size, stratify=y, random_state=seed)
    x_train, y_train, x_test, y_test = x[train_idx], y[train_idx], x[test_idx], y[test_idx]

    optional = [i for i, f in enumerate(data.schema) if not f.required]
    masker = np.random.default_rng(seed)

    def masked(rows: np.ndarray) -> np.ndarray:
        """Blank optional features at random, so the model learns what a missing input means."""
        if missing_rate <= 0 or not optional:
            return rows
        out = rows.copy()
        blank = masker.random((len(out), len(optional))) < missing_rate
        sub = out[:, optional]
        sub[blank] = np.nan
        out[:, optional] = sub
        return out

    def dataset(rows: np.ndarray, labels: np.ndarray, reference: lgb.Dataset | None = None) -> lgb.Dataset:
        return lgb.Dataset(
            rows, labels, feature_name=names, categorical_feature=categorical, reference=reference, free_raw_data=False
        )

    oof = np.zeros(len(y_train))
    rounds: list[int] = []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fit_idx, valid_idx in splitter.split(x_train, y_train):
        fit = dataset(masked(x_train[fit_idx]), y_train[fit_idx])
        valid = dataset(x_train[valid_idx], y_train[valid_idx], reference=fit)
        booster = lgb.train(
            {**settings, "metric": "auc"},
            fit,
            num_boost_round=MAX_ROUNDS,
            valid_sets=[valid],
            callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)],
        )
        rounds.append(booster.best_iteration or MAX_ROUNDS)
        oof[valid_idx] = booster.predict(x_train[valid_idx], num_iteration=booster.best_iteration)
    num_trees = max(10, int(round(float(np.mean(rounds)))))
    threshold = best_threshold(y_train, oof, cost_fn, cost_fp)

    final = lgb.train(settings, dataset(masked(x_train), y_train), num_boost_round=num_trees)
    test_scores = np.asarray(final.predict(x_test, num_threads=1))
    auc = float(roc_auc_score(y_test, test_scores))
    required_only = x_test.copy()
    required_only[:, optional] = np.nan
    cost = business_cost(y_test, test_scores, threshold, cost_fn, cost_fp)
    metrics = {
        "auc": round(auc, 4),
        "gini": round(2 * auc - 1, 4),
        "ks": round(ks_statistic(y_test, test_scores), 4),
        "cv_auc": round(float(roc_auc_score(y_train, oof)), 4),
        # The same hold-out rows with only the required features (seed 000's payload shape).
        "auc_required_only": round(float(roc_auc_score(y_test, final.predict(required_only, num_threads=1))), 4)
        if optional
        else round(auc, 4),
        "missing_rate": missing_rate,
        "threshold": threshold,
        "confusion_matrix": _confusion(y_test, test_scores, threshold),
        "business_cost": cost,
        "business_cost_per_application": round(cost / len(y_test), 4),
        "business_cost_accept_all": cost_fn * int(y_test.sum()),
        "business_cost_refuse_all": cost_fp * int(len(y_test) - y_test.sum()),
        "business_cost_at_0_5": business_cost(y_test, test_scores, 0.5, cost_fn, cost_fp),
        "cost_false_negative": cost_fn,
        "cost_false_positive": cost_fp,
        "refusal_rate": round(float(np.mean(test_scores >= threshold)), 4),
        "n_train": int(len(y_train)),
        "n_test": int(len(y_test)),
        "positive_rate": round(float(y.mean()), 4),
        "num_trees": num_trees,
        "seed": seed,
        "params": {k: v for k, v in settings.items() if k not in {"verbosity", "num_threads"}},
    }
    train_frame = data.frame.iloc[train_idx].reset_index(drop=True)
    reference = reference_sample(
        train_frame, np.asarray(final.predict(x_train, num_threads=1)), size=reference_size, seed=seed
    )
    return TrainResult(
        booster=final,
        model_text=final.model_to_string().encode(),
        threshold=threshold,
        metrics=metrics,
        reference=reference,
    )
