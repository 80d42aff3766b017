"""The condition language of fraud rules: parsed, allow-listed, type-checked, compiled to closures.

Conditions are written in the `rule-engine <https://zerosteiner.github.io/rule-engine/>`_
syntax (``amount > 10000 and type == "virement"``) by analysts, so they are untrusted input
that every web process will evaluate on the hot path. ``compile_condition`` turns a text into
a ``Condition`` in four steps, and nothing of the condition runs before the second one:

1. **Parse without evaluating.** rule-engine's parser works in two phases: the grammar
   builds a tree of deferred nodes, then building the nodes type-checks them and *folds
   constant sub-expressions* by evaluating them. A check made after ``rule_engine.Rule(...)``
   comes too late (the folding has already run a regular expression, a shift or a
   comprehension) and never sees what was folded away. So only the first phase runs here.
2. **Allow-list** the deferred tree: every node type, operator, attribute and function is
   checked against what the language allows, and literals, lists, the number of parts and
   the nesting depth are capped (``Limits``). Anything else is refused with a message for
   the analyst. What is left is bounded: no loops, no regular expressions, no bit
   shifts, no repetition, numbers are 28-digit decimals (an overflow gives infinity, it
   never allocates), texts only grow by concatenating a few short texts.
3. **Type-check** by building rule-engine's own tree from the checked one (its errors,
   e.g. ``amount > "high"``, are the analyst's). Every part must have one known type.
4. **Compile** that tree into plain Python closures over the transaction's fields, with
   rule-engine's evaluation semantics (decimal arithmetic, typed comparisons). No
   ``eval``; no rule-engine evaluator on the hot path, which is several times slower.

``tests/fraud/test_conditions.py`` proves the closures give rule-engine's own answer on the
documented language, the default rules and hypothesis-generated conditions and contexts.
The admin and the service also compile every new condition in a child process with a CPU
limit (``fraud.sandbox``), so even a hole in this list could not stall a web worker.
"""

from __future__ import annotations

import decimal
import operator
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

import dateutil.tz
import rule_engine
from rule_engine import DataType
from rule_engine import ast as re_ast
from rule_engine.builtins import Builtins
from rule_engine.parser import Parser
from rule_engine.parser.base import ParserBase
from rule_engine.parser.utilities import parse_float

from fraud.velocity import WINDOWS


class RuleError(ValueError):
    """A condition (or reason template) that cannot be used, with a message for its author."""


class ConditionEvaluationError(ValueError):
    """A condition that cannot be evaluated on one transaction (a value of an unexpected type)."""


# --- The fields a condition sees --------------------------------------------------------------


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


# --- What the language allows -----------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """The caps on one condition (each keeps the work of one evaluation small and predictable)."""

    length: int = 2000  # characters of the condition
    nodes: int = 500  # parts: fields, literals, operators, calls
    depth: int = 64  # nesting of parts (a chain of 64 "or" nests 64 deep)
    list_items: int = 200  # members of one [...] list
    text: int = 200  # characters of one text literal
    number: decimal.Decimal = decimal.Decimal(10) ** 15  # largest absolute value of a number literal
    digits: int = 28  # significant digits of a number literal (the arithmetic's precision)


LIMITS = Limits()
MAX_CONDITION_LENGTH = LIMITS.length
FUNCTIONS = ("abs", "min", "max")  # deterministic and bounded: $abs(x), $min([...]), $max([...])
ATTRIBUTES = ("length", "as_lower", "as_upper")  # text (or list) attributes: x.length
METHODS = ("starts_with", "ends_with")  # text (or list) methods: x.starts_with("N")

# Decimal arithmetic with a fixed precision, whatever the calling thread's context. Evaluation
# lets an overflow become infinity (a comparison still answers); folding constants while
# compiling traps it, so "1e999999 * 10" is refused when saved rather than silently infinite.
DECIMAL = decimal.Context(prec=28, traps=[decimal.InvalidOperation, decimal.DivisionByZero])
_FOLDING = decimal.Context(prec=28, traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow])

