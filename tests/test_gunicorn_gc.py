"""gunicorn.conf.py freezes what a worker holds once the application is loaded, so full
garbage collections stop walking it, and logs every collection when the benchmark asks.

A full collection over the ~240,000 objects of a loaded worker stopped it for 60-160 ms
under the benchmark's load (docs/performance.md, "Sixth round"); frozen, they are no
longer part of any collection. Timings are the benchmark's; here: what is frozen, and that
real workers run the hook.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration import worker
from tests.monitoring.test_metrics_gunicorn import _get, gunicorn

CHILD = """
import gc, json, os, runpy, sys
import django
django.setup()
from creditplatform.wsgi import application  # what a worker loads before post_worker_init
before = len(gc.get_objects())
config = runpy.run_path("gunicorn.conf.py")
config["post_worker_init"](None)
tracked = len(gc.get_objects())
gc.collect()
print(json.dumps({"before": before, "frozen": gc.get_freeze_count(), "tracked": tracked,
                  "log": open(os.path.join(os.environ["GC_PAUSE_LOG"], f"gc-{os.getpid()}.txt")).read()}))
"""


def test_a_loaded_worker_freezes_the_application_and_logs_its_collections(tmp_path: Path) -> None:
    env = {**os.environ, "GC_PAUSE_LOG": str(tmp_path), "DJANGO_SETTINGS_MODULE": "creditplatform.settings"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # gunicorn.conf.py makes its own
    done = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=worker.ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["before"] > 50_000  # Django, DRF, LightGBM, pandas...
    assert seen["frozen"] >= seen["before"]  # all of it, out of every later collection
    assert seen["tracked"] < 1_000
    when, generation, pause = seen["log"].splitlines()[-1].split()
    assert generation == "2" and float(pause) >= 0 and abs(float(when) - time.time()) < 120


def test_real_workers_log_their_collections_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pauses = tmp_path / "gc"
    monkeypatch.setenv("GC_PAUSE_LOG", str(pauses))
    with gunicorn(tmp_path / "metrics", workers=2) as url:
        deadline = time.monotonic() + 60
        while len(list(pauses.glob("gc-*.txt"))) < 2 or not all(p.read_text() for p in pauses.glob("gc-*.txt")):
            assert time.monotonic() < deadline, f"workers logged: {[p.name for p in pauses.glob('gc-*.txt')]}"
            for _ in range(20):
                assert _get(url + "/api/v1/health")[0] == 200
    for path in pauses.glob("gc-*.txt"):
        generations = {line.split()[1] for line in path.read_text().splitlines()}
        assert generations <= {"0", "1", "2"} and "0" in generations
