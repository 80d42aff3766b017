"""A LightGBM model file checked line by line before LightGBM is allowed to parse it.

LightGBM trusts its model files. A tree whose child index points outside the tree, a
split on a feature the model does not have, a cycle between nodes, a ``tree_sizes`` entry
that does not match its tree: LightGBM loads some of these and then reads out of bounds
(a segmentation fault at ``pred_contrib``), loops for ever, or aborts the whole process
from one of its parsing threads. None of that may happen in a web or worker process.

``check_structure`` reads the text with plain Python (no LightGBM, no Django) and refuses
anything LightGBM would not have written itself:

- the header: a binary objective with a finite positive ``sigmoid``, one class, one tree
  per iteration, as many feature names and feature infos as ``max_feature_idx`` says, and
  (when a schema is given) exactly the schema's features, categorical where it says so;
- every tree: numbered in order, sized as ``tree_sizes`` says, only known keys, arrays of
  exactly the length ``num_leaves`` implies, numbers in LightGBM's own notation (no
  ``nan``/``inf``), finite thresholds and leaf values, split features inside the header,
  categorical splits only on categorical features and pointing inside ``cat_boundaries``,
  and child indices that form one tree rooted at node 0 (each node reached exactly once:
  no out-of-range index, no cycle, no orphan);
- the data counts TreeSHAP divides by (``internal_count``, ``leaf_count``): a parent's count
  is its children's sum and never zero, so contributions cannot come out as NaN;
- size: at most ``MAX_TREES`` trees, ``MAX_LEAVES`` leaves per tree, ``MAX_DEPTH`` levels,
  and an estimated explanation cost (Σ leaves × (depth + 1)², TreeSHAP's complexity) of at
  most ``MAX_EXPLAIN_WORK``, so one decision's reason codes cannot take seconds;
- a raw score bounded by ``MAX_ABS_RAW_SCORE`` whatever the input, so a sum of leaf values
  never overflows to infinity.

The same file is then loaded and run (plain predictions and contributions) in a child
process by ``scoring.ml.probe``, in case something slipped through; see
``scoring.ml.model.load_booster``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from scoring.ml.schema import CATEGORICAL, FeatureSchema

MAX_TREES = 10_000
MAX_LEAVES = 131_072  # LightGBM's own limit on num_leaves
MAX_DEPTH = 128
# TreeSHAP costs about leaves × (depth + 1)² per tree. Measured on the 2-core reference
# machine: a 400-tree, 255-leaf model of depth 32 is 5.6e7 and takes ~130 ms per decision's
# contributions, so 1e8 is a quarter of a second of CPU; the default credit model is 5.5e4.
MAX_EXPLAIN_WORK = 100_000_000
# A binary model's raw score is a log-odds: beyond ±1e6 every probability is 0 or 1 in
# float64 long before, so no credible model gets near it, and sums stay far from overflow.
MAX_ABS_RAW_SCORE = 1e6
MODEL_VERSIONS = ("v3", "v4")

_INT = re.compile(r"-?[0-9]{1,10}")
_FLOAT = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]{1,3})?")
_INTS = re.compile(rf"{_INT.pattern}(?: {_INT.pattern})*")
_FLOATS = re.compile(rf"{_FLOAT.pattern}(?: {_FLOAT.pattern})*")
_INT32 = 2**31 - 1
_UINT32 = 2**32 - 1

_CATEGORICAL_MASK = 1
_KNOWN_DECISION_BITS = 0b1111  # categorical, default-left, missing type (2 bits)

_TREE_KEYS = frozenset(
    {
        "num_leaves",
        "num_cat",
        "split_feature",
        "split_gain",
        "threshold",
        "decision_type",
        "left_child",
        "right_child",
        "leaf_value",
        "leaf_weight",
        "leaf_count",
        "internal_value",
        "internal_weight",
        "internal_count",
        "cat_boundaries",
        "cat_threshold",
        "is_linear",
        "shrinkage",
    }
)
_LINEAR_KEYS = frozenset({"leaf_const", "num_features", "leaf_features", "leaf_coeff"})
# Keys LightGBM writes for every tree with a split; a missing one makes its parser abort.
_REQUIRED_TREE_KEYS = (
    "num_cat",
    "split_feature",
    "split_gain",
    "threshold",
    "decision_type",
    "left_child",
    "right_child",
    "leaf_value",
    "leaf_count",
    "internal_count",
)


class MalformedModel(ValueError):
    """The text is not a LightGBM model this platform can safely load (the message says why)."""


@dataclass(frozen=True)
class ModelStructure:
    """What the structural check learnt about a model file."""

    feature_names: tuple[str, ...]
    feature_infos: tuple[str, ...]
    sigmoid: float
    trees: int
    max_depth: int
    explain_work: int


def check_structure(artifact: bytes, schema: FeatureSchema | None = None) -> ModelStructure:
    """Check a LightGBM model file's text; raises ``MalformedModel`` naming the first problem."""
    if b"\r" in artifact or b"\x00" in artifact:
        raise MalformedModel("the file has CR or NUL characters: save it again with Booster.save_model(), unconverted")
    try:
        artifact.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedModel("the file is not UTF-8 text") from exc
    # Offsets in bytes: tree_sizes counts bytes, and feature names may not be ASCII.
    first_tree = artifact.find(b"\nTree=")
    end = artifact.find(b"\nend of trees\n")
    if first_tree < 0 or end < 0 or end < first_tree:
        raise MalformedModel("no trees between the header and 'end of trees'")
    header = _header(artifact[: first_tree + 1].decode("utf-8"))
    features = len(header.feature_names)
    if schema is not None:
        _match_schema(header, schema)

    section = artifact[first_tree + 1 : end + 1]
    blocks = _tree_blocks(section)
    if not blocks:
        raise MalformedModel("the model has no trees")
    if len(blocks) > MAX_TREES:
        raise MalformedModel(f"{len(blocks)} trees; at most {MAX_TREES} are served")
    if header.tree_sizes is not None and header.tree_sizes != [len(block) for block in blocks]:
        raise MalformedModel("tree_sizes does not match the trees that follow (the file was edited)")

    categorical = [
        schema.features[i].type == CATEGORICAL
        if schema is not None
        else header.feature_infos[i] != "none" and not header.feature_infos[i].startswith("[")
        for i in range(features)
    ]
    depth, work, raw_bound = 0, 0, 0.0
    for index, block in enumerate(blocks):
        try:
            source = block.decode("ascii")
        except UnicodeDecodeError as exc:
            raise MalformedModel(f"tree {index}: characters other than ASCII") from exc
        tree = _Tree.parse(index, source, features, categorical)
        depth = max(depth, tree.depth)
        work += tree.leaves * (tree.depth + 1) ** 2
        raw_bound += tree.max_abs_leaf
    if work > MAX_EXPLAIN_WORK:
        raise MalformedModel(
            f"explaining one decision would cost about {work:,} TreeSHAP steps; at most {MAX_EXPLAIN_WORK:,} "
            "(use fewer or shallower trees)"
        )
    if raw_bound > MAX_ABS_RAW_SCORE:
        raise MalformedModel(f"leaf values add up to a raw score of up to {raw_bound:.3g}; not a credible log-odds")
    _check_pandas_categorical(artifact[end:].decode("utf-8"))
    return ModelStructure(
        feature_names=tuple(header.feature_names),
        feature_infos=tuple(header.feature_infos),
        sigmoid=header.sigmoid,
        trees=len(blocks),
        max_depth=depth,
        explain_work=work,
    )


