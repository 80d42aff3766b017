"""Instructions per request: the part of ``make bench`` that does not move with the machine.

Throughput on a shared 2-core machine drifts by a quarter from one hour to the next, so a
change worth 5 % cannot be told from noise by timing it. Counting the CPU instructions a
request executes can: valgrind's callgrind gives the same count for the same code and
inputs, whatever else the machine is doing (two runs of ``/score`` agree within 1 %).

Each endpoint is called in-process through the platform's WSGI application as gunicorn
serves it (``creditplatform.wsgi``: the decision fast path in front of Django's handler), or
through the bare app, with the benchmark's database, cache, settings and bodies (``score-key``:
``/score``'s bodies, each sent with a new ``Idempotency-Key``), first
``--instructions-warmup`` times uncounted, then ``--instructions-requests`` times under
callgrind's instrumentation, which ``callgrind_control`` switches on and off around the
measured loop. Counted: everything the
web process executes for those requests (Python, LightGBM, psycopg2, the call-log flusher
thread). Not counted: gunicorn's HTTP handling, the kernel, PostgreSQL, Redis and wrk (the
throughput runs measure those, in CPU milliseconds).

``/score`` is also split into its parts, each called alone as the view calls it: parsing,
the service (model, decision row, INSERT, signal) and, inside it, the model (TreeSHAP
contributions and reasons), and the answer (representation and rendering). The framework
is the DRF floor (``bench/floor_urls.py``); the rest is what the view and middleware add
around the parts (call-log row, idempotency, headers, response).

Run by ``bench/run.py`` (``--only instructions``); the child side is
``python bench/instructions.py TARGET BODIES KEY REQUESTS WARMUP`` under valgrind.
"""

from __future__ import annotations

import gc
import io
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# name, what it is, settings module (None: the bare WSGI app), path
ENDPOINTS: tuple[tuple[str, str, str | None, str], ...] = (
    ("bare", "the bare endpoint: JSON in, LightGBM predict, JSON out", None, "/score"),
    (
        "django",
        "Django floor: a view answering {} through the middleware",
        "bench.floor_settings",
        "/bench/floor/django",
    ),
    ("drf", "DRF floor: /score's authentication, throttle and parsing", "bench.floor_settings", "/bench/floor/drf"),
    ("score", "POST /score", "creditplatform.settings", "/score"),
    ("score-key", "POST /score, a new Idempotency-Key on each request", "creditplatform.settings", "/score"),
    ("fraude", "POST /fraude (50 rules, velocity, model)", "creditplatform.settings", "/fraude"),
)
# /score's parts, each called alone (see ``_part``).
SCORE_PARTS: tuple[tuple[str, str], ...] = (
    ("parse", "validation (score_request_parse)"),
    ("service", "the service: model, decision row, INSERT, signal"),
    ("model", "  of which the model: matrix, TreeSHAP contributions, reasons"),
    ("answer", "the answer: representation and JSON rendering"),
)
_TOTAL = re.compile(r"^totals:\s+(\d+)", re.MULTILINE)


def callgrind_total(text: str) -> int:
    """The instruction count of one callgrind output file (0 when nothing was collected)."""
    match = _TOTAL.search(text)
    return int(match.group(1)) if match else 0


def available() -> str | None:
    """None when valgrind and callgrind_control are installed, else why the count cannot run."""
    missing = [tool for tool in ("valgrind", "callgrind_control") if not shutil.which(tool)]
    return f"needs {' and '.join(missing)} (Debian package 'valgrind')" if missing else None


# The periodic work of a request, for a measurement in one process that runs slower than a
# worker at full load. Work done every so many seconds, not every so many requests, would
# make the measure depend on how slowly the process runs: the call log is written every 200
# rows (its batch size) and the API key read and touched once, as at full load. The
# middleware's metric writes, batched per second, cost about 500 instructions a request at
# full load (one flush per several hundred requests); under valgrind a second is a few
# requests, so they would count for ten times that.
AS_AT_FULL_LOAD: dict[str, str] = {
    "API_CALL_LOG_FLUSH_SECONDS": "3600",
    "API_KEY_CACHE_SECONDS": "3600",
    "API_KEY_LAST_USED_RESOLUTION_SECONDS": "3600",
    "METRICS_FLUSH_SECONDS": "3600",
}


