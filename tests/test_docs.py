"""The shell examples of README.md and docs/ work, as written, against a live server.

A fenced ```bash block preceded by the line ``<!-- runnable -->`` is run command by command
in bash from the checkout, against gunicorn started here on a free port with the test
database (the default models registered as champions; API keys made by the command the docs
show). Variables carry over from one command to the next within a document, never from
one document to another: each must stand on its own.

- Every command must exit 0; ``curl`` runs with ``--fail-with-body``, so an HTTP error
  answer fails the example too.
- Where the doc shows the answer, as ``# -> {...}`` comment lines after a command or as a
  ```json block right after the runnable block (the answer of its last command), the real
  answer must have its shape: the same keys (a subset where the doc elides with ``…``),
  values of the same JSON types. ``"…"`` stands for any value.
- ``http://127.0.0.1:8000`` in a command is replaced by the test server's address.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.db import connection

from tests.services import require_postgresql
from tests.test_configuration import clean_environment

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = sorted(["README.md", *(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))])
MARKER = "<!-- runnable -->"
DOC_URL = "http://127.0.0.1:8000"
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
ELIDED = "…"


@dataclass
class Command:
    text: str
    line: int
    expected: str = ""


@dataclass
class Block:
    document: str
    line: int
    commands: list[Command] = field(default_factory=list)


def _open_quote(text: str) -> bool:
    """Whether bash would still be inside a '...' or "..." string at the end of ``text``."""
    quote_char = ""
    escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quote_char != "'":
            escaped = True
        elif quote_char:
            if char == quote_char:
                quote_char = ""
        elif char in "'\"":
            quote_char = char
    return bool(quote_char)


def _commands(lines: list[tuple[int, str]]) -> list[Command]:
    commands: list[Command] = []
    pending: list[str] = []
    start = 0
    in_output = False
    for number, line in lines:
        stripped = line.strip()
        if not pending and stripped.startswith("#"):
            if stripped.startswith("# ->"):
                in_output = True
                commands[-1].expected += stripped[len("# ->") :]
            elif in_output:
                commands[-1].expected += " " + stripped.lstrip("#")
            continue
        in_output = False
        if not pending and not stripped:
            continue
        if not pending:
            start = number
        pending.append(line)
        text = "\n".join(pending)
        if not text.endswith("\\") and not _open_quote(text):
            commands.append(Command(text=text, line=start))
            pending = []
    assert not pending, f"line {start}: unterminated command"
    return commands


def runnable_blocks(document: str) -> list[Block]:
    lines = (ROOT / document).read_text().splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        if lines[index].strip() != MARKER:
            index += 1
            continue
        fence = index + 1
        assert lines[fence].strip() in {"```bash", "```sh"}, (
            f"{document}:{fence + 1}: {MARKER} must precede a bash fence"
        )
        end = next(i for i in range(fence + 1, len(lines)) if lines[i].strip() == "```")
        block = Block(document, fence + 1, _commands([(i + 1, lines[i]) for i in range(fence + 1, end)]))
        # A ```json block right after (blank lines only between): the answer of the last command.
        after = end + 1
        while after < len(lines) and not lines[after].strip():
            after += 1
        if after < len(lines) and lines[after].strip() == "```json":
            close = next(i for i in range(after + 1, len(lines)) if lines[i].strip() == "```")
            block.commands[-1].expected = "\n".join(lines[after + 1 : close])
        blocks.append(block)
        index = end + 1
    return blocks


def parse_expected(text: str) -> Any:
    """The doc's answer as JSON: ``, …}`` marks elided keys, ``, …]`` elided items, ``"…"`` any value."""
    text = re.sub(r",\s*…\s*}", ', "…": null}', text)
    text = re.sub(r",\s*…\s*]", "]", text)
    return json.loads(text)


