"""The fraud rules engine: conditions in a safe expression language, checked, compiled, evaluated.

No Django and no database here: ``fraud.services`` loads the rule versions and the
transaction's features, this module only decides.

Conditions are written in the `rule-engine <https://zerosteiner.github.io/rule-engine/>`_
language (``amount > 10000 and type == "virement"``). It is parsed into an AST and evaluated
against a dict of known fields; nothing is ever handed to ``eval``. Every condition is
checked against ``FIELDS`` when it is saved: a syntax error, an unknown field (with a
"did you mean" suggestion), a type error (``amount > "high"``) or a condition that is not a
yes/no question is refused with a readable message, so a stored rule always compiles.

The language is restricted to what is safe on the hot path and reproducible in back-tests:
no ``$now``/``$today``/``$random`` (a rule must give the same answer when replayed), no
``$range`` (memory), and no regular expressions (``=~``, ``!~``: one pathological pattern
would stall every decision). ``in [...]``, ``.starts_with``, ``.ends_with``, ``.length``
and arithmetic remain.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import dateutil.tz
import rule_engine
from rule_engine import DataType
from rule_engine.ast import ExpressionBase
from rule_engine.ast.binary.comparison import FuzzyComparisonExpression
from rule_engine.ast.expression.resolution import SymbolExpression
from rule_engine.builtins import Builtins

from fraud.velocity import WINDOWS

MAX_CONDITION_LENGTH = 2000
ACTIONS = ("flag", "review", "block")


@dataclass(frozen=True)
class FieldInfo:
    """One field a condition may use."""

    type: Any  # a rule_engine DataType
    description: str
    default: Any  # the value a back-test uses when an old snapshot lacks the field

    @property
    def type_name(self) -> str:
        return {"FLOAT": "number", "BOOLEAN": "yes/no", "STRING": "text"}.get(self.type.name, self.type.name.lower())


def _number(description: str) -> FieldInfo:
    return FieldInfo(DataType.FLOAT, description, 0)


def _flag(description: str) -> FieldInfo:
    return FieldInfo(DataType.BOOLEAN, description, False)


def _text(description: str) -> FieldInfo:
    return FieldInfo(DataType.STRING, description, "")


FIELDS: dict[str, FieldInfo] = {
    "amount": _number("Amount of the transaction (montant)."),
    "type": _text(
        'Transaction type: "virement", "carte", "paiement", "prelevement", "retrait", "cheque" or "depot" '
        '(always this spelling: "Dépôt" is sent, "depot" is compared).'
    ),
    "currency": _text('ISO 4217 currency, e.g. "EUR".'),
    "country": _text('ISO 3166-1 alpha-2 country where it happens, e.g. "FR"; "" when not sent.'),
    "channel": _text('"web", "mobile", "branch", "atm", "pos", "api"; "" when not sent.'),
    "merchant_category": _text('ISO 18245 merchant category code, e.g. "7995"; "" when not sent.'),
    "mcc_group": _text(
        'Group of the merchant category: "gambling", "quasi_cash", "money_transfer", "digital_goods", '
        '"jewelry", "electronics", "travel", "grocery", "fuel", "restaurants", "cash", "other"; "" when none.'
    ),
    "mcc_risky": _flag("The merchant category is in a risky group (gambling, quasi-cash, money transfer...)."),
    "hour": _number("Hour of the transaction in the bank's time zone (0-23)."),
    "weekday": _number("Day of the week in the bank's time zone (0 = Monday ... 6 = Sunday)."),
    "is_night": _flag("Between 00:00 and 05:59 in the bank's time zone."),
    "is_foreign": _flag("The country is sent and is not the bank's home country."),
    "is_foreign_currency": _flag("The currency is not the bank's home currency."),
    "has_beneficiary": _flag("A beneficiary was sent."),
    "new_beneficiary": _flag("A beneficiary was sent that this client has not paid in the last 90 days."),
    "new_device": _flag("A device was sent that this client has not used in 90 days (clients with history only)."),
    "new_country": _flag("A country this client has not transacted in for 90 days (clients with history only)."),
    "history_count": _number("The client's previous transactions in the last 90 days."),
    "usual_amount": _number("Mean amount of the client's previous transactions in 30 days; 0 with fewer than 3."),
    "amount_vs_usual": _number("amount / usual_amount; 0 when there is no usual amount yet."),
    "has_usual_amount": _flag("The client has at least 3 previous transactions in 30 days."),
    "historique_impaye": _number("The client's past payment incidents, as the caller sent them; 0 when not sent."),
    **{f"count_{w}": _number(f"The client's transactions in the last {w}, this one included.") for w in WINDOWS},
    **{f"sum_{w}": _number(f"Sum of the client's amounts in the last {w}, this one included.") for w in WINDOWS},
}

_TYPES = {name: info.type for name, info in FIELDS.items()}
# Deterministic, bounded helpers only (see the module docstring).
_SAFE_BUILTINS = ("abs", "min", "max")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class RuleError(ValueError):
    """A condition (or reason template) that cannot be used, with a message for its author."""


def _context() -> rule_engine.Context:
    context = rule_engine.Context(type_resolver=_TYPES, default_timezone="utc", mapping_attribute_lookup=False)
    defaults = Builtins.from_defaults(timezone=dateutil.tz.tzutc())
    context.builtins = Builtins(
        {name: defaults[name] for name in _SAFE_BUILTINS},
        timezone=dateutil.tz.tzutc(),
        value_types={name: defaults.resolve_type(name) for name in _SAFE_BUILTINS},
    )
    # Decimal arithmetic with a fixed precision, whatever the calling thread's context.
    context.decimal_context = decimal.Context(prec=28, traps=[decimal.InvalidOperation, decimal.DivisionByZero])
    return context


def _attributes(node: Any) -> Iterable[Any]:
    # AST nodes keep their children in __slots__ (and sometimes a __dict__).
    for klass in type(node).__mro__:
        for name in getattr(klass, "__slots__", ()):
            if name != "context" and hasattr(node, name):
                yield getattr(node, name)
    yield from getattr(node, "__dict__", {}).values()


def _nodes(node: Any) -> Iterable[Any]:
    yield node
    for value in _attributes(node):
        children = value if isinstance(value, list | tuple) else (value,)
        for child in children:
            if isinstance(child, ExpressionBase):
                yield from _nodes(child)


def compile_condition(text: str) -> rule_engine.Rule:
    """Parse and type-check ``text`` against ``FIELDS``; raises ``RuleError`` saying what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise RuleError("Write a condition, e.g. amount > 10000.")
    if len(text) > MAX_CONDITION_LENGTH:
        raise RuleError(f"A condition has at most {MAX_CONDITION_LENGTH} characters.")
    try:
        rule = rule_engine.Rule(text, context=_context())
    except rule_engine.SymbolResolutionError as exc:
        scope = getattr(exc, "symbol_scope", None)
        name = f"${exc.symbol_name}" if scope else exc.symbol_name
        hint = f" Did you mean '{exc.suggestion}'?" if getattr(exc, "suggestion", None) else ""
        where = "function" if scope else "field"
        raise RuleError(f"Unknown {where} '{name}'.{hint}") from exc
    except rule_engine.RuleSyntaxError as exc:
        raise RuleError(f"Syntax error: {exc.message}.") from exc
    except rule_engine.errors.SyntaxError as exc:
        raise RuleError(f"Invalid literal: {exc.message}.") from exc
    except rule_engine.EvaluationError as exc:
        raise RuleError(f"Type error: {exc.message} (check the field types in the list of fields).") from exc
    except rule_engine.EngineError as exc:
        raise RuleError(f"Invalid condition: {exc.message}.") from exc
    except (RecursionError, decimal.DecimalException, ValueError, TypeError) as exc:
        raise RuleError(f"Invalid condition: {exc}.") from exc
    expression = rule.statement.expression
    for node in _nodes(expression):
        if isinstance(node, FuzzyComparisonExpression):
            raise RuleError(
                "Regular expressions (=~, !~) are not allowed; use ==, in [...], .starts_with or .ends_with."
            )
        if isinstance(node, SymbolExpression) and node.scope is not None and node.name not in _SAFE_BUILTINS:
            allowed = ", ".join(f"${name}" for name in _SAFE_BUILTINS)
            raise RuleError(f"Unknown function '${node.name}'. Only {allowed} are available.")
    result = getattr(expression, "result_type", DataType.UNDEFINED)
    if result is not DataType.BOOLEAN and result is not DataType.UNDEFINED:
        raise RuleError(f"A condition must be true or false; this one gives a {result.name.lower()}.")
    return rule


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