_REFUSED: dict[type, str] = {
    re_ast.FuzzyComparisonExpression: (
        "Regular expressions (=~, =~~, !~, !~~) are not allowed: one pathological pattern can stall every "
        "decision. Use ==, in [...], .starts_with or .ends_with."
    ),
    re_ast.BitwiseShiftExpression: "Bit shifts (<<, >>) are not allowed.",
    re_ast.BitwiseExpression: "Bitwise operators (&, |, ^) are not allowed.",
    re_ast.ComprehensionExpression: "Comprehensions ([... for ... in ...]) are not allowed.",
    re_ast.MappingExpression: 'Mappings ({key: value}) are not allowed; use a list: type in ["virement", "retrait"].',
    re_ast.SetExpression: 'Sets ({...}) are not allowed; use a list: type in ["virement", "retrait"].',
    re_ast.GetItemExpression: "Indexing (x[...]) is not allowed; use .starts_with(...) or .ends_with(...).",
    re_ast.GetSliceExpression: "Slices (x[a:b]) are not allowed; use .starts_with(...) or .ends_with(...).",
    re_ast.CoalesceExpression: "The ?? operator is not allowed: no field is ever null.",
    re_ast.NullExpression: "null is not allowed: no field is ever null.",
    re_ast.DatetimeExpression: "Date literals are not allowed; use hour and weekday.",
    re_ast.TimedeltaExpression: "Duration literals are not allowed; use the count_ and sum_ windows.",
    re_ast.BytesExpression: "Bytes literals are not allowed.",
}
_OPERATORS: dict[type, tuple[str, ...]] = {
    re_ast.LogicExpression: ("AND", "OR"),
    re_ast.ComparisonExpression: ("EQ", "NE"),
    re_ast.ArithmeticComparisonExpression: ("GT", "GE", "LT", "LE"),
    re_ast.AddExpression: ("ADD",),
    re_ast.SubtractExpression: ("SUB",),
    re_ast.ArithmeticExpression: ("MUL", "TDIV", "FDIV", "MOD", "POW"),
    re_ast.UnaryExpression: ("NOT", "UMINUS"),
}
_ALLOWED = (
    re_ast.Statement,
    re_ast.SymbolExpression,
    re_ast.FloatExpression,
    re_ast.StringExpression,
    re_ast.BooleanExpression,
    re_ast.ArrayExpression,
    re_ast.ContainsExpression,
    re_ast.TernaryExpression,
    re_ast.GetAttributeExpression,
    re_ast.FunctionCallExpression,
    *_OPERATORS,
)


# --- 1. Parsing without evaluating --------------------------------------------------------------


def _engine_context() -> rule_engine.Context:
    context = rule_engine.Context(
        type_resolver={name: info.type for name, info in FIELDS.items()},
        default_timezone="utc",
        mapping_attribute_lookup=False,
    )
    defaults = Builtins.from_defaults(timezone=dateutil.tz.tzutc())
    context.builtins = Builtins(
        {name: defaults[name] for name in FUNCTIONS},
        timezone=dateutil.tz.tzutc(),
        value_types={name: defaults.resolve_type(name) for name in FUNCTIONS},
    )
    context.decimal_context = DECIMAL
    return context


def engine_rule(text: str) -> rule_engine.Rule:
    """rule-engine's own ``Rule`` for a condition *already accepted* by ``compile_condition``.

    The reference the compiled closures are proven against (tests and ``bench/rules.py``);
    never called on an unchecked text, which rule-engine would fold while parsing.
    """
    return rule_engine.Rule(text, context=_engine_context())


# rule-engine's parser: the grammar (phase 1) is run alone under the lock ``ParserBase.parse``
# itself holds, so that nothing is built, reduced or evaluated. Pinned to rule-engine 5.1.0;
# the tests of this module fail if a new version changes these internals.
_PARSER: Parser = rule_engine.Rule.parser
_PARSER_LOCK = cast(Any, ParserBase)._ParserBase__mutex


def _parse(text: str, context: rule_engine.Context) -> Any:
    """The deferred tree of ``text`` (rule-engine's ``_DeferredAstNode``): parsed, nothing evaluated."""
    with _PARSER_LOCK:
        _PARSER.context = context
        try:
            return _PARSER._parser.parse(text, lexer=_PARSER._lexer)
        finally:
            _PARSER.context = None


# --- 2. The allow-list ----------------------------------------------------------------------------


def _children(node: Any) -> Iterator[Any]:
    """The deferred nodes below ``node``, wherever rule-engine keeps them (arguments, lists, pairs)."""
    stack = [*node.args[1:], *node.kwargs.values()]
    while stack:
        value = stack.pop()
        if hasattr(value, "cls") and hasattr(value, "build"):
            yield value
        elif isinstance(value, tuple | list) or type(value).__name__ == "deque":
            stack.extend(value)