# --- the header ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Header:
    feature_names: list[str]
    feature_infos: list[str]
    sigmoid: float
    tree_sizes: list[int] | None


def _header(text: str) -> _Header:
    lines = text.split("\n")
    if lines[0] != "tree":
        raise MalformedModel("the first line is not 'tree' (not a LightGBM gradient-boosting model)")
    values: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        key, sep, value = line.partition("=")
        if not sep:
            values.setdefault(key, "")  # 'average_output'
            continue
        if key in values:
            raise MalformedModel(f"the header names {key!r} twice")
        values[key] = value
    if values.get("version") not in MODEL_VERSIONS:
        raise MalformedModel(f"model format {values.get('version')!r}; expected one of {', '.join(MODEL_VERSIONS)}")
    for key, expected in (("num_class", "1"), ("num_tree_per_iteration", "1")):
        if values.get(key, "1" if key == "num_tree_per_iteration" else None) != expected:
            raise MalformedModel(f"{key} must be 1 (one binary classifier), not {values.get(key)!r}")
    objective = values.get("objective", "").split(" ")
    if objective[0] != "binary":
        raise MalformedModel(f"only binary classifiers are served; this model's objective is {objective[0]!r}")
    sigmoid = 1.0
    for part in objective[1:]:
        if part.startswith("sigmoid:"):
            sigmoid = _float(part.partition(":")[2], "the objective's sigmoid")
    if not sigmoid > 0:
        raise MalformedModel("the objective's sigmoid must be a positive number")
    max_feature_idx = _int(values.get("max_feature_idx", ""), "max_feature_idx")
    if not 0 <= max_feature_idx < 100_000:
        raise MalformedModel("max_feature_idx is out of range")
    names = values.get("feature_names", "").split(" ")
    infos = values.get("feature_infos", "").split(" ")
    if len(names) != max_feature_idx + 1 or len(infos) != max_feature_idx + 1:
        raise MalformedModel(
            f"max_feature_idx says {max_feature_idx + 1} features, but there are {len(names)} feature names "
            f"and {len(infos)} feature infos"
        )
    sizes = None
    if "tree_sizes" in values:
        sizes = [_int(token, "tree_sizes") for token in values["tree_sizes"].split(" ")]
    return _Header(names, infos, sigmoid, sizes)


