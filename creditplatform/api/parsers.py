"""A JSON parser that turns every malformed body into a 400 naming the problem.

DRF's ``JSONParser`` catches only ``ValueError``: a deeply nested body raises
``RecursionError`` and would become a 500. Depth is also capped well below the
interpreter's recursion limit, and so are the keys of one object and of the whole body, so
hostile payloads are refused cheaply (70,000 unknown keys used to cost a second of
validation and a 2 MB list of errors).

A UTF-8 byte order mark before the JSON (PowerShell, .NET and Notepad write one) is ignored,
as RFC 8259 §8.1 allows: the seed's payloads saved by those tools were refused.

A string with an unpaired surrogate escape (``"\\ud800"``) is refused too (RFC 7493, I-JSON):
Python parses it into a ``str`` that no UTF-8 can encode, so a field check quoting it, a
log line or the answer would fail on it. So is a key repeated in one object (I-JSON again):
``{"revenu": 1000, "revenu": 90000}`` kept the last value without a word, where a gateway or
a log reading the first would have seen another applicant.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from django.utils.http import parse_header_parameters
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import JSONParser

from creditplatform.hot_settings import hot_settings

BYTE_ORDER_MARK = "\ufeff"

# A \uD800-\uDFFF escape: a surrogate, which json.loads lets through alone (unpaired).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def _holds_lone_surrogate(value: Any) -> bool:
    """Whether a parsed body holds a lone surrogate in a key or a string (not text: no UTF-8
    can carry it, so nothing could store, log or answer it)."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _json_depth_exceeds(text: str, limit: int) -> bool:
    """True when brackets nest deeper than ``limit`` (strings are skipped)."""
    depth = 0
    in_string = False
    escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _not_utf_8(media_type: str | None) -> str:
    """Why a body that is not UTF-8 is refused; names the charset the request declared, if any
    (JSON exchanged between systems is UTF-8, RFC 8259 §8.1: it is never decoded otherwise)."""
    message = "Malformed JSON: the body is not valid UTF-8"
    charset = parse_header_parameters(media_type or "")[1].get("charset", "")
    if charset and charset.lower().replace("_", "-") not in {"utf-8", "utf8"}:
        return f"{message}. JSON is always UTF-8 (RFC 8259): this request declares charset={charset[:40]}."
    return f"{message}."


