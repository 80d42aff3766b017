"""An operator's first steps: `.env.example` works as is, and every setting is documented.

The settings module reads the environment only through the typed helpers of
``creditplatform/env.py``; a bad value stops start-up with the variable's name.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from creditplatform import env as envmod

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ROOT / "creditplatform" / "settings.py"
ENV_EXAMPLE = ROOT / ".env.example"
README = ROOT / "README.md"


def settings_variables() -> set[str]:
    """Every variable name passed to an ``env_*`` helper in settings.py."""
    tree = ast.parse(SETTINGS.read_text())
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id.startswith("env_")
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    }


def example_variables() -> set[str]:
    """Names set in .env.example, including the commented-out ones (``# NAME=value``)."""
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), flags=re.MULTILINE))


def readme_configuration_variables() -> set[str]:
    text = README.read_text()
    section = text[text.index("## Configuration") :]
    section = section[: section.index("\n## ", 1)]
    table = "\n".join(line for line in section.splitlines() if line.startswith("|"))
    return set(re.findall(r"`([A-Z][A-Z0-9_]+)`", table))


ROOT_DOCUMENTS = sorted(["README.md", *(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))])
# Read by gunicorn.conf.py and bin/run rather than by the settings; documented in tables too.
SERVER_VARIABLES = {"PROMETHEUS_MULTIPROC_DIR", "PROMETHEUS_MULTIPROC_CLEAN", "WEB_CONCURRENCY", "GUNICORN_THREADS"}
_CONSTANT_NODES = (ast.Constant, ast.BinOp, ast.UnaryOp, ast.List, ast.Tuple, ast.operator, ast.unaryop, ast.Load)


def settings_defaults() -> dict[str, object]:
    """The default each ``env_*`` call of settings.py gives its variable, where it is a constant
    (``5 * 365``, ``["25", "35"]``); defaults that depend on other settings are left out."""
    defaults: dict[str, object] = {}
    for node in ast.walk(ast.parse(SETTINGS.read_text())):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id.startswith("env_")
            and len(node.args) > 1
            and isinstance(node.args[0], ast.Constant)
        ):
            continue
        if all(isinstance(part, _CONSTANT_NODES) for part in ast.walk(node.args[1])):
            defaults[node.args[0].value] = eval(compile(ast.Expression(node.args[1]), "settings.py", "eval"), {})
    return defaults


def documented_default_matches(written: str, default: object) -> bool:
    """Whether a default as a document writes it (``1``, ``true``, ``25,35``, ``5``) is ``default``."""
    if isinstance(default, bool):
        return written.lower() in ({"1", "true", "on", "yes"} if default else {"0", "false", "off", "no"})
    if isinstance(default, int | float):
        try:
            return float(written) == default
        except ValueError:
            return False
    if isinstance(default, list):
        return [item.strip() for item in written.split(",") if item.strip()] == [str(item) for item in default]
    return written == default


def configuration_rows(document: str) -> list[tuple[int, list[str], str]]:
    """(line, variable names, default cell) of each table row of ``document`` whose first cell
    names environment variables only (`` `A`, `B` `` or `` `A` / `B` ``). A name starts with two
    letters: a code such as `U01` (a reason catalogue's table) is not a variable."""
    rows = []
    for number, line in enumerate((ROOT / document).read_text().splitlines(), start=1):
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 3:
            continue
        if re.fullmatch(r"`[A-Z]{2}[A-Z0-9_]*`(\s*(,|/)\s*`[A-Z]{2}[A-Z0-9_]*`)*", cells[0]):
            rows.append((number, re.findall(r"`([A-Z]{2}[A-Z0-9_]*)`", cells[0]), cells[1]))
    return rows