def _match_schema(header: _Header, schema: FeatureSchema) -> None:
    names = header.feature_names
    if names != schema.names:
        missing = [n for n in schema.names if n not in names]
        extra = [n for n in names if n not in schema.names]
        detail = []
        if missing:
            detail.append(f"in the schema but not the model: {', '.join(missing)}")
        if extra:
            detail.append(f"in the model but not the schema: {', '.join(extra[:20])}")
        if not detail:
            detail.append("same names in another order")
        raise MalformedModel("the model's features do not match the schema (" + "; ".join(detail) + ")")
    for feature, info in zip(schema, header.feature_infos, strict=True):
        trained_categorical = info != "none" and not info.startswith("[")
        if info != "none" and trained_categorical != (feature.type == CATEGORICAL):
            kind = "categorical" if trained_categorical else "numeric"
            raise MalformedModel(f"feature {feature.name!r} is {kind} in the model but {feature.type} in the schema")


def _check_pandas_categorical(tail: str) -> None:
    """LightGBM's Python package ``json.loads`` the last line when it names pandas categories."""
    last = tail.rstrip("\n").rpartition("\n")[2].strip()
    key = "pandas_categorical:"
    if not last.startswith(key) or last == key + "null":
        return
    value = last[len(key) :]
    if len(value) > 1_000_000 or value.count("[") > 10_000:
        raise MalformedModel("the pandas_categorical line is too large")
    try:
        parsed = json.loads(value)
    except (ValueError, RecursionError) as exc:
        raise MalformedModel("the pandas_categorical line is not valid JSON") from exc
    if not isinstance(parsed, list) or not all(
        isinstance(column, list) and all(isinstance(v, str | int | float) for v in column) for column in parsed
    ):
        raise MalformedModel("the pandas_categorical line is not a list of category lists")


# --- the trees -------------------------------------------------------------------------


def _tree_blocks(section: bytes) -> list[bytes]:
    """``Tree=i`` blocks, each from its ``Tree=`` line to the next one (what tree_sizes counts)."""
    starts = [m.start() for m in re.finditer(rb"(?m)^Tree=", section)]
    if not starts or starts[0] != 0:
        raise MalformedModel("unexpected text before the first tree")
    return [section[a:b] for a, b in zip(starts, [*starts[1:], len(section)], strict=True)]