def _number_literal(text: str) -> None:
    if text.lower() in ("inf", "nan"):
        raise RuleError("inf and nan are not allowed in a condition.")
    value = parse_float(text)
    significant = "".join(map(str, value.as_tuple().digits)).strip("0")
    if abs(value) > LIMITS.number:
        raise RuleError(f"A number in a condition is at most {LIMITS.number:,.0f} (here {text}).")
    if len(significant) > LIMITS.digits:
        raise RuleError(f"A number in a condition has at most {LIMITS.digits} significant digits (here {text}).")


def _check_node(node: Any, parent: Any) -> None:
    cls = node.cls
    if cls in _REFUSED:
        raise RuleError(_REFUSED[cls])
    if cls not in _ALLOWED:
        raise RuleError(f"{cls.__name__} is not allowed in a condition.")
    called = parent is not None and parent.cls is re_ast.FunctionCallExpression and parent.args[1] is node
    if cls in _OPERATORS and node.args[1] not in _OPERATORS[cls]:
        raise RuleError(f"The operator {node.args[1]} is not allowed in a condition.")
    if cls is re_ast.FloatExpression:
        _number_literal(node.args[1])
    elif cls is re_ast.StringExpression and len(node.args[1]) > LIMITS.text:
        raise RuleError(f"A text in a condition has at most {LIMITS.text} characters.")
    elif cls is re_ast.ArrayExpression and len(node.args[1]) > LIMITS.list_items:
        raise RuleError(f"A list in a condition has at most {LIMITS.list_items} items.")
    elif cls is re_ast.SymbolExpression and node.kwargs.get("scope") is not None:
        name = node.args[1]
        allowed = ", ".join(f"${n}" for n in FUNCTIONS)
        if name not in FUNCTIONS:
            raise RuleError(f"Unknown function '${name}'. Only {allowed} are available.")
        if not called:
            raise RuleError(f"${name} is a function: call it, e.g. ${name}([amount, 5]).")
    elif cls is re_ast.GetAttributeExpression:
        name = node.args[2]
        if node.kwargs.get("safe"):
            raise RuleError("The &. operator is not allowed: no field is ever null.")
        if name in METHODS and not called:
            raise RuleError(f'.{name} is a method: call it, e.g. country.{name}("N").')
        if name not in METHODS and name not in ATTRIBUTES:
            known = ", ".join(f".{n}" for n in ATTRIBUTES + METHODS)
            raise RuleError(f"Unknown attribute '.{name}'. Only {known} are available.")
    elif cls is re_ast.FunctionCallExpression:
        function = node.args[1]
        is_function = function.cls is re_ast.SymbolExpression and function.kwargs.get("scope") is not None
        is_method = function.cls is re_ast.GetAttributeExpression and function.args[2] in METHODS
        if function.cls is re_ast.GetAttributeExpression and function.args[2] in ATTRIBUTES:
            name = function.args[2]
            raise RuleError(f".{name} is not a method: write x.{name} without parentheses.")
        if not (is_function or is_method):
            raise RuleError("Only $abs, $min, $max, .starts_with(...) and .ends_with(...) can be called.")


def check_tree(tree: Any) -> None:
    """Refuse, before anything is built or evaluated, every construct outside the language and the limits."""
    stack: list[tuple[Any, Any, int]] = [(tree, None, 0)]
    count = 0
    while stack:
        node, parent, depth = stack.pop()
        count += 1
        if count > LIMITS.nodes:
            raise RuleError(f"A condition has at most {LIMITS.nodes} parts; split it into several rules.")
        if depth > LIMITS.depth:
            raise RuleError(f"A condition nests at most {LIMITS.depth} levels deep.")
        _check_node(node, parent)
        stack.extend((child, node, depth + 1) for child in _children(node))


# --- 4. Compiling to closures -----------------------------------------------------------------------

Evaluator = Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True)
class _Constant:
    value: Any


_Compiled = Evaluator | _Constant


def _function(part: _Compiled) -> Evaluator:
    if isinstance(part, _Constant):
        value = part.value
        return lambda values: value
    return part


def _is_number(value: Any) -> bool:
    return isinstance(value, decimal.Decimal | int | float) and not isinstance(value, bool)


def _number_operand(value: Any) -> Any:
    if not _is_number(value):
        raise ConditionEvaluationError("data type mismatch (not a numeric value)")
    return value


