"""The links between README.md and docs/ lead somewhere: the file exists and so does the heading.

A reader following "[the arithmetic](docs/performance.md#the-framework-floor)" from the README
should land on that section, not at the top of a 2,000-line page because the heading was
renamed. Anchors are GitHub's: the heading lowercased, everything but letters, digits,
spaces, hyphens and underscores dropped, spaces made hyphens, ``-1``, ``-2``… for repeats.
Links inside fenced code blocks and inline code are examples, not links, and are skipped.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.markdown import DOCUMENTS, ROOT, numbered_lines

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_INLINE_CODE = re.compile(r"`[^`]*`")
_LINK = re.compile(r"(?<!!)\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)")


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) of the lines outside fenced code blocks."""
    return [(number, line) for number, line, fenced in numbered_lines(text) if not fenced]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text (links and inline code reduced to their text)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = text.replace("`", "").strip().lower()
    text = "".join(char for char in text if char.isalnum() or char in " -_")
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading's anchor in a Markdown document, repeats numbered as GitHub numbers them."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for _, line in prose_lines(text):
        match = _HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def local_links(text: str) -> list[tuple[int, str]]:
    """(line number, target) of each link to a file of the repository or an anchor."""
    links: list[tuple[int, str]] = []
    for number, line in prose_lines(text):
        for match in _LINK.finditer(_INLINE_CODE.sub("", line)):
            target = match.group(1).strip("<>")
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:...
                continue
            links.append((number, target))
    return links


def broken_links(document: str, root: Path = ROOT) -> list[str]:
    """What is wrong with each local link of ``document`` (a path from ``root``)."""
    root = root.resolve()
    path = root / document
    problems: list[str] = []
    for number, target in local_links(path.read_text(encoding="utf-8")):
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        where = f"{document}:{number}: ({target})"
        if not linked.exists():
            problems.append(f"{where} no such file")
            continue
        if anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text(encoding="utf-8")):
            problems.append(f"{where} no heading with the anchor #{anchor} in {linked.relative_to(root)}")
    return problems


def test_anchors_follow_githubs_rules() -> None:
    text = "# Quick start\n## Roles\n## Roles\n### `/score`: the decision (v2)\n```\n# not a heading\n```\n"
    assert anchors(text) == {"quick-start", "roles", "roles-1", "score-the-decision-v2"}
    assert slug("Nineteenth round: gevent workers") == "nineteenth-round-gevent-workers"
    assert slug("What is left (issue 15), by expected gain") == "what-is-left-issue-15-by-expected-gain"


def test_a_broken_link_is_reported(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# Present\n")
    (tmp_path / "README.md").write_text(
        "[ok](docs/a.md#present) [gone](docs/b.md) [renamed](docs/a.md#absent) [here](#nowhere)\n"
        "`[code](docs/none.md)` [web](https://example.org/x)\n```\n[fenced](docs/none.md)\n```\n"
    )
    assert broken_links("README.md", root=tmp_path) == [
        "README.md:1: (docs/b.md) no such file",
        "README.md:1: (docs/a.md#absent) no heading with the anchor #absent in docs/a.md",
        "README.md:1: (#nowhere) no heading with the anchor #nowhere in README.md",
    ]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_local_link_leads_to_its_file_and_heading(document: str) -> None:
    assert broken_links(document) == []