@dataclass(frozen=True)
class _Tree:
    leaves: int
    depth: int
    max_abs_leaf: float

    @classmethod
    def parse(cls, index: int, block: str, features: int, categorical: Sequence[bool]) -> _Tree:
        where = f"tree {index}"
        lines = block.split("\n")
        if lines[0] != f"Tree={index}":
            raise MalformedModel(f"{where}: expected the line 'Tree={index}', found {lines[0][:40]!r}")
        values: dict[str, str] = {}
        body = lines[1:]
        blank = body.index("") if "" in body else len(body)
        if any(line for line in body[blank:]):
            raise MalformedModel(f"{where}: text after the tree's blank line")
        for line in body[:blank]:
            key, sep, value = line.partition("=")
            if not sep:
                raise MalformedModel(f"{where}: a line without '=': {line[:40]!r}")
            if key in _LINEAR_KEYS:
                raise MalformedModel(f"{where}: linear trees are not served (their contributions are not defined)")
            if key not in _TREE_KEYS:
                raise MalformedModel(f"{where}: unknown key {key[:40]!r}")
            if key in values:
                raise MalformedModel(f"{where}: {key} appears twice")
            values[key] = value
        if "num_leaves" not in values or "leaf_value" not in values:
            raise MalformedModel(f"{where}: no num_leaves or leaf_value")
        if values.get("is_linear", "0") != "0":
            raise MalformedModel(f"{where}: linear trees are not served (their contributions are not defined)")
        if "shrinkage" in values:
            _float(values["shrinkage"], f"{where}: shrinkage")
        leaves = _int(values["num_leaves"], f"{where}: num_leaves")
        if not 1 <= leaves <= MAX_LEAVES:
            raise MalformedModel(f"{where}: num_leaves {leaves} is outside 1-{MAX_LEAVES}")
        if leaves == 1:
            (leaf,) = _floats(values["leaf_value"], 1, f"{where}: leaf_value")
            return cls(leaves=1, depth=0, max_abs_leaf=abs(leaf))
        missing = [key for key in _REQUIRED_TREE_KEYS if key not in values]
        if missing:
            raise MalformedModel(f"{where}: missing {', '.join(missing)}")
        nodes = leaves - 1
        split_feature = _ints(values["split_feature"], nodes, f"{where}: split_feature")
        thresholds = _floats(values["threshold"], nodes, f"{where}: threshold")
        decision_type = _ints(values["decision_type"], nodes, f"{where}: decision_type")
        left = _ints(values["left_child"], nodes, f"{where}: left_child")
        right = _ints(values["right_child"], nodes, f"{where}: right_child")
        leaf_value = _floats(values["leaf_value"], leaves, f"{where}: leaf_value")
        leaf_count = _ints(values["leaf_count"], leaves, f"{where}: leaf_count")
        internal_count = _ints(values["internal_count"], nodes, f"{where}: internal_count")
        _floats(values["split_gain"], nodes, f"{where}: split_gain")
        for optional, size in (("leaf_weight", leaves), ("internal_value", nodes), ("internal_weight", nodes)):
            if optional in values:
                _floats(values[optional], size, f"{where}: {optional}")

        num_cat = _int(values["num_cat"], f"{where}: num_cat")
        if not 0 <= num_cat <= nodes:
            raise MalformedModel(f"{where}: num_cat {num_cat} is outside 0-{nodes}")
        if num_cat:
            if "cat_boundaries" not in values or "cat_threshold" not in values:
                raise MalformedModel(f"{where}: categorical splits without cat_boundaries or cat_threshold")
            boundaries = _ints(values["cat_boundaries"], num_cat + 1, f"{where}: cat_boundaries")
            words = values["cat_threshold"].split(" ") if values["cat_threshold"] else []
            bitsets = [_int(word, f"{where}: cat_threshold") for word in words]
            if boundaries[0] != 0 or boundaries != sorted(boundaries) or boundaries[-1] != len(bitsets):
                raise MalformedModel(f"{where}: cat_boundaries do not delimit cat_threshold")
            if any(not 0 <= word <= _UINT32 for word in bitsets):
                raise MalformedModel(f"{where}: cat_threshold holds a value outside 32 bits")
        elif "cat_boundaries" in values or "cat_threshold" in values:
            raise MalformedModel(f"{where}: cat_boundaries or cat_threshold without categorical splits")

        for node in range(nodes):
            kind = decision_type[node]
            if not 0 <= kind <= _KNOWN_DECISION_BITS or (kind >> 2) & 3 == 3:
                raise MalformedModel(f"{where}, node {node}: unknown decision_type {kind}")
            feature = split_feature[node]
            if not 0 <= feature < features:
                raise MalformedModel(
                    f"{where}, node {node}: splits on feature {feature}, but the model has {features} features"
                )
            is_categorical = bool(kind & _CATEGORICAL_MASK)
            if is_categorical != categorical[feature]:
                raise MalformedModel(
                    f"{where}, node {node}: a {'categorical' if is_categorical else 'numeric'} split on feature "
                    f"{feature}, which is {'categorical' if categorical[feature] else 'numeric'}"
                )
            if is_categorical:
                threshold = thresholds[node]
                if not threshold.is_integer() or not 0 <= threshold < num_cat:
                    raise MalformedModel(f"{where}, node {node}: categorical threshold {threshold} is out of range")
            if internal_count[node] <= 0:
                raise MalformedModel(f"{where}, node {node}: internal_count must be positive")
        if any(count < 0 for count in leaf_count):
            raise MalformedModel(f"{where}: a negative leaf_count")

        depth = _walk(where, left, right, leaves)
        for node in range(nodes):
            below = sum(internal_count[c] if c >= 0 else leaf_count[~c] for c in (left[node], right[node]))
            if below != internal_count[node]:
                raise MalformedModel(f"{where}, node {node}: internal_count is not the sum of its children's counts")
        if depth > MAX_DEPTH:
            raise MalformedModel(f"{where}: {depth} levels deep; at most {MAX_DEPTH}")
        return cls(leaves=leaves, depth=depth, max_abs_leaf=max(abs(v) for v in leaf_value))