def run_django(code: str | None, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``manage.py shell -c code``, or ``manage.py check`` without code (it fails on bad settings)."""
    command = ["shell", "-c", code] if code is not None else ["check"]
    return subprocess.run(
        [sys.executable, "manage.py", *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without any variable the settings read (the file decides)."""
    names = settings_variables() | example_variables() | {"DJANGO_SETTINGS_MODULE"}
    return {**{k: v for k, v in os.environ.items() if k not in names}, **extra}


def test_every_variable_the_settings_read_is_in_env_example() -> None:
    missing = sorted(settings_variables() - example_variables())
    assert not missing, f"add to .env.example: {missing}"


def test_env_example_lists_only_variables_the_settings_read() -> None:
    extra = sorted(example_variables() - settings_variables())
    assert not extra, f".env.example lists variables nothing reads: {extra}"


def test_every_variable_the_settings_read_is_in_the_readme_configuration_table() -> None:
    missing = sorted(settings_variables() - readme_configuration_variables())
    assert not missing, f"add to the README's configuration table: {missing}"


@pytest.mark.parametrize("document", ROOT_DOCUMENTS)
def test_configuration_tables_name_only_variables_something_reads(document: str) -> None:
    """A variable in a doc's table that nothing reads is a setting the operator changes in vain."""
    known = settings_variables() | SERVER_VARIABLES
    unknown = [
        f"{document}:{line}: {name}"
        for line, names, _ in configuration_rows(document)
        for name in names
        if name not in known
    ]
    assert not unknown, f"not read by the settings: {unknown}"


@pytest.mark.parametrize("document", ROOT_DOCUMENTS)
def test_configuration_tables_give_the_defaults_the_settings_use(document: str) -> None:
    """Where a row gives one plain default per variable (`` `60`, `0` ``), each is the settings' own."""
    defaults = settings_defaults()
    wrong = []
    for line, names, cell in configuration_rows(document):
        written = re.findall(r"`([^`]*)`", cell)
        if len(written) != len(names) or any(re.fullmatch(r"[A-Z][A-Z0-9_]+", value) for value in written):
            continue  # prose ("time limit + 60"), or another variable's value
        for name, value in zip(names, written, strict=True):
            if name in defaults and not documented_default_matches(value, defaults[name]):
                wrong.append(
                    f"{document}:{line}: {name} is documented as {value!r}, the settings use {defaults[name]!r}"
                )
    assert not wrong, wrong


def test_the_readme_table_checks_the_defaults_of_most_variables() -> None:
    """The check above is not vacuous: most of the README's variables have a plain default it compares."""
    defaults = settings_defaults()
    compared = {
        name
        for _, names, cell in configuration_rows("README.md")
        if len(re.findall(r"`([^`]*)`", cell)) == len(names)
        for name in names
        if name in defaults
    }
    assert len(compared) >= 80, sorted(compared)
    assert documented_default_matches("1", True) and documented_default_matches("false", False)
    assert not documented_default_matches("60", 30) and not documented_default_matches("25,35", ["25", "36"])


# A default named in prose right after its variable: "`BATCH_MAX_ROWS` (2,000,000)",
# "`OIDC_JWKS_TIMEOUT` (3 s)", "`PERFORMANCE_HORIZON_MONTHS` (default 12)".
_PROSE_DEFAULT = re.compile(
    r"`([A-Z][A-Z0-9_]+)`\*{0,2},? \((?:default:? |by default )?(\d[\d,]*(?:\.\d+)?|\d{4}-\d{2}-\d{2}|half|on|off)"
    r"(?: ?(s|seconds|minutes|days|months|characters|rows|hours?|MB|%))?[),;:]"
)
_UNITS = {"hour": 3600, "hours": 3600, "MB": 1024 * 1024, "%": 0.01}


def prose_defaults(document: str) -> list[tuple[int, str, str]]:
    """(line, variable, default as written, in the setting's unit) of each default named in prose."""
    found = []
    for number, line in enumerate((ROOT / document).read_text().splitlines(), start=1):
        for match in _PROSE_DEFAULT.finditer(line):
            name, written, unit = match.groups()
            value = "0.5" if written == "half" else written.replace(",", "")
            if unit in _UNITS:
                value = str(float(value) * _UNITS[unit])
            found.append((number, name, value))
    return found


@pytest.mark.parametrize("document", ROOT_DOCUMENTS)
def test_defaults_named_in_the_docs_prose_are_the_settings_own(document: str) -> None:
    """A sentence giving a variable's default ("`GDPR_DUE_SOON_DAYS` (7)") gives the one settings.py uses."""
    defaults = settings_defaults()
    wrong = [
        f"{document}:{line}: {name} ({value}), the settings use {defaults[name]!r}"
        for line, name, value in prose_defaults(document)
        if name in defaults and not documented_default_matches(value, defaults[name])
    ]
    assert not wrong, wrong


def test_defaults_in_prose_are_found() -> None:
    """Not vacuous: units are read, and the docs name dozens of defaults this way."""
    assert sum(len(prose_defaults(document)) for document in ROOT_DOCUMENTS) >= 40
    assert ("OIDC_API_MAX_TOKEN_LIFETIME_SECONDS", "3600.0") in {
        (name, value) for document in ROOT_DOCUMENTS for _, name, value in prose_defaults(document)
    }


def test_env_example_gives_the_defaults_the_settings_use() -> None:
    """`.env.example` "lists every variable with its default": a value set there (not commented out) is it."""
    defaults = settings_defaults()
    wrong = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.match(r"^([A-Z][A-Z0-9_]*)=(\"[^\"]*\"|\S*)", line)
        if match and match.group(2) and match.group(1) in defaults:
            value = match.group(2).strip('"')
            if not documented_default_matches(value, defaults[match.group(1)]):
                wrong.append(f"{match.group(1)}={value} (the settings use {defaults[match.group(1)]!r})")
    assert not wrong, wrong


def test_env_example_copied_to_dot_env_starts_django_with_its_values(tmp_path: Path) -> None:
    """`cp .env.example .env` is the operator's first step: inline comments, empty values
    and a VAR_DIR set in the file (read only after the file is loaded) all work."""
    dot_env = tmp_path / ".env"
    var_dir = tmp_path / "state"
    text = ENV_EXAMPLE.read_text().replace("VAR_DIR=./var ", f"VAR_DIR={var_dir} ", 1)
    assert str(var_dir) in text
    dot_env.write_text(text)
    probe = (
        "import json; from django.conf import settings as s; from django.core.management import call_command; "
        "call_command('check', fail_level='WARNING'); "
        "print(json.dumps({'environment': s.ENVIRONMENT, 'debug': s.DEBUG, 'var_dir': str(s.VAR_DIR), "
        "'conn_max_age': s.DATABASES['default']['CONN_MAX_AGE'], 'engine': s.DATABASES['default']['ENGINE'], "
        "'hosts': s.ALLOWED_HOSTS, 'ssl_redirect': s.SECURE_SSL_REDIRECT, 'hsts': s.SECURE_HSTS_SECONDS, "
        "'batch': s.SCORE_BATCH_MAX_ITEMS, 'tz': s.FRAUD_TIME_ZONE, 'oidc': s.OIDC_ENABLED}))"
    )
    result = run_django(probe, clean_environment(ENV_FILE=str(dot_env)))
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen == {
        "environment": "development",
        "debug": False,
        "var_dir": str(var_dir),
        "conn_max_age": 60,
        "engine": "django.db.backends.sqlite3",
        "hosts": ["127.0.0.1", "localhost", "testserver"],
        "ssl_redirect": False,
        "hsts": 0,
        "batch": 100,
        "tz": "Europe/Paris",
        "oidc": False,
    }
    assert (var_dir / "secret_key").is_file()  # the local key went where the file said


def test_the_real_environment_wins_over_the_dot_env_file(tmp_path: Path) -> None:
    dot_env = tmp_path / ".env"
    dot_env.write_text(f"SCORE_BATCH_MAX_ITEMS=7  # from the file\nVAR_DIR={tmp_path}\n")
    env = clean_environment(ENV_FILE=str(dot_env), SCORE_BATCH_MAX_ITEMS="9")
    result = run_django("from django.conf import settings as s; print(s.SCORE_BATCH_MAX_ITEMS)", env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "9"


def test_a_bad_value_stops_start_up_with_the_variable_name(tmp_path: Path) -> None:
    env = clean_environment(VAR_DIR=str(tmp_path), SCORE_BATCH_MAX_ITEMS="ten")
    result = run_django(None, env)
    assert result.returncode != 0
    assert "ImproperlyConfigured: SCORE_BATCH_MAX_ITEMS='ten' is not a whole number" in result.stderr
    assert "ValueError" not in result.stderr


def test_a_missing_env_file_named_by_env_file_is_refused(tmp_path: Path) -> None:
    result = run_django(None, clean_environment(ENV_FILE=str(tmp_path / "nope.env")))
    assert result.returncode != 0
    assert "ENV_FILE: no such file" in result.stderr


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("X_INT", "X_BOOL", "X_FLOAT", "X_LIST", "X_STR", "X_SECRET_KEY", "X_DB_URL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_unset_and_empty_variables_take_the_default(environ: pytest.MonkeyPatch) -> None:
    assert envmod.env_int("X_INT", 60) == 60
    environ.setenv("X_INT", "")
    environ.setenv("X_BOOL", "  ")
    environ.setenv("X_LIST", "")
    assert envmod.env_int("X_INT", 60) == 60
    assert envmod.env_bool("X_BOOL", True) is True  # empty is "the default", never "off"
    assert envmod.env_list("X_LIST", ["a"]) == ["a"]


def test_values_are_read_with_their_type(environ: pytest.MonkeyPatch) -> None:
    environ.setenv("X_INT", " 1_000 ")
    environ.setenv("X_BOOL", "Yes")
    environ.setenv("X_FLOAT", "0.25")
    environ.setenv("X_LIST", " a.example , ,b.example ")
    assert envmod.env_int("X_INT", 0) == 1000
    assert envmod.env_bool("X_BOOL", False) is True
    assert envmod.env_float("X_FLOAT", 0.0) == 0.25
    assert envmod.env_list("X_LIST", []) == ["a.example", "b.example"]


@pytest.mark.parametrize(
    ("name", "value", "read", "message"),
    [
        ("X_INT", "1.5", lambda: envmod.env_int("X_INT", 1), "X_INT='1.5' is not a whole number"),
        ("X_INT", "0", lambda: envmod.env_int("X_INT", 1, minimum=1), "X_INT must be at least 1, not 0"),
        ("X_BOOL", "maybe", lambda: envmod.env_bool("X_BOOL", False), "X_BOOL='maybe' is not a yes/no value"),
        ("X_FLOAT", "nan", lambda: envmod.env_float("X_FLOAT", 1.0), "X_FLOAT='nan' is not a finite number"),
        ("X_STR", "prod", lambda: envmod.env_choice("X_STR", "a", ("a", "b")), "X_STR must be one of a, b"),
        ("X_DB_URL", "mysql://u@h/d", lambda: envmod.env_db_url("X_DB_URL", "sqlite:///x"), "X_DB_URL is not a"),
    ],
)
def test_a_bad_value_names_the_variable(environ: pytest.MonkeyPatch, name: str, value: str, read, message: str) -> None:
    environ.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match=re.escape(message)):
        read()


def test_a_secret_value_is_never_echoed_in_an_error(environ: pytest.MonkeyPatch) -> None:
    environ.setenv("X_SECRET_KEY", "hunter2-hunter2")
    with pytest.raises(ImproperlyConfigured) as error:
        envmod.env_int("X_SECRET_KEY", 1)
    assert "hunter2" not in str(error.value)
    environ.setenv("X_DB_URL", "postgres://user:hunter2@db.example/")
    with pytest.raises(ImproperlyConfigured) as error:
        envmod.env_db_url("X_DB_URL", "sqlite:///x")
    assert "hunter2" not in str(error.value)


def _dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule, enough for these paths: the last matching pattern decides; ``**/`` is any depth."""
    ignored = False
    for line in patterns:
        negate = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        candidates = {pattern, pattern.removeprefix("**/")}
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]  # a directory hides its contents
        tails = ["/".join(parts[i:]) for i in range(len(parts))] if pattern.startswith("**/") else [path]
        if any(fnmatch.fnmatchcase(p, c) for c in candidates for p in prefixes + tails):
            ignored = not negate
    return ignored


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        ".env.production",
        "var/secret_key",
        "var/db.sqlite3",
        ".venv/bin/python",
        "accounts/devidp/node_modules/oidc-provider/package.json",
        "media/models/credit.txt",
        "test-artifacts/login.png",
        "bench/results/latest.json",
        ".git/config",
        "scoring/__pycache__/models.cpython-311.pyc",
        "deploy/tls.key",
    ],
)
def test_the_docker_build_context_leaves_out_secrets_and_local_state(path: str) -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert _dockerignored(path, patterns), f"{path} would be copied into the image"


@pytest.mark.parametrize("path", [".env.example", "manage.py", "creditplatform/settings.py", "requirements.txt"])
def test_the_docker_build_context_keeps_the_code(path: str) -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert not _dockerignored(path, patterns)
