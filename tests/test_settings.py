"""Production settings pass Django's deployment checks and refuse to start without secrets."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

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


def _key_when_released(path: str, start: float, keys: Any) -> None:
    from creditplatform.settings import _local_secret_key

    while time.time() < start:  # spin, not sleep: the processes on the cores go at the same instant
        pass
    keys.put(_local_secret_key(Path(path)))


def test_processes_starting_together_share_one_whole_local_secret_key(tmp_path: Path) -> None:
    """``make run`` starts web workers, a Celery worker and beat at once on a fresh checkout."""
    # Fresh interpreters: a fork of the test process would inherit its threads and their locks.
    context = multiprocessing.get_context("spawn")
    path = tmp_path / "var" / "secret_key"
    for attempt in range(3):  # a race: several rounds of eight processes
        start, keys = time.time() + 8, context.Queue()  # once all have started
        processes = [context.Process(target=_key_when_released, args=(str(path), start, keys)) for _ in range(8)]
        for process in processes:
            process.start()
        found = [keys.get(timeout=60) for _ in processes]
        for process in processes:
            process.join(timeout=60)
        assert len(set(found)) == 1 and len(found[0]) >= 50, (
            f"round {attempt}: {len(set(found))} keys, lengths {sorted({len(k) for k in found})}"
        )
        assert found[0] == path.read_text().strip()
        assert sorted(p.name for p in path.parent.iterdir()) == ["secret_key"]  # no draft left behind
        assert path.stat().st_mode & 0o777 == 0o600
        path.unlink()
