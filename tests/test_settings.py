"""Production settings pass Django's deployment checks and refuse to start without secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION_ENV = {
    "ENVIRONMENT": "production",
    "SECRET_KEY": "a-test-only-secret-key-that-is-long-and-random-enough-0123456789abcdef",
    "ALLOWED_HOSTS": "credit.example.test",
}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_under_production_settings() -> None:
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key() -> None:
    env = {**PRODUCTION_ENV, "SECRET_KEY": ""}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY is required" in result.stderr


def test_production_refuses_debug() -> None:
    result = _manage("check", env={**PRODUCTION_ENV, "DEBUG": "1"})
    assert result.returncode != 0
    assert "DEBUG must be off" in result.stderr


def test_an_unknown_environment_name_is_refused() -> None:
    result = _manage("check", env={"ENVIRONMENT": "prod"})
    assert result.returncode != 0
    assert "ENVIRONMENT must be" in result.stderr


def test_production_refuses_a_short_secret_key() -> None:
    result = _manage("check", env={**PRODUCTION_ENV, "SECRET_KEY": "build-only"})
    assert result.returncode != 0
    assert "SECRET_KEY is too weak for ENVIRONMENT=production" in result.stderr
    assert "build-only" not in result.stderr  # never echo a secret


def test_production_refuses_a_weak_fallback_key() -> None:
    result = _manage("check", env={**PRODUCTION_ENV, "SECRET_KEY_FALLBACKS": "old-short-key"})
    assert result.returncode != 0
    assert "SECRET_KEY_FALLBACKS is too weak" in result.stderr


@pytest.mark.parametrize("hosts", ["*", "credit.example.test,*"])
def test_production_refuses_a_wildcard_allowed_host(hosts: str) -> None:
    result = _manage("check", env={**PRODUCTION_ENV, "ALLOWED_HOSTS": hosts})
    assert result.returncode != 0
    assert "ALLOWED_HOSTS must name the hosts when ENVIRONMENT=production ('*' is refused)" in result.stderr


def test_production_accepts_a_subdomain_pattern() -> None:
    result = _manage("check", env={**PRODUCTION_ENV, "ALLOWED_HOSTS": ".example.test"})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("value", "disabled"), [("1", "False"), ("0", "True")])
def test_server_side_cursors_can_be_turned_off_for_a_transaction_mode_pooler(value: str, disabled: str) -> None:
    code = "from django.db import connection; print(connection.settings_dict['DISABLE_SERVER_SIDE_CURSORS'])"
    result = _manage("shell", "-c", code, env={"DB_SERVER_SIDE_CURSORS": value})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == disabled
