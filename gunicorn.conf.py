"""gunicorn settings of the web process, read from the working directory by every gunicorn
started in the checkout (``bin/run``, the Docker image, the tests and benchmarks).

Its access and error logs are redacted like the application's
(``creditplatform/gunicorn_logging.py``).

Prometheus multiprocess mode: every worker process writes its counters and histograms to
memory-mapped files in ``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` adds them all up, so
whichever worker answers a scrape gives the same, complete figures (without it each
worker counts alone and two scrapes in a row disagree).

- ``PROMETHEUS_MULTIPROC_DIR`` unset (the default): this master makes a fresh private
  directory, shared by its workers only, and removes it when it stops.
- ``PROMETHEUS_MULTIPROC_DIR`` set: the directory is shared with other processes of this
  host (``bin/run`` shares it with the Celery worker, whose batch counters then show in
  the same ``/metrics``). Whoever sets it empties it before starting them (``bin/run``
  does); this master empties it only with ``PROMETHEUS_MULTIPROC_CLEAN=1``.

The variable must be in the environment before ``prometheus_client`` is first imported,
hence here (the configuration is read before the application is loaded).

Garbage collection: once a worker has imported the application, everything it holds lives
as long as the worker, and ``post_worker_init`` freezes it (``gc.freeze``). A full
collection otherwise walks all of it, about 240,000 objects with Django, DRF, LightGBM,
pandas and Evidently imported, and the worker answers nothing meanwhile: 60-160 ms, one or
two a minute per worker under the benchmark's load. Frozen, a full collection took 0.2-0.3
ms (docs/performance.md, "Sixth round").
``GC_PAUSE_LOG`` (a directory; the benchmark sets it) makes each worker append every
collection there, one line each: wall-clock time, generation, pause in milliseconds.
"""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

_OWN_DIRECTORY = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _OWN_DIRECTORY:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="credit-metrics-")
METRICS_DIR = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])

wsgi_app = "creditplatform.wsgi"
logger_class = "creditplatform.gunicorn_logging.RedactingLogger"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# 1: sync workers (one request at a time per process). More: gunicorn serves with gthread
# workers, each with this many threads, so a worker waiting for a commit's flush answers
# other requests meanwhile (docs/performance.md: "Serving configuration").
threads = int(os.environ.get("GUNICORN_THREADS", "1"))


def _empty(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


def on_starting(server: Any) -> None:
    if _OWN_DIRECTORY or os.environ.get("PROMETHEUS_MULTIPROC_CLEAN") == "1":
        _empty(METRICS_DIR)  # counters restart with the server: Prometheus handles counter resets


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # its live gauges go; its counters stay counted


def on_exit(server: Any) -> None:
    if _OWN_DIRECTORY:
        shutil.rmtree(METRICS_DIR, ignore_errors=True)


def post_worker_init(worker: Any) -> None:
    """The worker has loaded the application: freeze what it holds (the module's docstring)."""
    gc.freeze()
    directory = os.environ.get("GC_PAUSE_LOG")
    if directory:
        _log_collections(Path(directory) / f"gc-{os.getpid()}.txt")


def _log_collections(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    log = path.open("a", buffering=1)  # a line at a time: the benchmark reads it while the worker runs
    started = [0.0]

    def collected(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            log.write(f"{time.time():.6f} {info['generation']} {1000 * (time.perf_counter() - started[0]):.3f}\n")

    gc.callbacks.append(collected)