class SafeJSONParser(JSONParser):
    """JSON parser with a nesting limit and no 5xx on any input."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        raw = stream.read() if stream is not None else b""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ParseError(_not_utf_8(media_type)) from exc
        if text.startswith(BYTE_ORDER_MARK):  # Windows tools write one; RFC 8259 §8.1 lets parsers ignore it
            text = text[1:]
        if not text.strip():
            raise ParseError("Malformed JSON: the body is empty.")
        # Quick test first: only bodies with many brackets need the exact scan.
        limit = hot_settings.API_MAX_JSON_DEPTH
        if (text.count("[") + text.count("{")) > limit and _json_depth_exceeds(text, limit):
            raise ParseError(f"Malformed JSON: nested deeper than {limit} levels.")
        try:
            data = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_key_limits(text))
        except (ValueError, RecursionError) as exc:
            if isinstance(exc, ValueError):
                _refuse_long_integers(text)
            raise ParseError(f"Malformed JSON: {exc}") from exc
        if not _no_repeated_key(text, data):
            _refuse_repeated_keys(text)
        # Only a body with a surrogate escape can hold one (raw surrogates are not UTF-8).
        if "\\u" in text and _SURROGATE_ESCAPE.search(text) and _holds_lone_surrogate(data):
            raise ParseError(
                "Malformed JSON: a string holds an unpaired surrogate escape (\\ud800-\\udfff), which is not text."
            )
        return data


REPEATED_KEY = "Sent more than once in one object: send this field once."


def _no_repeated_key(text: str, data: Any) -> bool:
    """A cheap proof that no key of the body repeats: a count of its colons, and for a flat
    object whose strings hold colons, one pass over its items.

    Every member of an object, at any depth, puts one colon in the text, and every other colon
    stands in a string. So as many colons as the parsed object has keys proves that nothing
    is nested and nothing repeated (the usual body); and for a flat object, colons exactly its
    keys plus those inside its keys and string values prove no member was dropped. An escape
    (``\\u003a`` is a colon too), a nested object or list, or any mismatch proves nothing:
    the caller then reads the body again with a hook (``_refuse_repeated_keys``).
    """
    if type(data) is not dict:
        return False
    colons = text.count(":")
    if colons == len(data):  # the usual body: one colon a member, so nothing nested or repeated
        return True
    if "\\u" in text:
        return False
    expected = len(data)
    for key, value in data.items():
        kind = type(value)
        if kind is str:
            expected += value.count(":")
        elif kind is dict or kind is list:
            return False
        expected += key.count(":")
    return colons == expected


def _refuse_repeated_keys(text: str) -> None:
    """Read ``text`` again (it parsed once) and raise a 400 naming the first key repeated in an object."""

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(pairs)
        if len(out) != len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    raise ValidationError({key: [REPEATED_KEY]})
                seen.add(key)
        return out

    json.loads(text, parse_constant=_reject_constant, object_pairs_hook=hook)


class _LongInteger:
    """Where an integer too long to read stood (``_refuse_long_integers``' second reading)."""


def _key_limits(text: str) -> Any:
    """A fresh ``object_pairs_hook`` counting keys against the limits, or None when ``text`` cannot
    break them (every key is followed by a colon: bodies with few colons cannot)."""
    per_object, total = hot_settings.API_MAX_JSON_KEYS_PER_OBJECT, hot_settings.API_MAX_JSON_KEYS
    return _key_counter(per_object, total) if text.count(":") > min(per_object, total) else None


def _refuse_long_integers(text: str) -> None:
    """After a failed parse: the field holding an integer of more digits than Python reads, as a 400 naming it.

    ``int`` refuses a string of more than 4,300 digits (``sys.get_int_max_str_digits``) with
    a message about the interpreter's settings, which ``json.loads`` passes on. Only a body
    that failed is read again, the integers through a hook (no cost on the usual request):
    the first too long names its field (``items.0.age``), as the other field errors do.
    Returns when there is none; the ``ParseError`` of the first reading then stands.
    """
    limit = sys.get_int_max_str_digits()
    if limit == 0:
        return  # no limit: the failure was something else
    marker = _LongInteger()

    def read_int(digits: str) -> Any:
        return marker if len(digits.lstrip("-")) > limit else int(digits)

    try:
        data = json.loads(
            text, parse_constant=_reject_constant, object_pairs_hook=_key_limits(text), parse_int=read_int
        )
    except ValueError as exc:  # malformed as well, further on: that is the problem to name
        raise ParseError(f"Malformed JSON: {exc}") from exc
    field = _path_to(data, marker, "")
    if field is not None:
        raise ValidationError({field: [f"A number of at most {limit:,} digits is required."]})


def _path_to(value: Any, marker: _LongInteger, prefix: str) -> str | None:
    """The dotted path (list items by index) of ``marker`` in a parsed body, as error fields are named."""
    if value is marker:
        return prefix or "non_field_errors"
    items: Any = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _path_to(item, marker, f"{prefix}.{key}" if prefix else str(key))
        if found is not None:
            return found
    return None


def _key_counter(per_object: int, total: int) -> Any:
    """An ``object_pairs_hook`` that refuses objects (and bodies) with too many keys."""
    seen = 0

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal seen
        if len(pairs) > per_object:
            raise ParseError(f"Too many keys: an object has {len(pairs)}, at most {per_object} are accepted.")
        seen += len(pairs)
        if seen > total:
            raise ParseError(f"Too many keys: the body has more than {total}.")
        return dict(pairs)

    return hook


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; accepting them would let non-finite numbers in.
    raise ValueError(f"{name} is not a valid JSON value")