def measure(
    target: str, env: dict[str, str], bodies: Path, key: str, requests: int, warmup: int, keep: Path | None = None
) -> int:
    """Instructions per request of ``target`` (an endpoint or a part of /score).

    ``keep``: a directory to copy callgrind's dump into (``TARGET.callgrind``), for
    ``callgrind_annotate`` or KCachegrind to show where the instructions go, by function.
    """
    with tempfile.TemporaryDirectory(prefix=f"callgrind-{target}-") as tmp:
        out = Path(tmp) / "callgrind.out"
        metrics = Path(tmp) / "metrics"
        metrics.mkdir()
        settings = next((s for name, _, s, _ in ENDPOINTS if name == target), "creditplatform.settings")
        child_env = {
            **env,
            "PROMETHEUS_MULTIPROC_DIR": str(metrics),  # as under gunicorn (gunicorn.conf.py)
            "DJANGO_SETTINGS_MODULE": settings or "creditplatform.settings",
            **AS_AT_FULL_LOAD,
        }
        done = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={out}",
                sys.executable,
                str(Path(__file__).resolve()),
                target,
                str(bodies),
                key,
                str(requests),
                str(warmup),
            ],
            cwd=ROOT,
            env=child_env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"instructions of {target} failed:\n{done.stdout[-1500:]}\n{done.stderr[-1500:]}")
        # The dump of the measured loop is callgrind.out.1; callgrind.out itself, written at exit,
        # holds only what ran after it (instrumentation being switched off).
        dumps = sorted(Path(tmp).glob("callgrind.out.*"))
        total = sum(callgrind_total(path.read_text(errors="replace")) for path in dumps)
        if keep is not None and dumps:
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(dumps[-1], keep / f"{target}.callgrind")
    if total == 0:
        raise RuntimeError(f"instructions of {target}: callgrind collected nothing")
    return total // requests


TARGETS: tuple[str, ...] = tuple(name for name, *_ in ENDPOINTS) + tuple(name for name, _ in SCORE_PARTS)


def measure_all(
    env: dict[str, str],
    bare_env: dict[str, str],
    bodies: dict[str, Path],
    key: str,
    requests: int,
    warmup: int,
    targets: tuple[str, ...] = TARGETS,
    keep: Path | None = None,
) -> dict[str, int]:
    """Each of ``targets`` (by default every endpoint and every part of /score), two at a time
    (the counts do not depend on the load)."""
    jobs: list[tuple[str, dict[str, str], Path]] = [
        (name, bare_env if name == "bare" else env, bodies["fraude" if name == "fraude" else "score"])
        for name in targets
        if name in bodies or name != "fraude"
    ]
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(measure, name, e, b, key, requests, warmup, keep) for name, e, b in jobs}
        return {name: future.result() for name, future in futures.items()}


def instructions_report(counts: dict[str, int], requests: int) -> list[str]:
    """The counts, each endpoint next to the bare one, then /score split into its parts."""
    lines = [
        f"\nInstructions per request (callgrind, {requests} requests in-process; repeatable whatever the machine's "
        "speed; gunicorn, the kernel, PostgreSQL and wrk not counted)",
        f"{'endpoint':<10}{'instr.':>12}{'x bare':>8}   what",
    ]
    bare = counts.get("bare")
    for name, what, _, _ in ENDPOINTS:
        if name in counts:
            times = f"{counts[name] / bare:>8.1f}" if bare else f"{'-':>8}"
            lines.append(f"{name:<10}{counts[name]:>12,}{times}   {what}")
    parts = ("score", *(p for p, _ in SCORE_PARTS))
    for name, what in SCORE_PARTS:
        if name in counts and not all(part in counts for part in parts):
            lines.append(f"{name:<10}{counts[name]:>12,}{'-':>8}   /score's part: {what}")
    if not all(name in counts for name in parts):
        return lines
    score = counts["score"]
    lines.append("POST /score, by part (share of its instructions):")
    cycle = score - counts["parse"] - counts["service"] - counts["answer"]
    split = [
        *((name, counts[name], what) for name, what in SCORE_PARTS),
        (
            "cycle",
            cycle,
            "the request cycle around the parts: the decision fast path's checks (API key, permission, JSON, "
            "throttle), metrics, call log, headers, signals",
        ),
    ]
    for name, count, what in split:
        lines.append(f"  {name:<10}{count:>12,}{100 * count / score:>6.0f} %   {what}")
    if "drf" in counts:
        lines.append(
            f"  (the full stack's request cycle, the DRF floor, is {counts['drf']:,}: "
            f"{counts['drf'] / max(cycle, 1):.1f} x the fast path's, answering {{}})"
        )
    return lines