def _ordered(op: Callable[[Any, Any], Any], left: Any, right: Any) -> Any:
    # rule-engine's ArithmeticComparisonExpression: arrays compare member by member, then by length.
    if left is None and right is None:
        return op in (operator.ge, operator.le)
    if isinstance(left, tuple) and isinstance(right, tuple):
        for a, b in zip(left, right, strict=False):
            if _ordered(operator.ne, a, b):
                return _ordered(op, a, b)
        if len(left) != len(right):
            return _ordered(op, len(left), len(right))
        return op in (operator.ge, operator.le)
    if type(left) is not type(right):
        raise ConditionEvaluationError("data type mismatch")
    return op(left, right)


def _add(left: Any, right: Any) -> Any:
    if isinstance(left, str) or isinstance(right, str):
        if not (isinstance(left, str) and isinstance(right, str)):
            raise ConditionEvaluationError("data type mismatch (not a string value)")
    else:
        _number_operand(left)
        _number_operand(right)
    return left + right


def _arithmetic(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def apply(left: Any, right: Any) -> Any:
        return op(_number_operand(left), _number_operand(right))

    return apply


_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "ADD": _add,
    "SUB": _arithmetic(operator.sub),
    "MUL": _arithmetic(operator.mul),
    "TDIV": _arithmetic(operator.truediv),
    "FDIV": _arithmetic(operator.floordiv),
    "MOD": _arithmetic(operator.mod),
    "POW": _arithmetic(operator.pow),
}
_ORDER = {"GT": operator.gt, "GE": operator.ge, "LT": operator.lt, "LE": operator.le}


def _equal(left: Any, right: Any) -> bool:
    return type(left) is type(right) and bool(left == right)


def _contains(container: Any, member: Any) -> bool:
    if isinstance(container, str) and not isinstance(member, str):
        raise ConditionEvaluationError("data type mismatch")
    return member in container


def _attribute(name: str) -> Callable[[Any], Any]:
    def length(value: Any) -> Any:
        if not isinstance(value, str | tuple):
            raise ConditionEvaluationError(f"data type mismatch (no .{name})")
        return decimal.Decimal(len(value))

    def text(value: Any) -> Any:
        if not isinstance(value, str):
            raise ConditionEvaluationError(f"data type mismatch (no .{name})")
        return value.lower() if name == "as_lower" else value.upper()

    return length if name == "length" else text


def _method(name: str) -> Callable[[Any, Any], bool]:
    def starts_with(value: Any, prefix: Any) -> bool:
        if type(value) is not type(prefix) or not isinstance(value, str | tuple):
            raise ConditionEvaluationError(f"data type mismatch (.{name})")
        return bool(value[: len(prefix)] == prefix)

    def ends_with(value: Any, suffix: Any) -> bool:
        if type(value) is not type(suffix) or not isinstance(value, str | tuple):
            raise ConditionEvaluationError(f"data type mismatch (.{name})")
        return bool(value[len(value) - len(suffix) :] == suffix)

    return starts_with if name == "starts_with" else ends_with


_BUILTINS: dict[str, Callable[[Any], Any]] = {"abs": abs, "min": min, "max": max}


def _known(data_type: Any) -> bool:
    if data_type == DataType.UNDEFINED:
        return False
    if DataType.is_type(data_type, DataType.ARRAY):
        return _known(data_type.value_type)
    return True


def _is_number_field(node: Any) -> bool:
    return isinstance(node, re_ast.SymbolExpression) and node.scope is None and node.result_type == DataType.FLOAT