def _walk(where: str, left: Sequence[int], right: Sequence[int], leaves: int) -> int:
    """Check the child indices form one tree rooted at node 0; returns its depth.

    A child ``c >= 0`` is internal node ``c``; ``c < 0`` is leaf ``~c``. Every internal node
    but the root and every leaf must be reached exactly once.
    """
    nodes = leaves - 1
    seen_nodes = [False] * nodes
    seen_leaves = [False] * leaves
    seen_nodes[0] = True
    depth = 0
    stack = [(0, 0)]
    while stack:
        node, level = stack.pop()
        for child in (left[node], right[node]):
            if child >= 0:
                if child >= nodes:
                    raise MalformedModel(f"{where}, node {node}: child {child} is outside the tree's {nodes} nodes")
                if seen_nodes[child]:
                    raise MalformedModel(f"{where}, node {node}: node {child} is reached twice (a cycle or a join)")
                seen_nodes[child] = True
                stack.append((child, level + 1))
            else:
                leaf = ~child
                if leaf >= leaves:
                    raise MalformedModel(f"{where}, node {node}: leaf {leaf} is outside the tree's {leaves} leaves")
                if seen_leaves[leaf]:
                    raise MalformedModel(f"{where}, node {node}: leaf {leaf} is reached twice")
                seen_leaves[leaf] = True
                depth = max(depth, level + 1)
    if not all(seen_nodes) or not all(seen_leaves):
        raise MalformedModel(f"{where}: some nodes or leaves cannot be reached from the root")
    return depth


# --- numbers, in LightGBM's own notation -----------------------------------------------
# One regular expression per line, then the built-in conversions: a model has ~10^6 numbers.


def _int(token: str, what: str) -> int:
    if not _INT.fullmatch(token):
        raise MalformedModel(f"{what}: {token[:30]!r} is not an integer")
    value = int(token)
    if abs(value) > _UINT32:
        raise MalformedModel(f"{what}: {token[:30]} is out of range")
    return value


def _ints(value: str, size: int, what: str) -> list[int]:
    if size == 0 and not value:
        return []
    if not _INTS.fullmatch(value):
        bad = next((t for t in value.split(" ") if not _INT.fullmatch(t)), value)
        raise MalformedModel(f"{what}: {bad[:30]!r} is not an integer")
    out = [int(token) for token in value.split(" ")]
    if len(out) != size:
        raise MalformedModel(f"{what}: {len(out)} values, expected {size}")
    if min(out) < -_INT32 or max(out) > _INT32:
        raise MalformedModel(f"{what}: a value outside 32 bits")
    return out


def _float(token: str, what: str) -> float:
    if not _FLOAT.fullmatch(token):
        raise MalformedModel(f"{what}: {token[:30]!r} is not a finite number")
    value = float(token)
    if not math.isfinite(value):
        raise MalformedModel(f"{what}: {token[:30]} is not a finite number")
    return value


def _floats(value: str, size: int, what: str) -> list[float]:
    if size == 0 and not value:
        return []
    if not _FLOATS.fullmatch(value):
        bad = next((t for t in value.split(" ") if not _FLOAT.fullmatch(t)), value)
        raise MalformedModel(f"{what}: {bad[:30]!r} is not a finite number")
    out = [float(token) for token in value.split(" ")]
    if len(out) != size:
        raise MalformedModel(f"{what}: {len(out)} values, expected {size}")
    if not all(map(math.isfinite, out)):  # 1e999 matches the notation and overflows to inf
        raise MalformedModel(f"{what}: a number too large to be finite")
    return out
