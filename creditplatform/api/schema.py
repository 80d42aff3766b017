"""Post-processing of the OpenAPI document that drf-spectacular generates."""

from __future__ import annotations

from typing import Any

BLANK = {"type": "string", "maxLength": 0}


def blank_alternatives_any_of(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """``oneOf: [<string with a pattern>, <blank>]`` becomes ``anyOf``.

    drf-spectacular describes a ``CharField(allow_blank=True)`` with a pattern as one of the
    two; when the pattern also matches "" (``[^...]*``), an empty string matches both, so a
    valid blank answer broke ``oneOf`` (found by fuzzing the schema, tests/test_api_fuzz.py).
    """

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            alternatives = node.get("oneOf")
            if isinstance(alternatives, list) and BLANK in alternatives:
                node["anyOf"] = node.pop("oneOf")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(result)
    return result