class _Compiler:
    """Turns a built (type-checked, constant-folded) rule-engine tree into closures."""

    def __init__(self) -> None:
        self.fields: set[str] = set()

    def compile(self, node: Any) -> _Compiled:
        if not _known(getattr(node, "result_type", DataType.UNDEFINED)):
            raise RuleError(
                "Every part of a condition must have one type: here a list is empty or mixes types, "
                "or the two branches of a ? : give different types."
            )
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:  # fail closed: the allow-list and this compiler must agree
            raise RuleError(f"{type(node).__name__} is not allowed in a condition.")
        return cast(_Compiled, method(node))

    # Literals (constant sub-expressions were folded by rule-engine when the tree was built).
    def _FloatExpression(self, node: Any) -> _Compiled:
        return _Constant(node.value)

    _StringExpression = _FloatExpression
    _BooleanExpression = _FloatExpression

    def _ArrayExpression(self, node: Any) -> _Compiled:
        members = [self.compile(member) for member in node.value]
        if all(isinstance(m, _Constant) for m in members):
            return _Constant(tuple(cast(_Constant, m).value for m in members))
        functions = [_function(m) for m in members]
        return lambda values: tuple(f(values) for f in functions)

    def _SymbolExpression(self, node: Any) -> _Compiled:
        if node.scope is not None:
            return _Constant(_BUILTINS[node.name])
        if node.name not in FIELDS:
            raise RuleError(f"Unknown field '{node.name}'.")
        self.fields.add(node.name)
        return operator.itemgetter(node.name)

    def _LogicExpression(self, node: Any) -> _Compiled:
        left, right = _function(self.compile(node.left)), _function(self.compile(node.right))
        if node.type == "and":
            return lambda values: bool(left(values) and right(values))
        return lambda values: bool(left(values) or right(values))

    def _UnaryExpression(self, node: Any) -> _Compiled:
        right = _function(self.compile(node.right))
        if node.type == "not":
            return lambda values: not right(values)
        return lambda values: -_number_operand(right(values))

    def _ComparisonExpression(self, node: Any) -> _Compiled:
        left, right = self.compile(node.left), self.compile(node.right)
        equal = node.type == "eq"
        if isinstance(right, _Constant) and not isinstance(left, _Constant):
            # The common shape, field == "literal": one type test and one comparison.
            constant, kind, get = right.value, type(right.value), left
            if equal:
                return lambda values: type(value := get(values)) is kind and bool(value == constant)
            return lambda values: type(value := get(values)) is not kind or bool(value != constant)
        lf, rf = _function(left), _function(right)
        if equal:
            return lambda values: _equal(lf(values), rf(values))
        return lambda values: not _equal(lf(values), rf(values))

    def _ArithmeticComparisonExpression(self, node: Any) -> _Compiled:
        op = _ORDER[node.type.upper()]
        left, right = self.compile(node.left), self.compile(node.right)
        # field >= 10000 (or 10000 <= field): a number field always holds a Decimal (``prepare``).
        if _is_number_field(node.left) and isinstance(right, _Constant) and type(right.value) is decimal.Decimal:
            constant, name = right.value, node.left.name
            return lambda values: op(values[name], constant)
        if _is_number_field(node.right) and isinstance(left, _Constant) and type(left.value) is decimal.Decimal:
            constant, name = left.value, node.right.name
            return lambda values: op(constant, values[name])
        lf, rf = _function(left), _function(right)
        return lambda values: _ordered(op, lf(values), rf(values))

    def _ContainsExpression(self, node: Any) -> _Compiled:
        container, member = self.compile(node.container), _function(self.compile(node.member))
        if isinstance(container, _Constant) and isinstance(container.value, tuple):
            # x in ["a", "b"]: tuple membership is ==, and a frozenset's is hash then == (the same
            # answer for texts, decimals and flags, whose equal values hash equal).
            members = frozenset(container.value)
            return lambda values: member(values) in members
        cf = _function(container)
        return lambda values: _contains(cf(values), member(values))

    def _arithmetic(self, node: Any) -> _Compiled:
        op = _ARITHMETIC[node.type.upper()]
        left, right = _function(self.compile(node.left)), _function(self.compile(node.right))
        return lambda values: op(left(values), right(values))

    _AddExpression = _arithmetic
    _SubtractExpression = _arithmetic
    _ArithmeticExpression = _arithmetic

    def _TernaryExpression(self, node: Any) -> _Compiled:
        condition = _function(self.compile(node.condition))
        true, false = _function(self.compile(node.case_true)), _function(self.compile(node.case_false))
        return lambda values: true(values) if condition(values) else false(values)

    def _GetAttributeExpression(self, node: Any) -> _Compiled:
        if node.name not in ATTRIBUTES:
            raise RuleError(f"Unknown attribute '.{node.name}'.")
        get, target = _attribute(node.name), _function(self.compile(node.object))
        return lambda values: get(target(values))

    def _FunctionCallExpression(self, node: Any) -> _Compiled:
        arguments = [_function(self.compile(argument)) for argument in node.arguments]
        function = node.function
        if isinstance(function, re_ast.GetAttributeExpression) and function.name in METHODS:
            if len(arguments) != 1:
                raise RuleError(f".{function.name} takes one argument.")
            method, target, argument = _method(function.name), _function(self.compile(function.object)), arguments[0]
            return lambda values: method(target(values), argument(values))
        if isinstance(function, re_ast.SymbolExpression) and function.scope is not None:
            builtin = _BUILTINS[function.name]
            if len(arguments) != 1:
                raise RuleError(f"${function.name} takes one argument.")
            argument = arguments[0]
            return lambda values: builtin(argument(values))
        if isinstance(function, re_ast.FunctionExpression):  # a method of a literal, folded by rule-engine
            raise RuleError('.starts_with(...) and .ends_with(...) apply to a field, e.g. country.starts_with("N").')
        raise RuleError("Only $abs, $min, $max, .starts_with(...) and .ends_with(...) can be called.")


