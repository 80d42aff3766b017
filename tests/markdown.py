"""The project's Markdown documents, read line by line, for the tests that check what they say."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = sorted(["README.md", *(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))])

_FENCE = re.compile(r"^\s*(```|~~~)")


def numbered_lines(text: str) -> list[tuple[int, str, bool]]:
    """(line number, line, inside a fenced code block) of each line but the fences themselves."""
    lines: list[tuple[int, str, bool]] = []
    fenced = False
    for number, line in enumerate(text.splitlines(), start=1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        lines.append((number, line, fenced))
    return lines