# --- The child: runs under valgrind -------------------------------------------------------------


def _callgrind(command: str) -> None:
    subprocess.run(["callgrind_control", command, str(os.getpid())], check=True, stdout=subprocess.DEVNULL)


def _wsgi(app: Any, path: str, bodies: list[bytes], key: str, idempotency: bool = False) -> Callable[[int], None]:
    """One request a call; with ``idempotency``, a new ``Idempotency-Key`` on each."""
    run = uuid.uuid4().hex[:12]
    sent = itertools.count()

    def call(i: int) -> None:
        # As bench/wrk/post.lua: {TX} (the /fraude bodies' transaction id) unique to each request,
        # numbered by the calls made, not by ``i``: the measured loop starts again at 0 after the
        # warm-up, and a repeated id would be a replay.
        serial = next(sent)
        body = bodies[i % len(bodies)].replace(b"{TX}", f"INS-{run}-{serial}".encode())
        statuses: list[str] = []
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": path,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "127.0.0.1",
            "REMOTE_ADDR": "127.0.0.1",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_X_API_KEY": key,
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.url_scheme": "http",
        }
        if idempotency:
            environ["HTTP_IDEMPOTENCY_KEY"] = f"INS-{run}-{serial}"
        result = app(environ, lambda status, headers, exc_info=None: statuses.append(status))
        try:
            answer = b"".join(result)
        finally:
            getattr(result, "close", lambda: None)()
        if not statuses[0].startswith("2"):
            raise SystemExit(f"{path}: {statuses[0]} {answer[:300]!r}")

    return call


def _part(name: str, bodies: list[bytes]) -> Callable[[int], None]:
    """One part of /score, called as the view calls it."""
    from django.conf import settings

    from creditplatform.api.renderers import OrjsonRenderer
    from scoring.api.seed import seed_score_fields
    from scoring.api.serializers import decision_representation, score_request_parse
    from scoring.choices import ModelPurpose
    from scoring.ml.predictor import require_model
    from scoring.services import application_score

    model = require_model(ModelPurpose.CREDIT)
    payloads = [json.loads(b) for b in bodies]
    parsed = [score_request_parse(p, model.schema)[0] for p in payloads]
    requests = [p for p in parsed if p is not None]
    decision = application_score(model=model, request=requests[0], caller="bench-instructions").decision
    renderer = OrjsonRenderer()

    def model_part(i: int) -> None:
        features = requests[i % len(requests)].features
        _, contributions = model.score(model.schema.matrix([features]))
        model.reasons(contributions[0], features, settings.SCORE_REASON_COUNT)

    parts: dict[str, Callable[[int], Any]] = {
        "parse": lambda i: score_request_parse(payloads[i % len(payloads)], model.schema),
        "service": lambda i: application_score(
            model=model, request=requests[i % len(requests)], caller="bench-instructions"
        ),
        "model": model_part,
        "answer": lambda i: renderer.render({**decision_representation(decision), **seed_score_fields(decision)}),
    }
    return parts[name]


def child(target: str, bodies_file: str, key: str, requests: int, warmup: int) -> None:
    bodies = [line.encode() for line in Path(bodies_file).read_text().splitlines() if line.strip()]
    endpoint = next((e for e in ENDPOINTS if e[0] == target), None)
    if endpoint and endpoint[2] is None:
        sys.path.insert(0, str(ROOT))
        from bench.bare_app import application

        call = _wsgi(application, endpoint[3], bodies, key)
    else:
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        if endpoint:
            from creditplatform.wsgi import application  # as gunicorn serves it: the decision fast path first

            call = _wsgi(application, endpoint[3], bodies, key, idempotency=target == "score-key")
        else:
            call = _part(target, bodies)
    gc.freeze()  # as a gunicorn worker does once the application is loaded (gunicorn.conf.py)
    for i in range(warmup):
        call(i)
    _callgrind("--instr=on")
    for i in range(requests):
        call(i)
    _callgrind("--dump")
    _callgrind("--instr=off")


if __name__ == "__main__":
    child(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
