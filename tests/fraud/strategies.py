"""Hypothesis strategies for fraud rule conditions and the contexts they are evaluated on.

``conditions()`` writes well-typed conditions of the documented language (every operator,
attribute and function, nested); ``hostile_conditions()`` mixes in what an attacker would
try (regular expressions, shifts, comprehensions, mappings, huge literals, deep nesting...).
"""

from __future__ import annotations

import string
from typing import Any

from hypothesis import strategies as st

from fraud.rules import FIELDS

NUMBER_FIELDS = sorted(name for name, info in FIELDS.items() if info.type_name == "number")
FLAG_FIELDS = sorted(name for name, info in FIELDS.items() if info.type_name == "yes/no")
TEXT_FIELDS = sorted(name for name, info in FIELDS.items() if info.type_name == "text")
TEXTS = ("", "FR", "NG", "EUR", "virement", "carte", "retrait", "web", "7995", "gambling", "N", "né", 'a"b', "x\\y")


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


number_literals = st.one_of(
    st.integers(min_value=0, max_value=10**6).map(str),
    st.sampled_from(["0", "1", "5", "0.5", "2.25", "1e3", "1e15", "0.001", "0x1f", "3.14159"]),
)
text_literals = st.one_of(st.sampled_from(TEXTS), st.text(string.ascii_letters + "é ", max_size=6)).map(_quoted)


def _numbers(depth: int) -> st.SearchStrategy[str]:
    leaves = st.one_of(st.sampled_from(NUMBER_FIELDS), number_literals)
    if depth <= 0:
        return leaves
    inner = _numbers(depth - 1)
    return st.one_of(
        leaves,
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "%", "//", "**"]), inner)
        .map(" ".join)
        .map(lambda e: f"({e})"),
        inner.map(lambda e: f"-({e})"),
        inner.map(lambda e: f"$abs({e})"),
        st.tuples(st.sampled_from(["min", "max"]), st.lists(inner, min_size=1, max_size=3)).map(
            lambda t: f"${t[0]}([{', '.join(t[1])}])"
        ),
        _texts(depth - 1).map(lambda e: f"({e}).length"),
        st.tuples(_flags(depth - 1), inner, inner).map(lambda t: f"({t[0]} ? {t[1]} : {t[2]})"),
    )


def _texts(depth: int) -> st.SearchStrategy[str]:
    leaves = st.one_of(st.sampled_from(TEXT_FIELDS), text_literals)
    if depth <= 0:
        return leaves
    inner = _texts(depth - 1)
    return st.one_of(
        leaves,
        st.tuples(inner, inner).map(lambda t: f"({t[0]} + {t[1]})"),
        st.tuples(inner, st.sampled_from(["as_lower", "as_upper"])).map(lambda t: f"({t[0]}).{t[1]}"),
    )


def _flags(depth: int) -> st.SearchStrategy[str]:
    leaves = st.one_of(st.sampled_from(FLAG_FIELDS), st.sampled_from(["true", "false"]))
    if depth <= 0:
        return leaves
    numbers, texts, inner = _numbers(depth - 1), _texts(depth - 1), _flags(depth - 1)
    comparisons = ["==", "!=", "<", "<=", ">", ">="]
    return st.one_of(
        leaves,
        st.tuples(numbers, st.sampled_from(comparisons), numbers).map(" ".join),
        st.tuples(texts, st.sampled_from(comparisons), texts).map(" ".join),
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(" ".join).map(lambda e: f"({e})"),
        inner.map(lambda e: f"not ({e})"),
        st.tuples(texts, st.booleans(), st.lists(texts, min_size=1, max_size=4)).map(
            lambda t: f"{t[0]} {'not in' if t[1] else 'in'} [{', '.join(t[2])}]"
        ),
        st.tuples(numbers, st.lists(numbers, min_size=1, max_size=4)).map(lambda t: f"{t[0]} in [{', '.join(t[1])}]"),
        st.tuples(texts, texts).map(lambda t: f"{t[0]} in {t[1]}"),
        st.tuples(texts, st.sampled_from(["starts_with", "ends_with"]), texts).map(
            lambda t: f"({t[0]}).{t[1]}({t[2]})"
        ),
        st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} ? {t[1]} : {t[2]})"),
        st.tuples(inner, inner).map(lambda t: f"{t[0]} == {t[1]}"),
        st.tuples(numbers, inner).map(lambda t: f"({t[0]} and {t[1]})"),  # truthiness of a number
    )


def conditions(depth: int = 3) -> st.SearchStrategy[str]:
    """Well-typed conditions of the documented language (most of them compile)."""
    return _flags(depth)


HOSTILE = (
    '{"k": (country + "' + "a" * 40 + '!") =~ "(a+)+$"}["k"]',
    '("' + "a" * 40 + '!" =~ "(a+)+$")',
    "(amount << 30000000) > 0",
    "(1 << 30000000) > 0",
    "[[x * y for x in $range(3000)] for y in $range(3000)].length > 0",
    "[x for x in [1, 2, 3] if x > 1].length > 0",
    '{"a": 1}["a"] > 0',
    "amount ** 1e15 ** 1e15 > 0",
    "10 ** 999999 * 10 > amount",
    "$split(country).length > 0",
    "not " * 200 + "is_night",
    "(" * 300 + "amount" + ")" * 300 + " > 1",
    "[" + ", ".join(["1"] * 400) + "].length > 0",
    '"' + "x" * 1500 + '" == country',
    "9" * 400 + " > amount",
    "hour>1 or " * 100 + "true",
)


def hostile_conditions() -> st.SearchStrategy[str]:
    """What an analyst's draft might hold: the language, the attacks, and the two spliced together."""
    return st.one_of(
        conditions(),
        st.sampled_from(HOSTILE),
        st.tuples(conditions(2), st.sampled_from(["and", "or"]), st.sampled_from(HOSTILE)).map(" ".join),
    )


def _number_values() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(min_value=0, max_value=10**6),
        st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False),
        st.sampled_from([0, 0.0, 1, 5.0, 0.1, 9999.99, 10000.0, 1e7]),
    )


@st.composite
def contexts(draw: st.DrawFn) -> dict[str, Any]:
    """A rule context with every field, of the right type, with edge values."""
    context: dict[str, Any] = {}
    for name in NUMBER_FIELDS:
        context[name] = draw(_number_values())
    for name in FLAG_FIELDS:
        context[name] = draw(st.booleans())
    for name in TEXT_FIELDS:
        context[name] = draw(st.one_of(st.sampled_from(TEXTS), st.text(max_size=8)))
    return context
