"""Start a real Celery worker process against the test database and the Redis broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

from tests.services import broker_url, require_postgresql

ROOT = Path(__file__).resolve().parents[2]


def test_database_url() -> str:
    """A URL for the database pytest-django created, so the worker sees the test's rows."""
    s = connection.settings_dict
    auth = s["USER"] or "postgres"
    if s.get("PASSWORD"):
        auth += f":{s['PASSWORD']}"
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@contextmanager
def celery_worker(
    concurrency: int = 1, extra_env: dict[str, str] | None = None, name: str = "test"
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``celery worker`` until the block ends; waits until it answers a ping.

    ``name`` makes the node name (``<name>-<pid>@<host>``): two workers at once need two names.
    The process leads its own process group, so a test can kill the worker and its pool
    children together (``os.killpg``).
    """
    require_postgresql()
    broker = broker_url()
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "CELERY_BROKER_URL": broker,
        "OMP_NUM_THREADS": "1",
        **(extra_env or {}),
    }
    log = open(ROOT / "var" / "test-worker.log", "ab")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "creditplatform", "worker", "--loglevel", "INFO",
         "--concurrency", str(concurrency), "--without-gossip", "--without-mingle", "-n", f"{name}-{os.getpid()}@%h"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        from creditplatform.celery import app

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited with {proc.returncode}; see var/test-worker.log")
            node = f"{name}-{os.getpid()}@"
            if any(next(iter(reply)).startswith(node) for reply in app.control.ping(timeout=0.5)):
                break
        else:
            raise RuntimeError("worker did not answer a ping within 60 s")
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()
