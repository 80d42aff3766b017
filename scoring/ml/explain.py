"""Exact TreeSHAP contributions for many rows at once: the reasons of batch jobs (no Django here).

``/score`` explains one decision with LightGBM's ``pred_contrib`` (path-dependent
TreeSHAP). Per row it costs about 100 times the prediction (60-200 µs for the default
model on the 2-core reference machine): minutes of CPU for a million rows. This module
computes **the same numbers** for a whole chunk at a time, by memoising them:

* TreeSHAP is additive over trees: a model's contributions are the sum of each tree's own
  (LightGBM gives one tree's with ``start_iteration=t, num_iteration=1``).
* Within a tree, a row's contributions depend only on which way the row goes at every
  split of that tree (TreeSHAP follows the row's branch and weighs the other branch by its
  training cover), i.e. on its *split pattern*, one bit per internal node. A tree of 15
  leaves has at most 2^14 patterns; real applicants use a few hundred to a few thousand.
* So each tree keeps a table: pattern -> contributions. A pattern not seen before is asked
  from LightGBM itself, once, for one row that has it; every other row with that pattern
  reuses the answer. The contributions are therefore LightGBM's own TreeSHAP values, added
  up in another order (they agree to ~1e-15).

A row's split pattern is computed from each feature's position among the thresholds the
model uses (``np.searchsorted``), following LightGBM's decision rules: ``value <=
threshold`` goes left, a missing value follows the split's default direction (or counts as
zero, by the split's missing type), categorical splits send their listed categories left.
A mistake there would silently change reasons, so ``check`` compares sample rows with
LightGBM's own ``pred_contrib``; the batch service runs it on every chunk and falls back to
per-row ``pred_contrib`` for the chunk if they ever disagree.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np

# LightGBM's kZeroThreshold: |value| <= this is "zero" for zero-as-missing splits.
K_ZERO = 1e-35
_ZERO_BAND = (float(np.nextafter(-K_ZERO, -np.inf)), K_ZERO)  # thresholds that isolate [-K_ZERO, K_ZERO]
DENSE_BITS = 16  # trees with at most this many splits index their patterns with an array, others a dict
MAX_BITS = 62  # more splits in one tree than this: not supported (per-row pred_contrib instead)
MAX_PATTERNS_PER_TREE = 1 << 16  # a tree's memo is emptied past this (bounded memory)
CHECK_TOLERANCE = 1e-9


class UnsupportedModel(ValueError):
    """A model whose trees this module cannot read (linear trees, huge trees, unknown splits)."""


@dataclass
class _Tree:
    index: int
    bits: int
    # (feature column, int64 array: global bin of that feature -> the bits of the splits sending it left)
    features: list[tuple[int, np.ndarray]]
    columns: list[int] = field(default_factory=list)  # the features this tree splits on
    dense: np.ndarray | None = None
    lookup: dict[int, int] = field(default_factory=dict)
    # One row per used feature, one column per memoised pattern (gathers stay contiguous).
    table: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    size: int = 0
    bias: float | None = None  # the tree's expected value: the same for every row


class TreeShapExplainer:
    """LightGBM's TreeSHAP contributions of many rows, memoised per tree and split pattern.

    Thread-safe (one lock: the memo is shared by the threads of a process). Build it once
    per model and process (``for_booster`` keeps them by the model's SHA-256).
    """

    def __init__(self, booster: lgb.Booster, category_counts: Mapping[int, int]) -> None:
        self.booster = booster
        # One tree's contributions are asked from a copy: LightGBM keeps a prediction's iteration
        # range in the booster itself, and a single-row predictor set up on ``booster`` (for every
        # tree: scoring.ml.single_row) would compute one tree alone after a per-tree call on it.
        self._per_tree = lgb.Booster(model_str=booster.model_to_string())
        self.features = booster.num_feature()
        self._lock = threading.Lock()
        dump = booster.dump_model()
        trees = [_internal_nodes(info["tree_structure"]) for info in dump["tree_info"]]
        self._categorical = {i: int(n) for i, n in category_counts.items()}
        for nodes in trees:
            for node in nodes:
                if node["decision_type"] == "==":
                    top = max((int(c) for c in str(node["threshold"]).split("||")), default=0)
                    f = node["split_feature"]
                    if f not in self._categorical:
                        raise UnsupportedModel(f"feature {f} has categorical splits but is not categorical")
                    self._categorical[f] = max(self._categorical[f], top + 1)
                elif node["decision_type"] != "<=":
                    raise UnsupportedModel(f"unknown split {node['decision_type']!r}")
        # Each numeric feature's global bins: its position among every threshold the model uses.
        self._thresholds: dict[int, np.ndarray] = {}
        for f in {node["split_feature"] for nodes in trees for node in nodes} - set(self._categorical):
            values = {float(node["threshold"]) for nodes in trees for node in nodes if node["split_feature"] == f}
            self._thresholds[f] = np.array(sorted(values | set(_ZERO_BAND)))
        self._trees = [self._plan(t, nodes) for t, nodes in enumerate(trees)]

    # --- building -------------------------------------------------------------------------

    def _plan(self, index: int, nodes: list[dict[str, Any]]) -> _Tree:
        if len(nodes) > MAX_BITS:
            raise UnsupportedModel(f"tree {index} has {len(nodes)} splits (at most {MAX_BITS} supported)")
        masks: dict[int, np.ndarray] = {}
        for bit, node in enumerate(nodes):
            f = node["split_feature"]
            left = self._goes_left(node, f).astype(np.int64) << np.int64(bit)
            masks[f] = masks[f] | left if f in masks else left
        tree = _Tree(index=index, bits=len(nodes), features=sorted(masks.items()), columns=sorted(masks))
        if tree.bits <= DENSE_BITS:
            tree.dense = np.full(1 << tree.bits, -1, dtype=np.int64)
        tree.table = np.zeros((len(tree.columns), 64))
        return tree

    def _goes_left(self, node: dict[str, Any], f: int) -> np.ndarray:
        """For each global bin of feature ``f``: does this split send it left? (LightGBM's rules)."""
        if f in self._categorical:
            left = np.zeros(self._categorical[f] + 1, dtype=bool)  # bin 0 = missing, c + 1 = category c
            for c in str(node["threshold"]).split("||"):
                left[int(c) + 1] = True
            return left  # a missing category goes right
        grid = self._thresholds[f]
        threshold = float(node["threshold"])
        position = int(np.searchsorted(grid, threshold))
        bins = np.arange(len(grid) + 2)  # 0..len(grid): values, len(grid) + 1: missing (NaN)
        left = bins <= position
        missing = node.get("missing_type", "None")
        default_left = bool(node.get("default_left", True))
        if missing == "NaN":
            left[-1] = default_left
        elif missing == "Zero":
            left[-1] = default_left  # NaN counts as zero, and zero is missing
            left[int(np.searchsorted(grid, K_ZERO))] = default_left
        else:
            left[-1] = threshold >= 0.0  # NaN counts as zero
        return left

    # --- computing ------------------------------------------------------------------------

    def _bins(self, matrix: np.ndarray) -> dict[int, np.ndarray]:
        out: dict[int, np.ndarray] = {}
        for f, grid in self._thresholds.items():
            column = matrix[:, f]
            bins = np.searchsorted(grid, column, side="left")
            bins[np.isnan(column)] = len(grid) + 1
            out[f] = bins
        for f, count in self._categorical.items():
            column = matrix[:, f]
            codes = np.where(np.isnan(column), -1.0, column).astype(np.int64)
            if codes.size and (codes.min() < -1 or codes.max() >= count):
                raise ValueError(f"feature {f}: category codes must be between 0 and {count - 1}")
            out[f] = codes + 1
        return out

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """TreeSHAP contributions, as ``booster.predict(matrix, pred_contrib=True)``: one column
        per feature plus the bias; each row sums to the raw score (log-odds)."""
        matrix = np.ascontiguousarray(matrix, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[1] != self.features:
            raise ValueError(f"expected a matrix of {self.features} columns")
        # Feature-major while adding up: each tree adds one contiguous row per feature it uses
        # (a tree contributes nothing to the features it does not split on).
        out = np.zeros((self.features + 1, len(matrix)))
        if not len(matrix):
            return out.T.copy()
        with self._lock:
            bins = self._bins(matrix)
            for tree in self._trees:
                key = np.zeros(len(matrix), dtype=np.int64)
                for f, mask in tree.features:
                    key |= mask[bins[f]]
                rows = self._rows(tree, key, matrix)  # may grow the table: read it after
                for j, column in enumerate(tree.columns):
                    out[column] += tree.table[j].take(rows)
                out[self.features] += tree.bias or 0.0
        return np.ascontiguousarray(out.T)

    def _rows(self, tree: _Tree, key: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        """The memo rows of ``key``; patterns never seen are computed by LightGBM first."""
        if tree.dense is not None:
            rows = tree.dense[key]
            unknown = rows < 0
            if unknown.any():
                patterns, first = np.unique(key[unknown], return_index=True)
                start = self._learn(tree, matrix[np.flatnonzero(unknown)[first]])
                tree.dense[patterns] = np.arange(start, start + len(patterns))
                rows = tree.dense[key]
            return rows
        patterns, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        if tree.size + len(patterns) > MAX_PATTERNS_PER_TREE:
            tree.lookup.clear()
            tree.size = 0
        found = np.array([tree.lookup.get(int(p), -1) for p in patterns], dtype=np.int64)
        missing = np.flatnonzero(found < 0)
        if len(missing):
            start = self._learn(tree, matrix[first[missing]])
            found[missing] = np.arange(start, start + len(missing))
            tree.lookup.update(zip(patterns[missing].tolist(), found[missing].tolist(), strict=True))
        return found[inverse.reshape(-1)]

    def _learn(self, tree: _Tree, rows: np.ndarray) -> int:
        """Ask LightGBM for this tree's contributions on ``rows`` and append them; returns the first index."""
        values = np.asarray(
            self._per_tree.predict(rows, start_iteration=tree.index, num_iteration=1, pred_contrib=True, num_threads=1),
            dtype=float,
        )
        start, end = tree.size, tree.size + len(rows)
        if end > tree.table.shape[1]:
            grown = np.zeros((len(tree.columns), max(end, 2 * tree.table.shape[1])))
            grown[:, :start] = tree.table[:, :start]
            tree.table = grown
        tree.table[:, start:end] = values[:, tree.columns].T
        if tree.bias is None:
            tree.bias = float(values[0, -1])
        tree.size = end
        return start

    def check(self, matrix: np.ndarray, rows: Sequence[int]) -> float:
        """Largest difference with LightGBM's own ``pred_contrib`` on ``rows`` of ``matrix``."""
        if not len(rows):
            return 0.0
        sample = np.ascontiguousarray(matrix[np.asarray(rows)], dtype=np.float64)
        exact = np.asarray(self.booster.predict(sample, pred_contrib=True, num_threads=1), dtype=float)
        return float(np.max(np.abs(exact - self.contributions(sample))))

    @property
    def patterns(self) -> int:
        """Split patterns memoised so far (all trees)."""
        return sum(tree.size for tree in self._trees)


def _internal_nodes(root: dict[str, Any]) -> list[dict[str, Any]]:
    """The splits of a dumped tree, depth first (iterative: deep trees must not hit the recursion limit)."""
    if "leaf_coeff" in root:
        raise UnsupportedModel("linear trees are not supported")
    out: list[dict[str, Any]] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if "split_index" not in node:
            if "leaf_coeff" in node:
                raise UnsupportedModel("linear trees are not supported")
            continue
        out.append(node)
        stack.append(node["right_child"])
        stack.append(node["left_child"])
    return out


_explainers: dict[str, TreeShapExplainer | None] = {}
_explainers_lock = threading.Lock()
MAX_EXPLAINERS = 4


def for_booster(sha256: str, booster: lgb.Booster, category_counts: Mapping[int, int]) -> TreeShapExplainer | None:
    """The process's explainer for a model file (by SHA-256), or None if the model is unsupported."""
    with _explainers_lock:
        if sha256 in _explainers:
            return _explainers[sha256]
        try:
            explainer: TreeShapExplainer | None = TreeShapExplainer(booster, category_counts)
        except UnsupportedModel:
            explainer = None
        if len(_explainers) >= MAX_EXPLAINERS:
            _explainers.pop(next(iter(_explainers)))
        _explainers[sha256] = explainer
        return explainer
