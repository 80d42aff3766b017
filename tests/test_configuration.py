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