@dataclass(frozen=True)
class RuleFailure:
    """A rule that could not be evaluated on this transaction (e.g. a division by zero)."""

    name: str
    version: int
    error: str


@dataclass(frozen=True)
class CompiledRule:
    """A rule version compiled once, evaluated many times (thread-safe: rule-engine keeps state per thread)."""

    spec: RuleSpec
    rule: rule_engine.Rule = field(repr=False)

    @classmethod
    def build(cls, spec: RuleSpec) -> CompiledRule:
        if spec.action not in ACTIONS:
            raise RuleError(f"The action must be one of {', '.join(ACTIONS)}.")
        if not 0 <= spec.weight <= 1:
            raise RuleError("The weight is between 0 and 1.")
        check_reason(spec.reason)
        return cls(spec, compile_condition(spec.condition))

    def matches(self, context: Mapping[str, Any]) -> bool:
        """Raises ``rule_engine.EngineError`` (or an arithmetic error) when it cannot be evaluated."""
        return bool(self.rule.matches(context))

    def hit(self, context: Mapping[str, Any]) -> RuleHit:
        spec = self.spec
        reason = render_reason(spec.reason, context) if spec.reason else f"Rule {spec.name} matched: {spec.condition}"
        return RuleHit(spec.name, spec.version, spec.action, spec.weight, reason[:300])


