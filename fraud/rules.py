"""The fraud rules engine: rule versions compiled once, evaluated on every transaction, back-tested.

No Django and no database here: ``fraud.services`` loads the rule versions and the
transaction's features, this module only decides.

A rule's condition is written in a small, safe expression language (``fraud.conditions``:
``amount > 10000 and type == "virement"``), checked against ``FIELDS`` and an allow-list
when it is saved, and compiled into plain Python closures; nothing is ever handed to
``eval``. A syntax error, an unknown field (with a "did you mean" suggestion), a type error
(``amount > "high"``), a construct outside the language (regular expressions, shifts,
comprehensions, mappings...) or a condition that is not a yes/no question is refused with a
readable message, so a stored rule always compiles. The language has no ``$now``/``$today``/
``$random`` either: a rule must give the same answer when it is replayed or back-tested.
"""

from __future__ import annotations

import decimal
import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from fraud.conditions import (
    DECIMAL,
    EVALUATION_ERRORS,
    FIELDS,
    MAX_CONDITION_LENGTH,
    Condition,
    FieldInfo,
    RuleError,
    compile_condition,
    prepare,
)

__all__ = [
    "ACTIONS",
    "FIELDS",
    "MAX_CONDITION_LENGTH",
    "BacktestResult",
    "CompiledRule",
    "FieldInfo",
    "Outcome",
    "RuleError",
    "RuleFailure",
    "RuleHit",
    "RuleOutcome",
    "RuleSet",
    "RuleSpec",
    "backtest",
    "backtest_tally",
    "check_reason",
    "compile_condition",
    "complete",
    "render_reason",
]

ACTIONS = ("flag", "review", "block")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def check_reason(template: str) -> None:
    """A reason may name fields as ``{amount}``; any other placeholder is refused."""
    unknown = sorted({name for name in _PLACEHOLDER.findall(template) if name not in FIELDS})
    if unknown:
        raise RuleError(f"Unknown field in the reason: {', '.join('{' + n + '}' for n in unknown)}.")


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() else f"{value:.2f}"
    return str(value)


def render_reason(template: str, context: Mapping[str, Any]) -> str:
    """Fill ``{field}`` placeholders with the transaction's values (no format-string tricks)."""
    return _PLACEHOLDER.sub(lambda m: _shown(context.get(m.group(1), m.group(0))), template)


@dataclass(frozen=True)
class RuleSpec:
    """One rule version as the engine needs it (read from a ``FraudRuleVersion`` or a draft)."""

    name: str
    condition: str
    action: str = "flag"
    weight: float = 0.0
    version: int = 0
    order: int = 100
    reason: str = ""
    rule_id: int | None = None
    version_id: int | None = None

    @property
    def ref(self) -> dict[str, Any]:
        """How a fraud check records that it ran this version."""
        return {"id": self.version_id, "rule": self.name, "version": self.version}


@dataclass(frozen=True)
class RuleHit:
    """A rule whose condition held, with the reason shown to the caller and the analyst."""

    name: str
    version: int
    action: str
    weight: float
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "action": self.action,
            "weight": self.weight,
            "reason": self.reason,
        }


# The order of a fired rule's keys in every answer (``in_key_order``): as ``RuleHit.as_dict`` writes them.
RULE_HIT_KEYS = tuple(f.name for f in fields(RuleHit))


@dataclass(frozen=True)
class RuleFailure:
    """A rule that could not be evaluated on this transaction (e.g. a division by zero)."""

    name: str
    version: int
    error: str


@dataclass(frozen=True)
class CompiledRule:
    """A rule version compiled once, evaluated many times (immutable, so shared by threads)."""

    spec: RuleSpec
    condition: Condition = field(repr=False)

    @classmethod
    def build(cls, spec: RuleSpec) -> CompiledRule:
        if spec.action not in ACTIONS:
            raise RuleError(f"The action must be one of {', '.join(ACTIONS)}.")
        if not 0 <= spec.weight <= 1:
            raise RuleError("The weight is between 0 and 1.")
        check_reason(spec.reason)
        return cls(spec, compile_condition(spec.condition))

    def matches(self, context: Mapping[str, Any]) -> bool:
        """Raises one of ``EVALUATION_ERRORS`` (a division by zero, a missing field) when it cannot be evaluated."""
        return self.condition.matches(context)

    def hit(self, context: Mapping[str, Any]) -> RuleHit:
        spec = self.spec
        reason = render_reason(spec.reason, context) if spec.reason else f"Rule {spec.name} matched: {spec.condition}"
        return RuleHit(spec.name, spec.version, spec.action, spec.weight, reason[:300])


@dataclass(frozen=True)
class RuleOutcome:
    hits: tuple[RuleHit, ...]
    failures: tuple[RuleFailure, ...]


