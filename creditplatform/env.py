"""Typed reads of the environment for ``settings.py``: every bad value names its variable.

An operator who mistypes a setting should read ``SCORE_BATCH_MAX_ITEMS='ten' is not a whole
number`` at start-up, not a bare ``ValueError`` from deep inside a library. Rules shared by
every helper:

- an unset variable **or an empty one** takes the default, so ``NAME=`` in ``.env`` (as
  ``.env.example`` ships them) means "the default", never "zero" or "off";
- surrounding spaces are ignored;
- a value that cannot be read raises ``ImproperlyConfigured`` with the variable's name and
  what was expected, never the value of a secret.

``load_env_file`` reads a ``.env`` file (python-dotenv: ``NAME=value  # comment`` is
``value``; quotes keep a ``#``); variables already in the environment win over the file.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured
from dotenv import dotenv_values

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})
SUPPORTED_DATABASES = frozenset({"django.db.backends.postgresql", "django.db.backends.sqlite3"})
# Values never echoed in an error message: they may be secrets.
SECRET_HINTS = ("SECRET", "PASSWORD", "KEY", "TOKEN", "_URL")


def load_env_file(path: Path, *, required: bool) -> None:
    """Put the file's variables into ``os.environ``, except those already set there."""
    if not path.is_file():
        if required:
            raise ImproperlyConfigured(f"ENV_FILE: no such file {str(path)!r}")
        return
    for name, value in dotenv_values(path, interpolate=False).items():
        if value is not None:  # a bare "NAME" line sets nothing
            os.environ.setdefault(name, value)


def _raw(name: str) -> str | None:
    """The variable's text, or None when it is unset or empty (both mean "the default")."""
    value = os.environ.get(name, "").strip()
    return value or None


def _shown(name: str, raw: str) -> str:
    return f"{name}=<hidden>" if any(hint in name for hint in SECRET_HINTS) else f"{name}={raw!r}"


def env_str(name: str, default: str = "") -> str:
    raw = _raw(name)
    return default if raw is None else raw


def env_bool(name: str, default: bool) -> bool:
    raw = _raw(name)
    if raw is None:
        return default
    word = raw.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(
        f"{_shown(name, raw)} is not a yes/no value: use 1 or 0 (also true/false, yes/no, on/off)"
    )


def _check_range(name: str, value: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}, not {value}")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    raw = _raw(name)
    if raw is None:
        return default
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        raise ImproperlyConfigured(f"{_shown(name, raw)} is not a whole number") from None
    _check_range(name, value, minimum, maximum)
    return value


def env_float(name: str, default: float, *, minimum: float | None = None, maximum: float | None = None) -> float:
    raw = _raw(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{_shown(name, raw)} is not a number") from None
    if not math.isfinite(value):
        raise ImproperlyConfigured(f"{_shown(name, raw)} is not a finite number")
    _check_range(name, value, minimum, maximum)
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    """Comma-separated items, spaces around each ignored, empty items dropped."""
    raw = _raw(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env_str(name, default)
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def env_path(name: str, default: Path, *, base: Path) -> Path:
    """A directory or file; a relative value is taken from ``base`` (the checkout), not the current directory."""
    raw = _raw(name)
    path = default if raw is None else Path(raw).expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def env_db_url(name: str, default: str) -> dict[str, Any]:
    """``DATABASES["default"]`` from a URL such as ``postgres://user@host:5432/credit``."""
    raw = _raw(name)
    expected = "e.g. postgres://user@host:5432/credit or sqlite:///path/db.sqlite3"
    try:
        config = dict(environ.Env.db_url_config(raw or default))
    except Exception as exc:  # the URL may hold a password: never show it
        raise ImproperlyConfigured(f"{name} is not a database URL ({type(exc).__name__}); {expected}") from None
    if config.get("ENGINE") not in SUPPORTED_DATABASES or not config.get("NAME"):
        raise ImproperlyConfigured(f"{name} is not a PostgreSQL or SQLite database URL; {expected}")
    return config