@dataclass(frozen=True)
class RuleOutcome:
    hits: tuple[RuleHit, ...]
    failures: tuple[RuleFailure, ...]


class RuleSet:
    """The active rules, in evaluation order (``order``, then name). Immutable once built."""

    def __init__(self, rules: Iterable[CompiledRule]) -> None:
        self.rules: tuple[CompiledRule, ...] = tuple(sorted(rules, key=lambda r: (r.spec.order, r.spec.name)))
        self.refs: list[dict[str, Any]] = [r.spec.ref for r in self.rules]

    def __len__(self) -> int:
        return len(self.rules)

    def evaluate(self, context: Mapping[str, Any]) -> RuleOutcome:
        """Every rule on one transaction. A rule that fails is reported, never fatal to the decision."""
        hits: list[RuleHit] = []
        failures: list[RuleFailure] = []
        for compiled in self.rules:
            try:
                matched = compiled.matches(context)
            except (rule_engine.EngineError, ArithmeticError, TypeError, ValueError) as exc:
                failures.append(RuleFailure(compiled.spec.name, compiled.spec.version, type(exc).__name__))
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


def backtest(rule: CompiledRule, rows: Iterable[tuple[Mapping[str, Any], bool | None]]) -> BacktestResult:
    """Evaluate ``rule`` on (snapshot, is_fraud label or None) rows."""
    total = hits = labelled = tp = fp = fn = tn = failures = incomplete = 0
    for snapshot, label in rows:
        total += 1
        context, was_incomplete = complete(snapshot)
        incomplete += was_incomplete
        try:
            matched = rule.matches(context)
        except (rule_engine.EngineError, ArithmeticError, TypeError, ValueError):
            failures += 1
            matched = False
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