def evaluation_error_name(exc: Exception) -> str:
    """What a check records for a rule that failed on it: short and stable."""
    if isinstance(exc, ZeroDivisionError):
        return "division by zero"
    if isinstance(exc, ArithmeticError):
        return "arithmetic error"
    if isinstance(exc, LookupError):
        return "missing field"
    return "type error"


class RuleSet:
    """The active rules, in evaluation order (``order``, then name). Immutable once built."""

    def __init__(self, rules: Iterable[CompiledRule]) -> None:
        self.rules: tuple[CompiledRule, ...] = tuple(sorted(rules, key=lambda r: (r.spec.order, r.spec.name)))
        self.refs: list[dict[str, Any]] = [r.spec.ref for r in self.rules]
        self.fields: frozenset[str] = frozenset().union(*(r.condition.fields for r in self.rules))

    def __len__(self) -> int:
        return len(self.rules)

    def evaluate(self, context: Mapping[str, Any]) -> RuleOutcome:
        """Every rule on one transaction. A rule that fails is reported, never fatal to the decision."""
        hits: list[RuleHit] = []
        failures: list[RuleFailure] = []
        values = prepare(context, self.fields)  # once for all the rules
        with decimal.localcontext(DECIMAL):
            for compiled in self.rules:
                try:
                    matched = compiled.condition.test(values)
                except EVALUATION_ERRORS as exc:
                    failures.append(RuleFailure(compiled.spec.name, compiled.spec.version, evaluation_error_name(exc)))
                    continue
                if matched:
                    hits.append(compiled.hit(context))
        return RuleOutcome(tuple(hits), tuple(failures))


def complete(context: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """``context`` with every field (defaults filled in) and whether any was missing.

    Snapshots stored before a field existed are back-tested with the field's default.
    """
    missing = [name for name in FIELDS if name not in context]
    if not missing:
        return dict(context), False
    return {**{name: FIELDS[name].default for name in missing}, **context}, True


class Outcome(enum.IntEnum):
    """What a condition did on one back-tested transaction."""

    QUIET = 0
    HIT = 1
    FAILED = 2  # could not be evaluated (counted, and read as "did not fire")

    @classmethod
    def of(cls, condition: Condition, context: Mapping[str, Any]) -> Outcome:
        try:
            return cls.HIT if condition.matches(context) else cls.QUIET
        except EVALUATION_ERRORS:
            return cls.FAILED


@dataclass(frozen=True)
class BacktestResult:
    """What a rule would have done on stored transactions.

    Precision and recall use only the labelled rows (transactions whose alert an analyst
    resolved as confirmed fraud or false positive): ``None`` when there is nothing to divide.
    """

    rows: int
    hits: int
    labelled: int
    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int
    failures: int
    incomplete: int
    # The range held more checks than the back-test reads (FRAUD_BACKTEST_MAX_ROWS): the
    # figures are of the newest ones only.
    capped: bool = False

    @property
    def hit_rate(self) -> float | None:
        return self.hits / self.rows if self.rows else None

    @property
    def precision(self) -> float | None:
        flagged = self.true_positives + self.false_positives
        return self.true_positives / flagged if flagged else None

    @property
    def recall(self) -> float | None:
        frauds = self.true_positives + self.false_negatives
        return self.true_positives / frauds if frauds else None


def backtest_tally(rows: Iterable[tuple[Outcome, bool | None, bool]]) -> BacktestResult:
    """Count (outcome, is_fraud label or None, snapshot was incomplete) rows into a ``BacktestResult``."""
    total = hits = labelled = tp = fp = fn = tn = failures = incomplete = 0
    for outcome, label, was_incomplete in rows:
        total += 1
        incomplete += was_incomplete
        failures += outcome is Outcome.FAILED
        matched = outcome is Outcome.HIT
        hits += matched
        if label is None:
            continue
        labelled += 1
        if matched and label:
            tp += 1
        elif matched:
            fp += 1
        elif label:
            fn += 1
        else:
            tn += 1
    return BacktestResult(total, hits, labelled, tp, fp, fn, tn, failures, incomplete)


def backtest(rule: CompiledRule, rows: Iterable[tuple[Mapping[str, Any], bool | None]]) -> BacktestResult:
    """Evaluate ``rule`` on (snapshot, is_fraud label or None) rows, in this process.

    For trusted conditions only: an analyst's condition is back-tested in a child process
    with a CPU limit (``fraud.sandbox.backtest_condition``), which counts with the same tally.
    """

    def outcomes() -> Iterable[tuple[Outcome, bool | None, bool]]:
        for snapshot, label in rows:
            context, was_incomplete = complete(snapshot)
            yield Outcome.of(rule.condition, context), label, was_incomplete

    return backtest_tally(outcomes())