# --- The public face ---------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Condition:
    """A compiled condition: ``matches(context)`` on a rule context, ``test(values)`` on prepared values."""

    text: str
    fields: tuple[str, ...]  # the fields it reads, sorted
    evaluate: Evaluator

    def test(self, values: Mapping[str, Any]) -> bool:
        """On values from ``prepare`` (``fields`` included), inside ``decimal.localcontext(DECIMAL)``."""
        return bool(self.evaluate(values))

    def matches(self, context: Mapping[str, Any]) -> bool:
        """Raises ``ArithmeticError``, ``LookupError`` or ``ValueError`` when it cannot be evaluated."""
        values = prepare(context, self.fields)
        with decimal.localcontext(DECIMAL):
            return self.test(values)


# The exceptions an evaluation may raise on one transaction (a division by zero, a missing field).
EVALUATION_ERRORS: tuple[type[Exception], ...] = (ArithmeticError, LookupError, TypeError, ValueError)


_KINDS: dict[str, type] = {
    name: {"FLOAT": decimal.Decimal, "BOOLEAN": bool}.get(info.type.name, str) for name, info in FIELDS.items()
}


def prepare(context: Mapping[str, Any], fields: tuple[str, ...] | frozenset[str]) -> dict[str, Any]:
    """The values of ``fields`` as the conditions see them: numbers as decimals (like rule-engine).

    A value missing or of the wrong type is left out, so a condition reading it fails
    (``KeyError``) instead of comparing nonsense.
    """
    values: dict[str, Any] = {}
    for name in fields:
        value = context.get(name)
        kind, expected = type(value), _KINDS[name]
        if kind is not expected:
            if expected is not decimal.Decimal:
                continue
            if kind is float:
                value = decimal.Decimal(repr(value))  # rule-engine's conversion: 0.1 is 0.1, not its binary
            elif kind is int and isinstance(value, int):
                value = decimal.Decimal(value)
            else:
                continue
        values[name] = value
    return values


def _describe(exc: Exception) -> str:
    return str(getattr(exc, "message", None) or exc)


def compile_condition(text: str) -> Condition:
    """Parse, allow-list, type-check and compile ``text``; raises ``RuleError`` saying what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise RuleError("Write a condition, e.g. amount > 10000.")
    if len(text) > LIMITS.length:
        raise RuleError(f"A condition has at most {LIMITS.length} characters.")
    context = _engine_context()
    try:
        tree = _parse(text, context)
        check_tree(tree)
        with decimal.localcontext(_FOLDING):
            statement = tree.build()
    except RuleError:
        raise
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
    except rule_engine.errors.ArithmeticError as exc:
        raise RuleError(f"Arithmetic error in a constant part of the condition: {exc.message}.") from exc
    except rule_engine.EvaluationError as exc:
        raise RuleError(f"Type error: {exc.message} (check the field types in the list of fields).") from exc
    except rule_engine.EngineError as exc:
        raise RuleError(f"Invalid condition: {_describe(exc)}.") from exc
    except decimal.Overflow as exc:
        raise RuleError("Invalid condition: a constant part overflows (numbers stay below 1e999999).") from exc
    except (RecursionError, decimal.DecimalException, ValueError, TypeError) as exc:
        raise RuleError(f"Invalid condition: {_describe(exc)}.") from exc
    expression = statement.expression
    if _known(expression.result_type) and expression.result_type != DataType.BOOLEAN:
        raise RuleError(f"A condition must be true or false; this one gives a {expression.result_type.name.lower()}.")
    compiler = _Compiler()
    evaluate = _function(compiler.compile(expression))
    return Condition(text, tuple(sorted(compiler.fields)), evaluate)
