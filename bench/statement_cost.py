"""What each SQL statement of a decision request costs PostgreSQL, under the requests' own load.

``make bench`` gives PostgreSQL's CPU per request as one figure (its backends' CPU over a
run, divided by the requests). This script takes it apart by statement. In one process it
sends ``--requests`` requests of ``/score`` or ``/fraude`` through the platform's WSGI
application, as gunicorn calls it (the decision fast path first), on a benchmark database
prepared by the benchmark's own setup (``bench/setup_db.py prepare``: the default models, 50
fraud rules, 5,000 clients with their history). Around each statement the request's
connection sends, the backend's CPU is read from ``/proc/<pid>/stat``, and summed by
statement (a prepared statement by its name, anything else by its verb and table).

It prints, per request: each statement's count and backend CPU, then the CPU of every
backend of the database (the request's connection, and the call log's and the API key's
writes from their own threads) and of this process. ``/proc`` counts in ticks of 10 ms, so a
statement's share is read over thousands of requests, not one; PostgreSQL must run on this
host. Run it on its own (a ``make bench`` alongside would share the cores)::

    .venv/bin/python bench/statement_cost.py --path /fraude --requests 4000

The database (``BENCH_DB_NAME``, default ``credit_bench_statements``) is made again at each
run and left for inspection.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: bench/ is on sys.path, the project root is not
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import cpu  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PATHS = ("/score", "/fraude")

# ``EXECUTE fraud_velocity_6bd755898eeb (...)``: the platform's prepared statements are named
# ``<name>_<digest of the SQL>`` (creditplatform.db.execute_prepared).
_PREPARED = re.compile(r"^\s*(EXECUTE|PREPARE)\s+([A-Za-z_][A-Za-z0-9_]*?)(?:_[0-9a-f]{12})?\b", re.IGNORECASE)
_VERB_TABLE = re.compile(
    r'^\s*(?:WITH\b.*?\)\s*)?(SELECT|INSERT\s+INTO|UPDATE|DELETE\s+FROM)\b(?:.*?\bFROM\b)?\s*"?([A-Za-z_][A-Za-z0-9_]*)',
    re.IGNORECASE | re.DOTALL,
)


def statement_key(sql: str) -> str:
    """A statement's name in the report: a prepared statement's name, else its verb and first table, else its verb."""
    prepared = _PREPARED.match(sql)
    if prepared:
        verb, name = prepared.groups()
        return name if verb.upper() == "EXECUTE" else f"PREPARE {name}"
    found = _VERB_TABLE.match(sql)
    if found:
        verb, table = found.groups()
        return f"{' '.join(verb.upper().split())} {table}"
    words = sql.split()
    return words[0].upper() if words else "(empty)"  # SAVEPOINT, RELEASE, COMMIT...: their names vary


@dataclass
class StatementCosts:
    """A ``connection.execute_wrapper``: each statement's count and its backend's CPU, by ``statement_key``."""

    backend_pid: int
    read_cpu: Callable[[int], float] = cpu.process_seconds
    counts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        before = self.read_cpu(self.backend_pid)
        try:
            return execute(sql, params, many, context)
        finally:
            key = statement_key(sql)
            self.counts[key] = self.counts.get(key, 0) + 1
            self.seconds[key] = self.seconds.get(key, 0.0) + self.read_cpu(self.backend_pid) - before


def measure(call: Callable[[int], None], requests: int, warmup: int, database: str = "") -> dict[str, Any]:
    """``requests`` calls of ``call`` after ``warmup``: per statement and in all, per request."""
    from django.db import connection

    for i in range(warmup):
        call(i)
    connection.ensure_connection()
    costs = StatementCosts(connection.connection.get_backend_pid())
    before = cpu.snapshot([os.getpid()], database)
    started = time.process_time()
    with connection.execute_wrapper(costs):
        for i in range(warmup, warmup + requests):
            call(i)
    process_s = time.process_time() - started
    split = cpu.cpu_split(before, cpu.snapshot([os.getpid()], database), requests)
    return {
        "requests": requests,
        "statements": {
            key: {"per_request": costs.counts[key] / requests, "backend_ms": costs.seconds[key] * 1000 / requests}
            for key in sorted(costs.counts, key=lambda k: -costs.seconds[k])
        },
        "statement_backend_ms": sum(costs.seconds.values()) * 1000 / requests,
        "database_backends_ms": split["postgres"]["this_database_ms"],
        "process_ms": process_s * 1000 / requests,
    }


def report(path: str, result: dict[str, Any]) -> list[str]:
    lines = [
        f"POST {path}: PostgreSQL's CPU per request, by statement ({result['requests']:,} requests in one process)",
        f"{'statement':<36} {'per request':>11} {'backend ms':>11}",
    ]
    for key, cost in result["statements"].items():
        lines.append(f"{key[:36]:<36} {cost['per_request']:>11.2f} {cost['backend_ms']:>11.3f}")
    lines += [
        f"{'all statements of the request':<36} {'':>11} {result['statement_backend_ms']:>11.3f}",
        f"every backend of the database (the call log's and the API key's writes included): "
        f"{result['database_backends_ms']:.3f} ms; this process: {result['process_ms']:.3f} ms",
    ]
    return lines


def child(path: str, prepared_file: str, requests: int, warmup: int, database: str) -> None:
    import django

    django.setup()
    from bench.instructions import _wsgi
    from bench.run import SCORE_BODIES, fraud_bodies
    from creditplatform.wsgi import application  # as gunicorn serves it: the decision fast path first

    prepared = json.loads(Path(prepared_file).read_text())
    bodies = SCORE_BODIES if path == "/score" else fraud_bodies(prepared["fraud"])
    encoded = [json.dumps(body, separators=(",", ":")).encode() for body in bodies]
    call = _wsgi(application, path, encoded, str(prepared["api_key"]))
    print("\n".join(report(path, measure(call, requests, warmup, database))))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--path", choices=PATHS, default="/fraude")
    parser.add_argument("--requests", type=int, default=4000, help="measured requests (4,000)")
    parser.add_argument("--warmup", type=int, default=300, help="requests before (300)")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # the prepared benchmark's JSON, in the measuring process
    args = parser.parse_args(argv)
    if args.requests < 1 or args.warmup < 0:
        parser.error("--requests must be at least 1 and --warmup at least 0")
    if args.child:
        child(args.path, args.child, args.requests, args.warmup, os.environ.get("BENCH_DATABASE_NAME", ""))
        return 0

    from bench.instructions import AS_AT_FULL_LOAD
    from bench.run import bench_environment, database_name, setup

    os.environ.setdefault("BENCH_DB_NAME", "credit_bench_statements")
    with tempfile.TemporaryDirectory(prefix="statement-cost-") as tmp:
        workdir = Path(tmp)
        env, described = bench_environment(workdir)
        if not env.get("DATABASE_URL", "").startswith("postgres"):
            print("statement_cost needs PostgreSQL on this host (127.0.0.1:5432)", file=sys.stderr)
            return 2
        scenario = "the default models and 50 fraud rules" if args.path == "/fraude" else "the default models"
        print(f"Preparing {described['database']}: migrate, {scenario}...", flush=True)
        prepared = setup(env, workdir, "prepare", *([] if args.path == "/fraude" else ["no-fraud"]))
        prepared_file = workdir / "prepared.json"
        prepared_file.write_text(json.dumps(prepared))
        metrics = workdir / "metrics"
        metrics.mkdir()
        child_env = {
            **env,
            "DJANGO_SETTINGS_MODULE": "creditplatform.settings",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics),  # as under gunicorn (gunicorn.conf.py)
            "BENCH_DATABASE_NAME": database_name(env),
            **AS_AT_FULL_LOAD,
        }
        done = subprocess.run(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--path",
                args.path,
                "--requests",
                str(args.requests),
                "--warmup",
                str(args.warmup),
                "--child",
                str(prepared_file),
            ],
            cwd=ROOT,
            env=child_env,
            capture_output=True,
            text=True,
        )
        sys.stdout.write(done.stdout)
        if done.returncode != 0:
            sys.stderr.write(done.stderr[-3000:])
        return done.returncode


if __name__ == "__main__":
    raise SystemExit(main())
