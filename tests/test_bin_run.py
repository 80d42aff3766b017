"""``bin/run`` (``make run``) starts what the settings ask for, wherever a setting comes from.

The README: ``cp .env.example .env``, then edit; setting ``CELERY_BROKER_URL`` switches to real
workers. ``bin/run`` must then start a worker even when the broker is set in ``.env`` only,
not in the real environment: otherwise the tasks it queues (batch chunks, erasures,
webhooks) wait forever. Here ``VENV`` points at stand-ins for celery and gunicorn that only
note how they were started, with the real Python (the settings are read for real).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.test_configuration import clean_environment

ROOT = Path(__file__).resolve().parent.parent


def _stand_in_venv(root: Path, log: Path) -> Path:
    venv = root / "venv"
    (venv / "bin").mkdir(parents=True)
    scripts = {
        "python": f'exec {sys.executable} "$@"\n',
        # gunicorn leaves after a moment (bin/run then stops the others); celery stays until stopped.
        "gunicorn": f"echo gunicorn >> {log}\nsleep 1\n",
        "celery": f'echo "celery $3" >> {log}\nexec sleep 30\n',  # -A creditplatform worker|beat
    }
    for name, body in scripts.items():
        path = venv / "bin" / name
        path.write_text("#!/usr/bin/env bash\n" + body)
        path.chmod(0o755)
    return venv


def _started(tmp_path: Path, dot_env: str, **real: str) -> list[str]:
    log = tmp_path / "started.log"
    env_file = tmp_path / ".env"
    env_file.write_text(dot_env)
    env = clean_environment(
        VENV=str(_stand_in_venv(tmp_path, log)),
        ENV_FILE=str(env_file),
        VAR_DIR=str(tmp_path / "var"),
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
        PORT="8999",
        **real,
    )
    result = subprocess.run([str(ROOT / "bin" / "run")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    return sorted(log.read_text().splitlines())


def test_a_broker_set_in_dot_env_starts_a_worker(tmp_path: Path) -> None:
    started = _started(tmp_path, "CELERY_BROKER_URL=redis://127.0.0.1:6399/0  # workers\n")
    assert started == ["celery beat", "celery worker", "gunicorn"]


def test_a_broker_set_in_the_real_environment_starts_a_worker(tmp_path: Path) -> None:
    started = _started(tmp_path, "", CELERY_BROKER_URL="redis://127.0.0.1:6399/0")
    assert started == ["celery beat", "celery worker", "gunicorn"]


def test_without_a_broker_only_beat_and_gunicorn_start(tmp_path: Path) -> None:
    assert _started(tmp_path, "") == ["celery beat", "gunicorn"]