def shape_errors(expected: Any, actual: Any, where: str = "$") -> list[str]:
    if expected == ELIDED or expected is None or actual is None:
        return []  # any value; null where the doc shows one kind of value
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {type(actual).__name__}"]
        keys = set(expected) - {ELIDED}
        errors = [f"{where}.{key}: missing" for key in sorted(keys - set(actual))]
        if ELIDED not in expected:
            errors += [f"{where}.{key}: not shown in the doc" for key in sorted(set(actual) - keys)]
        for key in sorted(keys & set(actual)):
            errors += shape_errors(expected[key], actual[key], f"{where}.{key}")
        return errors
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{where}: expected a list, got {type(actual).__name__}"]
        if expected and actual:
            return shape_errors(expected[0], actual[0], f"{where}[0]")
        return []
    kinds: dict[type, tuple[type, ...]] = {bool: (bool,), int: (int, float), float: (int, float), str: (str,)}
    allowed = kinds[type(expected)]
    if not isinstance(actual, allowed) or (isinstance(actual, bool) and bool not in allowed):
        return [f"{where}: expected {type(expected).__name__}, got {type(actual).__name__} {actual!r}"]
    return []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _database_url() -> str:
    db = connection.settings_dict
    user = quote(db["USER"] or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    return f"postgres://{user}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def docs_environment(tmp_path: Path) -> dict[str, str]:
    """What a reader's shell would have: the checkout's settings, pointed at the test database."""
    require_postgresql()  # a second process must see the test database (SQLite runs in memory)
    (tmp_path / "empty.env").write_text("")
    return clean_environment(
        DATABASE_URL=_database_url(),
        VAR_DIR=str(tmp_path / "var"),
        PYTHONPATH=str(ROOT),  # the commands run from a scratch directory (reader_directory)
        ENV_FILE=str(tmp_path / "empty.env"),
        OMP_NUM_THREADS="1",
        LOG_LEVEL="WARNING",
    )


@pytest.fixture
def live_gunicorn(
    docs_environment: dict[str, str], tmp_path: Path, credit_model: object, fraud_model: object
) -> Iterator[str]:
    """gunicorn on a free port, serving the test database (with champion models)."""
    port = _free_port()
    log = (tmp_path / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [GUNICORN, "creditplatform.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1", "--access-logfile", "-"],
        cwd=ROOT,
        env=docs_environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/v1/health", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail("gunicorn did not come up:\n" + (tmp_path / "gunicorn.log").read_text()[-3000:])
            time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def run_command(command: Command, url: str, env: dict[str, str], state: Path) -> subprocess.CompletedProcess[str]:
    script = "\n".join(
        [
            "set -a",  # every assignment is exported, so that export -p carries it to the next command
            f"[ -f {state} ] && . {state}",
            "set -o pipefail",
            'curl() { command curl --fail-with-body --max-time 60 "$@"; }',
            command.text.replace(DOC_URL, url),
            "status=$?",
            f"export -p > {state}",
            "exit $status",
        ]
    )
    return subprocess.run(
        ["bash", "-c", script], cwd=reader_directory(state.parent), env=env, capture_output=True, text=True, timeout=300
    )


def reader_directory(scratch: Path) -> Path:
    """Where the commands run: a scratch copy of the checkout's entry points.

    A reader runs them from the checkout, so they say ``.venv/bin/python manage.py``; the
    files they write (``applicants.csv``) must not land in the real checkout.
    """
    where = scratch / "checkout"
    if not where.exists():
        where.mkdir()
        for name in (".venv", "manage.py", "postman", "tests"):
            (where / name).symlink_to(ROOT / name)
    return where


def test_runnable_examples_are_found_where_the_docs_promise_them() -> None:
    """The README's quick start and API examples are marked, so the docs test cannot run nothing."""
    readme = [c.text for b in runnable_blocks("README.md") for c in b.commands]
    assert any("api/v1/health" in text for text in readme)
    assert any("create_api_key" in text for text in readme)
    assert any("/score" in text for text in readme)
    assert any("/fraude" in text for text in readme)
    assert any(c.expected for b in runnable_blocks("README.md") for c in b.commands)


def test_a_doc_answer_with_another_shape_is_caught() -> None:
    expected = parse_expected('{"id": "…", "decision": "refuse", "reasons": [{"feature": "age", "value": 1}, …]}')
    assert shape_errors(expected, {"id": 1, "decision": "refuse", "reasons": [{"feature": "age", "value": 2}]}) == []
    assert shape_errors(expected, {"id": 1, "decision": 0, "reasons": [], "extra": True}) == [
        "$.extra: not shown in the doc",
        "$.decision: expected str, got int 0",
    ]
    assert shape_errors(parse_expected('{"a": 1, …}'), {"a": 2, "b": 3}) == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("document", [d for d in DOCUMENTS if runnable_blocks(d)])
def test_the_runnable_examples_of_the_docs_work(
    document: str, live_gunicorn: str, docs_environment: dict[str, str], tmp_path: Path
) -> None:
    state = tmp_path / "shell-state"
    for block in runnable_blocks(document):
        for command in block.commands:
            where = f"{document}:{command.line}"
            result = run_command(command, live_gunicorn, docs_environment, state)
            assert result.returncode == 0, (
                f"{where} exited {result.returncode}:\n{command.text}\n--- stdout\n{result.stdout[-2000:]}"
                f"\n--- stderr\n{result.stderr[-2000:]}"
            )
            if not command.expected:
                continue
            try:
                actual = json.loads(result.stdout)
            except json.JSONDecodeError:
                pytest.fail(f"{where}: the doc shows JSON, the command printed:\n{result.stdout[-2000:]}")
            errors = shape_errors(parse_expected(command.expected), actual)
            assert not errors, f"{where}: the answer does not have the doc's shape:\n" + "\n".join(errors)
