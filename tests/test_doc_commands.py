"""The commands README.md and docs/ tell a reader to type exist, with the options and URLs they show.

A `make` target renamed in the Makefile, a management command or one of its options renamed
or dropped, leaves a doc that fails the reader at the first step; the runnable examples
(tests/test_docs.py) cover only the blocks marked runnable. Here every `make TARGET` in code
(inline or fenced) must be a Makefile target, and every `manage.py COMMAND --option` must be
a command Django knows, taking that option; every local URL a command calls
(``http://127.0.0.1:8000/...``) must lead to a view.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
from django.core.management import get_commands, load_command_class

from tests.markdown import DOCUMENTS, ROOT, numbered_lines

_INLINE = re.compile(r"`([^`\n]+)`")
_MAKE = re.compile(r"(?:^|[\s;&|(])make ([a-z][\w-]*)")
_MANAGE = re.compile(r"manage\.py ([a-z_]+)([^#|]*)")
_OPTION = re.compile(r"(?<![\w-])(--[a-z][\w-]*)")


def code_snippets(text: str) -> list[tuple[int, str]]:
    """(line, code) of each fenced code line and each inline code span of a Markdown text."""
    snippets: list[tuple[int, str]] = []
    for number, line, fenced in numbered_lines(text):
        if fenced:
            snippets.append((number, line))
        else:
            snippets.extend((number, match.group(1)) for match in _INLINE.finditer(line))
    return snippets


def makefile_targets(makefile: Path = ROOT / "Makefile") -> set[str]:
    return set(re.findall(r"^([a-z][\w-]*)\s*:(?!=)", makefile.read_text(), flags=re.MULTILINE))


@cache
def command_options(name: str) -> frozenset[str] | None:
    """The option strings of a management command, or None when Django has no such command."""
    app = get_commands().get(name)
    if app is None:
        return None
    command = app if not isinstance(app, str) else load_command_class(app, name)
    parser = command.create_parser("manage.py", name)
    return frozenset(option for action in parser._actions for option in action.option_strings)


def command_problems(text: str, where: str) -> list[str]:
    problems: list[str] = []
    targets = makefile_targets()
    for number, code in code_snippets(text):
        for match in _MAKE.finditer(code):
            if match.group(1) not in targets:
                problems.append(f"{where}:{number}: `make {match.group(1)}`: no such Makefile target")
        for match in _MANAGE.finditer(code):
            name, rest = match.groups()
            options = command_options(name)
            if options is None:
                problems.append(f"{where}:{number}: `manage.py {name}`: no such management command")
                continue
            for option in _OPTION.findall(rest):
                if option not in options:
                    problems.append(f"{where}:{number}: `manage.py {name} {option}`: no such option")
    return problems


def test_a_wrong_target_command_or_option_is_reported() -> None:
    text = (
        "Run `make run`, then `make serve` and `PORT=1 make bench`.\n"
        "```bash\nmake lint\npython manage.py score_batch FILE --wait --no-such-option  # --comment\n"
        "python manage.py nope\n```\n"
        "`manage.py create_api_key NAME --role ROLE [--scopes score]`; make it so (prose, not code).\n"
    )
    assert command_problems(text, "doc.md") == [
        "doc.md:1: `make serve`: no such Makefile target",
        "doc.md:4: `manage.py score_batch --no-such-option`: no such option",
        "doc.md:5: `manage.py nope`: no such management command",
    ]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_make_target_and_management_command_in_the_docs_exists(document: str) -> None:
    assert command_problems((ROOT / document).read_text(encoding="utf-8"), document) == []


_URL = re.compile(r"(?<![=\w])https?://127\.0\.0\.1:8000(/[^\s'\"`)]*)")
_PLACEHOLDER = re.compile(r"\$\{?\w+\}?|<[\w-]+>|\{[\w-]+\}|…")
_SAMPLE_ID = "3eda08e4-2b6b-453e-927c-b659df2f0578"


def url_problems(text: str, where: str) -> list[str]:
    """Each local URL in the docs' code resolves to a view (placeholders such as ``$ID`` read as an id)."""
    from django.urls import Resolver404, resolve

    problems: list[str] = []
    for number, code in code_snippets(text):
        for match in _URL.finditer(code):
            path = _PLACEHOLDER.sub(_SAMPLE_ID, match.group(1).split("?")[0])
            try:
                resolve(path)
            except Resolver404:
                problems.append(f"{where}:{number}: {match.group(1)}: no such URL")
    return problems


def test_a_url_without_a_view_is_reported() -> None:
    text = (
        "```bash\ncurl http://127.0.0.1:8000/api/v1/score/batch-jobs/$ID/result\n"
        "curl -d resource=http://127.0.0.1:8000/api http://127.0.0.1:8000/api/v1/predictons/\n```\n"
    )
    assert url_problems(text, "doc.md") == ["doc.md:3: /api/v1/predictons/: no such URL"]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_url_the_docs_call_exists(document: str) -> None:
    assert url_problems((ROOT / document).read_text(encoding="utf-8"), document) == []
