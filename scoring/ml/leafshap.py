"""TreeSHAP from per-leaf tables: LightGBM's ``pred_contrib`` numbers in a few array operations.

LightGBM's TreeSHAP (path-dependent, the explanation ``/score`` returns) walks every tree
of the model for every row and keeps a polynomial of the path's features up to date at
each node: for the default credit model, about 1.0 M instructions per decision through
the single-row C API, a quarter of all a ``/score`` request executed (docs/performance.md,
"Seventh round").

The same values can be read off tables built once per model, as FastTreeSHAP's second
variant does (Yang, 2021). In one tree, TreeSHAP is a sum over the leaves. The part of
leaf ``l`` depends on the row only through one bit per feature on the path to ``l``:

* the bit is 1 when the row goes the path's way at every split of that feature;
* the leaf's value ``v`` and, per path feature ``j``, the share ``r_j`` of the training rows
  that went the path's way at its splits (the covers LightGBM keeps in the model) are fixed.

The leaf's game is ``g(S) = v * prod_j (j in S ? bit_j : r_j)``. Its Shapley values are those
of the ``d`` path features alone (every other feature is a dummy for this leaf), so a leaf
has ``2^d`` possible answers of ``d`` values each. They are computed once per model and
process, at its first explanation (0.13-0.20 s), and stored by *path pattern* (one bit per
split on the path, at most ``2^6`` with ``max_depth`` 6): 176,140 values, 1.4 MB, for the
1,151 leaves of the default credit model.

Then a row costs:

* one comparison per split of the whole model, following LightGBM's rules;
* one packed byte per leaf: its path pattern;
* one look-up per leaf and path feature;
* one sum per feature.

That is about twenty numpy calls for one row, or the same calls over a whole matrix:
0.43 M instructions a row instead of 1.0 M.

The values are the Shapley values of the same game, computed in another order. They match
LightGBM's to about 1e-15, not bit for bit. So the tables are used only for a model that passes a
check when they are built: the rows of ``check_rows`` (every split's threshold and its
neighbours, zero, missing values, every category and one never seen) against LightGBM's own
``pred_contrib``, within ``CHECK_TOLERANCE``. A model that fails it, or that the tables
cannot represent, keeps LightGBM's TreeSHAP (``LoadedModel.contributions``). A request
and its replay compute the same bits (one row and a matrix agree exactly); batch jobs
check their memo (``scoring.ml.explain``) against these values.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np

# LightGBM's kZeroThreshold, a float constant (1e-35f): it reads |value| <= this as 0.0.
K_ZERO = float(np.float32(1e-35))
MAX_DEPTH = 16  # splits on a path: a leaf's table has 2^depth rows (max_depth 6: 64)
MAX_TABLE_VALUES = 4_000_000  # 32 MB of float64 per model and process at most (the default credit model: 176,140)
CHECK_TOLERANCE = 1e-9
CHUNK_ROWS = 256  # rows per pass over a matrix: bounds the working arrays (rows x path entries)


class UnsupportedModel(ValueError):
    """A model the tables cannot represent (linear trees, several classes, paths too long)."""


@dataclass(frozen=True)
class _Leaf:
    value: float
    count: float  # training rows that reached it
    path: list[tuple[int, bool]]  # (split index, goes left), from the root
    # Per path feature, in order of first appearance: (feature, share of the training rows that
    # went the path's way at its splits, the positions in ``path`` of those splits).
    features: list[tuple[int, float, list[int]]]


@dataclass
class _Splits:
    """Every split of the model, flattened: index = position in these lists."""

    feature: list[int]
    threshold: list[float]
    default_left: list[bool]
    missing: list[str]  # LightGBM's missing type: "None", "Zero" or "NaN"
    categories: list[frozenset[int] | None]  # categorical split: the categories sent left


def _walk(root: dict[str, Any], splits: _Splits) -> Iterator[_Leaf]:
    """The leaves of one dumped tree, with their paths (iterative: no recursion limit)."""
    stack: list[tuple[dict[str, Any], list[tuple[int, int, bool, float]]]] = [(root, [])]
    while stack:
        node, path = stack.pop()
        if "leaf_coeff" in node:
            raise UnsupportedModel("linear trees are not supported")
        if "split_index" not in node:
            yield _leaf(node, path)
            continue
        index = len(splits.feature)
        feature = int(node["split_feature"])
        splits.feature.append(feature)
        splits.default_left.append(bool(node.get("default_left", True)))
        splits.missing.append(str(node.get("missing_type", "None")))
        if node["decision_type"] == "==":
            splits.threshold.append(math.nan)
            splits.categories.append(frozenset(int(c) for c in str(node["threshold"]).split("||")))
        elif node["decision_type"] == "<=":
            splits.threshold.append(float(node["threshold"]))
            splits.categories.append(None)
        else:
            raise UnsupportedModel(f"unknown split {node['decision_type']!r}")
        count = float(node["internal_count"])
        for child, left in ((node["right_child"], False), (node["left_child"], True)):
            share = _count(child) / count
            stack.append((child, [*path, (index, feature, left, share)]))


def _count(node: dict[str, Any]) -> float:
    return float(node["internal_count"] if "split_index" in node else node["leaf_count"])


def _leaf(node: dict[str, Any], path: list[tuple[int, int, bool, float]]) -> _Leaf:
    by_feature: dict[int, tuple[float, list[int]]] = {}
    for k, (_, feature, _, share) in enumerate(path):
        previous, positions = by_feature.get(feature, (1.0, []))
        by_feature[feature] = (previous * share, [*positions, k])  # a repeated feature: its shares multiply
    return _Leaf(
        value=float(node["leaf_value"]),
        count=float(node["leaf_count"]),
        path=[(index, left) for index, _, left, _ in path],
        features=[(f, share, positions) for f, (share, positions) in by_feature.items()],
    )


def leaf_answers(value: float, shares: np.ndarray) -> np.ndarray:
    """Shapley values of one leaf's game for each of its ``2^d`` bit patterns.

    ``shares`` holds ``r_j`` for the ``d`` path features; the answer has shape ``(2^d, d)``:
    row ``b`` is the contributions when bit ``j`` of ``b`` says whether the row goes the
    path's way at feature ``j``'s splits. Vectorised over a group of leaves by ``_answers``.
    """
    return _answers(np.array([value]), shares.reshape(1, -1))[0]


def _answers(values: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """``leaf_answers`` for ``n`` leaves of the same path length ``d``: shape ``(n, 2^d, d)``.

    With ``P`` the features whose bit is 1 and ``N`` the others, a player ``i`` gets
    ``v * (1 - r_i) * Z_i`` if ``i`` is in ``P`` and ``-v * r_i * Z_i`` if not, where
    ``Z_i = sum over S subset of P minus i of w(|S|) * prod over j outside S and i of r_j``
    and ``w(s) = s! (d - 1 - s)! / d!`` (coalitions with a feature of ``N`` score zero).
    ``Z`` is a sum over the subsets of ``P``: a zeta transform over the bit patterns.
    """
    n, d = shares.shape
    patterns = np.arange(1 << d)
    members = (patterns[:, None] >> np.arange(d)) & 1  # (2^d, d): bit j of pattern S
    # outside[:, S] = product of r_j over the features j not in S
    outside = np.ones((n, 1 << d))
    for j in range(d):
        outside[:, members[:, j] == 0] *= shares[:, j : j + 1]
    weights = np.array([math.factorial(s) * math.factorial(d - 1 - s) / math.factorial(d) for s in range(d)])
    size = members.sum(axis=1)
    z = np.zeros((n, d, 1 << d))
    for i in range(d):
        without = members[:, i] == 0  # coalitions S without i: w(|S|) * product over j outside S and i
        z[:, i, without] = weights[size[without]] * outside[:, patterns[without] | (1 << i)]
    for j in range(d):  # zeta transform: sum over the subsets of each pattern
        has = members[:, j] == 1
        z[:, :, has] += z[:, :, patterns[has] ^ (1 << j)]
    sign = np.where(members.T[None, :, :] == 1, 1.0 - shares[:, :, None], -shares[:, :, None])  # (n, d, 2^d)
    return np.asarray((values[:, None, None] * sign * z).transpose(0, 2, 1))


class LeafTreeShap:
    """``booster.predict(matrix, pred_contrib=True)`` from per-leaf tables (the module's docstring).

    Immutable once built, so thread-safe. Raises ``UnsupportedModel`` for a model it cannot
    represent; ``check`` says how far its values are from LightGBM's.
    """

    def __init__(self, booster: lgb.Booster) -> None:
        if booster.num_model_per_iteration() != 1:
            raise UnsupportedModel("one tree per iteration (binary or regression models) only")
        self.features = booster.num_feature()
        splits = _Splits([], [], [], [], [])
        leaves: list[_Leaf] = []
        bias = 0.0
        for info in booster.dump_model()["tree_info"]:
            root = info["tree_structure"]
            if "split_index" not in root:  # a single leaf: its value is all bias
                bias += float(root["leaf_value"])
                continue
            tree = list(_walk(root, splits))
            total = float(root["internal_count"])
            bias += sum(leaf.count / total * leaf.value for leaf in tree)  # LightGBM's ExpectedValue
            leaves.extend(tree)
        depth = max((len(leaf.path) for leaf in leaves), default=0)
        if depth > MAX_DEPTH:
            raise UnsupportedModel(f"a path of {depth} splits (at most {MAX_DEPTH})")
        if sum((1 << len(leaf.path)) * len(leaf.features) for leaf in leaves) > MAX_TABLE_VALUES:
            raise UnsupportedModel(f"the tables would hold more than {MAX_TABLE_VALUES} values")
        self.bias = bias
        self.leaves = len(leaves)
        self._width = 8 if depth <= 8 else 16  # bits of a leaf's path pattern
        self._splits(splits)
        self._tables(leaves)

    # --- building -------------------------------------------------------------------------

    def _splits(self, splits: _Splits) -> None:
        self._split_feature = np.array(splits.feature, dtype=np.intp)
        thresholds = np.array(splits.threshold, dtype=np.float64)
        default_left = np.array(splits.default_left, dtype=bool)
        missing = np.array(splits.missing)
        categorical = np.array([c is not None for c in splits.categories], dtype=bool)
        self.thresholds = thresholds  # as saved in the model (NaN: a categorical split)
        # LightGBM reads a value within K_ZERO of zero as 0.0 before any split sees it. Folded
        # into the thresholds: one in [-K_ZERO, 0) sends that band right, one in [0, K_ZERO) left.
        self._threshold = np.where(
            (thresholds >= -K_ZERO) & (thresholds < 0.0),
            np.nextafter(-K_ZERO, -np.inf),
            np.where((thresholds >= 0.0) & (thresholds < K_ZERO), K_ZERO, thresholds),
        )
        # A missing value (NaN): a "NaN" split sends it the default way; a "Zero" split counts it
        # as zero, which it treats as missing (the default way too); a "None" split compares 0.0.
        self._nan_left = np.where(missing == "None", np.nan_to_num(thresholds) >= 0.0, default_left)
        self._nan_left[categorical] = False
        self._zero = np.flatnonzero((missing == "Zero") & ~categorical)
        self._zero_left = default_left[self._zero]
        self._categorical = np.flatnonzero(categorical)
        self._categorical_feature = self._split_feature[self._categorical]
        top = max((max(c, default=0) for c in splits.categories if c is not None), default=0)
        # One row per categorical split, one column per code + 1: column 0 (a missing or negative
        # code) and the last (a code beyond every list) are never left.
        self._codes = top + 3
        table = np.zeros((len(self._categorical), self._codes), dtype=bool)
        for k, i in enumerate(self._categorical):
            table[k, [c + 1 for c in sorted(splits.categories[i] or ())]] = True
        self._category_left = table.ravel()
        self._category_row = (np.arange(len(self._categorical)) * self._codes + 1).astype(np.intp)

    def _tables(self, leaves: list[_Leaf]) -> None:
        """Each leaf's answers by path pattern, and where each (leaf, path feature) reads its answer.

        A leaf's *path pattern* has one bit per split on its path (1: the row goes the path's
        way there); its feature pattern, one bit per path feature, is the AND of that feature's
        splits. The table holds, for every path pattern, the answers of its feature pattern.
        """
        counts = np.array([(1 << len(leaf.path)) * len(leaf.features) for leaf in leaves], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(counts)])
        table = np.zeros(int(offsets[-1]))
        lengths = np.array([len(leaf.features) for leaf in leaves])
        for d in sorted(set(lengths.tolist())):
            group = np.flatnonzero(lengths == d)
            values = np.array([leaves[g].value for g in group])
            shares = np.array([[share for _, share, _ in leaves[g].features] for g in group])
            answers = _answers(values, shares)  # (leaves, 2^d, d), by feature pattern
            for row, member in enumerate(group.tolist()):
                table[offsets[member] : offsets[member + 1]] = answers[row][_feature_patterns(leaves[member])].ravel()
        # The splits each leaf tests, padded to the pattern's width with a split no row passes.
        never = len(self._split_feature)
        tested = np.full((len(leaves), self._width), never, dtype=np.intp)
        way = np.zeros((len(leaves), self._width), dtype=bool)
        for g, leaf in enumerate(leaves):
            tested[g, : len(leaf.path)] = [index for index, _ in leaf.path]
            way[g, : len(leaf.path)] = [left for _, left in leaf.path]
        way[tested == never] = True  # the padding split goes right for every row: its bit is 0
        self._tested = tested.ravel()
        self._way = way.ravel()
        # Entries (leaf, path feature) sorted by feature, so that one reduceat adds up each feature's answers.
        entries = [
            (f, g, position) for g, leaf in enumerate(leaves) for position, (f, _, _) in enumerate(leaf.features)
        ]
        entries.sort(key=lambda e: e[0])
        feature = np.array([f for f, _, _ in entries], dtype=np.intp)
        self._entry_leaf = np.array([g for _, g, _ in entries], dtype=np.intp)
        # An entry's answer: table[offset of its leaf + path pattern * its leaf's path features + position].
        self._entry_position = np.array([p for _, _, p in entries], dtype=np.int64)
        self._leaf_offset = offsets[:-1].astype(np.int64)
        self._leaf_stride = lengths.astype(np.int64)
        used, first = np.unique(feature, return_index=True)
        self._used = used.astype(np.intp)
        self._feature_start = first.astype(np.intp)
        self._table = table

    # --- computing ------------------------------------------------------------------------

    def _left(self, values: np.ndarray) -> np.ndarray:
        """Per split (last axis): does the row go left? LightGBM's ``Decision``, on each split's
        feature value (``values``: one row or a matrix, one column per split)."""
        left = (values <= self._threshold) | (np.isnan(values) & self._nan_left)
        if len(self._zero):
            zero = values[..., self._zero]
            left[..., self._zero] = np.where(
                np.isnan(zero) | (np.abs(zero) <= K_ZERO), self._zero_left, zero <= self._threshold[self._zero]
            )
        if len(self._categorical):
            # LightGBM truncates the value to an integer code; NaN and negative codes go right,
            # like a code no split lists (column 0 and the last column, never left).
            # (ufuncs only: fmax turns NaN into -1; np.clip and np.nan_to_num cost 7-20 µs a call)
            codes = np.minimum(np.fmax(np.trunc(values[..., self._categorical]), -1.0), self._codes - 2)
            left[..., self._categorical] = self._category_left.take(self._category_row + codes.astype(np.intp))
        return left

    def _patterns(self, left: np.ndarray) -> np.ndarray:
        """Each leaf's path pattern (last axis: leaves) from the splits' directions."""
        extended = np.concatenate([left, np.zeros(left.shape[:-1] + (1,), dtype=bool)], axis=-1)
        passed = extended.take(self._tested, axis=-1) == self._way
        # Each leaf's bits are contiguous and a whole number of bytes: packed flat, a leaf is 1 or 2 bytes.
        packed = np.packbits(passed, bitorder="little").reshape(left.shape[:-1] + (-1,))
        return packed if self._width == 8 else packed.view("<u2")

    def _offsets(self, pattern: np.ndarray) -> np.ndarray:
        """Where each entry reads its answer, from the leaves' path patterns (last axis: leaves)."""
        leaf = self._leaf_offset + pattern * self._leaf_stride
        return leaf.take(self._entry_leaf, axis=-1) + self._entry_position

    def row(self, row: np.ndarray) -> np.ndarray:
        """The contributions of one row (a 1-D array): ``contributions(row[None])[0]``, bit for bit."""
        row = np.asarray(row, dtype=np.float64)
        if row.shape != (self.features,):
            raise ValueError(f"expected a row of {self.features} values")
        answer = self._table.take(self._offsets(self._patterns(self._left(row.take(self._split_feature)))))
        out = np.zeros(self.features + 1)
        out[self._used] = np.add.reduceat(answer, self._feature_start)
        out[self.features] = self.bias
        return out

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """One column per feature plus the bias; each row sums to the raw score (log-odds)."""
        matrix = np.asarray(matrix, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[1] != self.features:
            raise ValueError(f"expected a matrix of {self.features} columns")
        out = np.zeros((len(matrix), self.features + 1))
        for start in range(0, len(matrix), CHUNK_ROWS):
            chunk = matrix[start : start + CHUNK_ROWS]
            answer = self._table.take(
                self._offsets(self._patterns(self._left(chunk.take(self._split_feature, axis=1))))
            )
            out[start : start + len(chunk), self._used] = np.add.reduceat(answer, self._feature_start, axis=1)
        out[:, self.features] = self.bias
        return out

    def check(self, booster: lgb.Booster, matrix: np.ndarray) -> float:
        """Largest difference with LightGBM's own ``pred_contrib`` on the rows of ``matrix``."""
        if not len(matrix):
            return 0.0
        exact = np.asarray(booster.predict(matrix, pred_contrib=True, num_threads=1), dtype=float)
        return float(np.max(np.abs(exact - self.contributions(matrix))))

    def check_rows(self, count: int = 512, seed: int = 0) -> np.ndarray:
        """Rows that reach every kind of decision the model makes, for ``check``.

        Each value is drawn, per feature, among the thresholds its splits use, the nearest
        values on both sides of each, zero, the zero band's edges and a missing value; for a
        categorical feature, among every category its splits list, one beyond them, a
        negative code and a missing value. A feature no split uses is missing.
        """
        rng = np.random.default_rng(seed)
        numeric = np.ones(len(self._split_feature), dtype=bool)
        numeric[self._categorical] = False
        rows = np.full((count, self.features), np.nan)
        for f in np.unique(self._split_feature[numeric]):
            thresholds = np.unique(self.thresholds[numeric & (self._split_feature == f)])
            near = np.concatenate([thresholds, np.nextafter(thresholds, np.inf), np.nextafter(thresholds, -np.inf)])
            rows[:, f] = rng.choice(np.concatenate([near, [0.0, -0.0, K_ZERO, -K_ZERO, 2 * K_ZERO, np.nan]]), count)
        for f in np.unique(self._categorical_feature):
            codes = np.arange(self._codes - 1, dtype=float)  # every listed code and one beyond
            rows[:, f] = rng.choice(np.concatenate([codes, [-1.0, -0.5, 0.5, np.nan]]), count)
        return rows


def _feature_patterns(leaf: _Leaf) -> np.ndarray:
    """For each path pattern of ``leaf``, its feature pattern (bit j: every split of feature j passed)."""
    paths = np.arange(1 << len(leaf.path))
    out = np.zeros(len(paths), dtype=np.intp)
    for j, (_, _, positions) in enumerate(leaf.features):
        every = np.ones(len(paths), dtype=bool)
        for k in positions:
            every &= ((paths >> k) & 1) == 1
        out |= every.astype(np.intp) << j
    return out
