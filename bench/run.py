"""``make bench``: the performance goals of docs/performance.md, each next to its baseline, measured in one run.

/score: the platform (gunicorn + Django + DRF: API-key authentication, throttling, schema
validation, LightGBM probability and TreeSHAP reasons, the decision INSERT, the call log)
against a bare WSGI endpoint that only parses JSON and calls the same LightGBM model, both
served by the same gunicorn configuration and driven by the same load generator (wrk) with
16 connections on this machine:

- **saturation**: 16 connections as fast as the server answers: decisions/s and latency;
- **paced**: the same 16 connections sending ``--rate`` (500) requests/s in all, on a fixed
  schedule: the latency a client sees at the design rate (flagged when the server could not
  follow it: under 95 % of the rate reached).

/fraude (when the fraud app is installed): the same two loads, 50 active rules, velocity
features and the model, against the same bare endpoint, paced at ``--fraude-rate`` (300).

Framework floor (``--only floor``): two endpoints that decide nothing, served with the
platform's settings (``bench/floor_urls.py``): a Django view through the middleware, and a
DRF view with ``/score``'s authentication, permission, throttle and parsing. Their share
of the bare endpoint's throughput bounds what any decision endpoint on this stack reaches.

Each load runs ``--repeat`` (3) times; the median run is reported, every run shown. During
each saturation run the CPU time of every process on the machine is read from ``/proc``
(``bench/cpu.py``): CPU per request of gunicorn, PostgreSQL, Redis, wrk and the rest. After
the runs the database is checked per request: each request carries its own X-Request-ID,
which the call log keeps; every request answered 2xx must have one call-log row and one
stored decision (``/score``), one transaction and one check (``/fraude``): none lost, none twice.
Each server's log (gunicorn's own and the application's) is kept in the work directory and
read once the server has stopped: a worker killed, timed out or exited with an error, or an
error or warning logged, is printed next to the ledger.

Growth (``--only growth``): on 2,000,000 seeded decisions (a quarter with an outcome), the
first and a deep page of the decisions list, the admin list and search, ``/fraude`` for a
client with 20,000 recent transactions against a new one, table sizes, and the monthly
performance and fairness reports (wall time and peak memory of each command).

Drift: ``manage.py drift_report`` over a day of 1,000,000 stored decisions (wall time and
peak memory of the whole command, Django start included), next to Evidently alone comparing
in-memory frames of the sample's size and of all 1,000,000 rows.

Soak (``--only soak``, not part of the default run): ``--soak-seconds`` (60) of ``/score``
at saturation from 16 connections, after a warm-up, while the resident memory of each
gunicorn worker (and, on PostgreSQL, the number of database connections) is sampled every
``--soak-interval`` seconds: errors, then memory at start, end and peak, and its slope.

The database is PostgreSQL when one answers on 127.0.0.1:5432 (a fresh ``credit_bench``
database, or ``BENCH_DB_NAME``) or ``DATABASE_URL``, else a SQLite file; Redis likewise for the cache. Results are
printed and written to ``bench/results/latest.json``. No threshold is enforced: the goals
are printed beside the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: bench/ is on sys.path, the project root is not
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import cpu, gcpauses, instructions

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
GUNICORN = str(Path(PYTHON).with_name("gunicorn"))
LUA = ROOT / "bench" / "wrk" / "post.lua"
RESULTS = ROOT / "bench" / "results"

# The goals: p99 <= 15 ms at these paced rates, throughput >= these shares of the bare endpoint's.
SCORE_GOAL_RATE, FRAUDE_GOAL_RATE = 500.0, 300.0
SCORE_GOAL_SHARE, FRAUDE_GOAL_SHARE = 0.3, 0.2
GOAL_P99_MS = 15.0

SCORE_BODIES: list[dict[str, Any]] = [
    {"age": 35, "revenu": 50000, "historique_impaye": 1},
    {"age": 23, "revenu": 60, "historique_impaye": 2, "job": "partime", "seniority_years": 0, "client_id": "C1001"},
    {"age": 48, "revenu": 250, "historique_impaye": 0, "job": "fixed", "home": "owner", "amount": 1200, "price": 1500},
    {"age": 61, "revenu": 140, "historique_impaye": 0, "marital_status": "married", "assets": 5000, "debt": 0},
]


def _port_open(host: str, port: int) -> bool:
    with contextlib.closing(socket.socket()) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bench_environment(workdir: Path) -> tuple[dict[str, str], dict[str, str]]:
    """The environment of every process of the run, and a description of it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "REQUIRE_"))}
    env.update(
        {
            "OMP_NUM_THREADS": "1",
            "LOG_LEVEL": "WARNING",
            "ENVIRONMENT": "development",
            "DEBUG": "0",
            "VAR_DIR": str(workdir / "var"),
            "THROTTLE_RATE_APIKEY": "10000000/min",  # measure the throttle's cost, not its refusals
        }
    )
    described: dict[str, str] = {}
    db_name = os.environ.get("BENCH_DB_NAME", "credit_bench")
    if not db_name.replace("_", "").isalnum():
        raise SystemExit(f"BENCH_DB_NAME must be letters, digits and '_': {db_name!r}")
    if not os.environ.get("DATABASE_URL") and shutil.which("psql") and _port_open("127.0.0.1", 5432):
        subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-qc",
                f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)",
                "-c",
                f"CREATE DATABASE {db_name}",
            ],
            check=True,
            capture_output=True,
        )
        env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{db_name}"
    described["database"] = env.get("DATABASE_URL", "sqlite (embedded default)").split("@")[-1]
    if not os.environ.get("REDIS_URL") and _port_open("127.0.0.1", 6379):
        env["REDIS_URL"] = "redis://127.0.0.1:6379/9"
    described["cache"] = env.get("REDIS_URL", "local memory (embedded default)")
    return env, described


@contextlib.contextmanager
def gunicorn(
    app: str,
    env: dict[str, str],
    workers: int,
    ready_path: str,
    worker_class: str = "sync",
    threads: int = 1,
    log: Path | None = None,
) -> Iterator[Served]:
    """A gunicorn server for the duration of the block; its own log and the application's go to ``log``.

    Kept (not discarded) so that a worker that died, timed out or logged an error during a
    run can be reported next to the run (``server_log_events``). Without ``log``, a
    temporary file.
    """
    port = _free_port()
    if log is None:
        handle, name = tempfile.mkstemp(prefix="bench-gunicorn-", suffix=".log")
        os.close(handle)
        log = Path(name)
    with log.open("ab") as sink:
        proc = _start_gunicorn(app, env, workers, port, worker_class, threads, sink)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{app} exited: {log.read_text(errors='replace')[-2000:]}")
            try:
                req = urllib.request.Request(
                    url + ready_path,
                    method="GET" if ready_path.endswith("health") else "POST",
                    data=None if ready_path.endswith("health") else b"{}",
                )
                urllib.request.urlopen(req, timeout=2).read()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{app} did not answer within 60 s") from None
                time.sleep(0.3)
        served = Served(url, proc.pid, log)
        # One worker answering is not all of them: gunicorn forks its workers one by one, with a
        # short random pause between forks. A run (its CPU accounting, its restart check) starts
        # only once every worker is there.
        while served.can_list_workers() and len(served.worker_pids()) < workers:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{app}: {len(served.worker_pids())} of {workers} workers within 60 s")
            time.sleep(0.05)
        yield served
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=40)  # gunicorn gives stopping workers 30 s (graceful_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()


def _start_gunicorn(
    app: str, env: dict[str, str], workers: int, port: int, worker_class: str, threads: int, sink: Any
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            GUNICORN,
            app,
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            worker_class,
            "--threads",
            str(threads),
            "--log-level",
            "warning",
            "--backlog",
            "2048",
        ],
        cwd=ROOT,
        env=env,
        stdout=sink,
        stderr=sink,
    )


# What in a server's log says a request may have gone unlogged or a worker died: gunicorn's
# own messages for a killed, timed-out or crashed worker, and any error of the application.
SERVER_LOG_EVENTS = (
    ("worker timeout", ("WORKER TIMEOUT",)),
    ("worker killed", ("was sent ",)),  # "Worker (pid:N) was sent SIGKILL!" (or SIGSEGV, SIGABRT...)
    ("worker exited with an error", ("exited with code",)),
    ("error logged", ('"level": "ERROR"', '"level": "CRITICAL"', "[ERROR]", "[CRITICAL]", "Traceback")),
    ("warning logged", ('"level": "WARNING"', "[WARNING]")),
)


def server_log_events(log: Path) -> dict[str, Any]:
    """Counts of ``SERVER_LOG_EVENTS`` in a gunicorn log (its own and the application's), and their first lines."""
    counts = dict.fromkeys((name for name, _ in SERVER_LOG_EVENTS), 0)
    first: list[str] = []
    text = log.read_text(errors="replace") if log.exists() else ""
    for line in text.splitlines():
        for name, marks in SERVER_LOG_EVENTS:
            if any(mark in line for mark in marks):
                counts[name] += 1
                if len(first) < 5:
                    first.append(line[:300])
                break
    return {"log": str(log), "counts": counts, "first": first}


def server_log_lines(label: str, events: dict[str, Any] | None) -> list[str]:
    """One line per server: what its log says about workers and errors (nothing = all clean)."""
    if not events:
        return []
    found = {name: n for name, n in events["counts"].items() if n}
    if not found:
        return [
            f"{label} server log: no worker died or timed out, nothing logged at warning or above ({events['log']})"
        ]
    lines = [
        f"WARNING: {label} server log: " + ", ".join(f"{n} {name}" for name, n in found.items()) + f" ({events['log']})"
    ]
    lines += [f"  {line}" for line in events["first"]]
    return lines


@dataclass(frozen=True)
class Served:
    url: str
    pid: int  # gunicorn's master process
    log: Path  # its log and the application's (stdout and stderr)

    def _children(self) -> Path:
        return Path(f"/proc/{self.pid}/task/{self.pid}/children")

    def can_list_workers(self) -> bool:
        """Whether this system lists a process's children (Linux's /proc does)."""
        return self._children().exists()

    def worker_pids(self) -> list[int]:
        children = self._children()
        return sorted(int(p) for p in children.read_text().split()) if children.exists() else []


def rss_mb(pid: int) -> float:
    """Resident memory of one process (VmRSS), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wrk(
    url: str,
    path: str,
    bodies: Path,
    key: str,
    *,
    connections: int,
    seconds: float,
    rate: float | None,
    run_id: str,
    cpu_of: Served | None = None,
    database: str = "",
    answered: Path | None = None,
) -> dict[str, Any]:
    """One wrk run: its BENCH figures, its wall-clock span and, with ``cpu_of``, the machine's CPU per request.

    With ``answered``, wrk writes there the X-Request-ID of every 2xx answer, one a line.
    """
    env = {
        **os.environ,
        "BENCH_BODIES": str(bodies),
        "BENCH_PATH": path,
        "BENCH_API_KEY": key,
        "BENCH_RUN": run_id,
        "BENCH_RATE": str(rate or 0),
        "BENCH_THREADS": str(min(2, connections)),
        "BENCH_ANSWERED": str(answered or ""),
    }
    threads = min(2, connections)
    before = cpu.snapshot([cpu_of.pid, *cpu_of.worker_pids()], database) if cpu_of else None
    started = time.time()
    done = subprocess.run(
        [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{int(seconds)}s",
            "--timeout",
            "10s",
            "-s",
            str(LUA),
            url + path,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    ended = time.time()
    line = next(x for x in done.stdout.splitlines() if x.startswith("BENCH "))
    result = json.loads(line[len("BENCH ") :])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["span"] = [started, ended]
    if answered:
        result["answered_file"] = str(answered)
    if cpu_of and before:
        after = cpu.snapshot([cpu_of.pid, *cpu_of.worker_pids()], database)
        result["cpu"] = cpu.cpu_split(before, after, result["requests"])
    return result


def setup(env: dict[str, str], workdir: Path, action: str, *extra: str) -> dict[str, Any]:
    return setup_args(env, [action, str(workdir), *extra])


def _bodies(path: Path, bodies: list[dict[str, Any]]) -> Path:
    path.write_text("\n".join(json.dumps(b, separators=(",", ":")) for b in bodies) + "\n")
    return path


def fraud_bodies(fraud: dict[str, Any], n: int = 4000) -> list[dict[str, Any]]:
    """Everyday payments of the prepared clients: mostly domestic cards, known beneficiaries.

    ``bench/fraud_setup.py`` gives client ``BENCH-C<n>`` the beneficiaries ``FR76BENCH<n><0-2>``;
    a few payments go abroad, to new beneficiaries or are large, so some rules fire and some
    transactions are sent to review, as in real traffic (not every second one).
    """
    import random

    rng = random.Random(11)
    types = fraud["types"]
    out = []
    for _ in range(n):
        index = rng.randrange(len(fraud["client_ids"]))
        kind = rng.choices(types, weights=[0.6, 0.2, 0.12, 0.08][: len(types)])[0]
        body: dict[str, Any] = {
            "transaction_id": "{TX}",
            "montant": round(rng.lognormvariate(3.8, 0.9), 2),
            "type": kind,
            "client_id": fraud["client_ids"][index],
            "country": "FR" if rng.random() < 0.9 else rng.choice(fraud["countries"]),
            "channel": rng.choice(["web", "mobile", "pos"]),
        }
        if kind == "virement":
            known = rng.random() < 0.9
            body["beneficiary"] = (
                f"FR76BENCH{index:05d}{rng.randrange(3)}" if known else f"FR76NEW{rng.randrange(10**6)}"
            )
        out.append(body)
    return out


def run_pair(
    name: str,
    platform: dict[str, Any],
    bare: dict[str, Any],
    loads: list[tuple[str, float | None]],
    args: argparse.Namespace,
    env: dict[str, str],
    key: str,
    bodies: Path,
    ledger: dict[str, dict[str, Any]] | None = None,
    *,
    answered_ids: bool = False,
    server_logs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Each load against the platform and the bare baseline, their runs side by side.

    Both servers are up together (the one not under load waits, idle) and each run of the
    platform is next to a run of the bare endpoint, in turns (platform then bare, then bare
    then platform, ...): this machine's speed drifts by a quarter within minutes, so a share
    of the bare endpoint's throughput is read from two runs seconds apart
    (``platform:saturation``'s ``shares``), not from two series minutes apart.

    ``ledger`` (when given) receives, per platform run id (warm-up included), what wrk saw
    answered: the stored rows are checked against it afterwards. With ``answered_ids``, wrk
    also lists the id of each platform request it saw answered 2xx (a file beside ``bodies``).
    ``server_logs`` (when given) receives, per server, what its log says (``server_log_events``).
    """
    out: dict[str, Any] = {}
    targets = {"platform": platform, "bare": bare}

    def answers(run_id: str, label: str) -> Path | None:
        return bodies.parent / f"answered-{run_id}.txt" if answered_ids and label == "platform" else None

    def pauses(label: str) -> Path:
        return bodies.parent / f"gc-{name}{label}"  # each worker's collections (gunicorn.conf.py)

    def log(label: str) -> Path:
        return bodies.parent / f"gunicorn-{name}{label}.log"

    def run(label: str, run_id: str, seconds: float, rate: float | None, *, measured: bool = True) -> dict[str, Any]:
        result = wrk(
            served[label].url,
            targets[label]["path"],
            bodies,
            key,
            connections=args.connections,
            seconds=seconds,
            rate=rate,
            run_id=run_id,
            cpu_of=served[label] if measured and rate is None else None,
            database=database_name(env),
            answered=answers(run_id, label),
        )
        if ledger is not None and label == "platform":
            ledger[run_id] = result
        return result

    with contextlib.ExitStack() as stack:
        served = {
            label: stack.enter_context(
                gunicorn(
                    target["app"],
                    {**target["env"], "GC_PAUSE_LOG": str(pauses(label))},
                    args.workers,
                    target["ready"],
                    args.worker_class,
                    args.threads,
                    log(label),
                )
            )
            for label, target in targets.items()
        }
        for label in targets:
            run(label, f"{name}{label}w", 2, None, measured=False)
        for load, rate in loads:
            runs: dict[str, list[dict[str, Any]]] = {label: [] for label in targets}
            for n in range(args.repeat):
                for label in targets if n % 2 == 0 else reversed(targets):
                    runs[label].append(run(label, f"{name}{label}{load}{n}", args.seconds, rate))
            for label in targets:
                merged = median_run(runs[label])
                merged["gc"] = gcpauses.summary(gcpauses.read(pauses(label)), [r["span"] for r in runs[label]])
                out[f"{label}:{load}"] = merged
            if rate is None:  # at a paced load both servers answer the same rate
                out[f"platform:{load}"]["shares"] = paired_shares(runs["platform"], runs["bare"])
    if server_logs is not None:
        for label in targets:
            server_logs[label] = server_log_events(log(label))  # read once the servers have stopped
    return out


def paired_shares(platform: list[dict[str, Any]], bare: list[dict[str, Any]]) -> list[float]:
    """Each platform run's throughput as a share of the bare run beside it (runs in the same order)."""
    return [p["rps"] / b["rps"] for p, b in zip(platform, bare, strict=True) if b["rps"] > 0]


FLOOR_TARGETS = (
    ("django", "/bench/floor/django", "a Django view that answers {}, through the platform's middleware"),
    ("drf", "/bench/floor/drf", "a DRF view with /score's authentication, permission, throttle and parsing"),
    ("score", "/score", "POST /score itself, in the same run: the floor plus the decision"),
)


def run_floor(
    args: argparse.Namespace, env: dict[str, str], bare: dict[str, Any], key: str, bodies: Path
) -> dict[str, Any]:
    """The framework floor at saturation: the two empty endpoints of ``bench/floor_urls.py``, then the bare one.

    Served by the same gunicorn configuration as the platform, with its settings
    (``bench.floor_settings`` adds only the two routes), and the same ``/score`` bodies.
    """
    floor_env = {**env, "DJANGO_SETTINGS_MODULE": "bench.floor_settings"}
    targets = [
        (name, {"app": "creditplatform.wsgi", "env": floor_env, "path": path, "ready": "/api/v1/health"})
        for name, path, _ in FLOOR_TARGETS
    ]
    out: dict[str, Any] = {}
    for label, target in [*targets, ("bare", bare)]:
        log = bodies.parent / f"gunicorn-floor{label}.log"
        with gunicorn(
            target["app"], target["env"], args.workers, target["ready"], args.worker_class, args.threads, log
        ) as served:
            common = {"connections": args.connections, "rate": None, "database": database_name(env)}
            wrk(served.url, target["path"], bodies, key, seconds=2, run_id=f"floor{label}w", **common)
            runs = [
                wrk(
                    served.url,
                    target["path"],
                    bodies,
                    key,
                    seconds=args.seconds,
                    run_id=f"floor{label}{n}",
                    cpu_of=served,
                    **common,
                )
                for n in range(args.repeat)
            ]
            out[f"{label}:saturation"] = median_run(runs)
    return out


def floor_report(results: dict[str, Any]) -> list[str]:
    """Each floor endpoint's throughput as a share of the bare endpoint's, beside the decision goals."""
    lines = [
        "\nFramework floor (endpoints that decide nothing, same settings and gunicorn; saturation)",
        f"{'endpoint':<10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'of bare':>9}   runs (req/s)",
    ]
    bare = results["bare:saturation"]["rps"]
    for label in [name for name, _, _ in FLOOR_TARGETS] + ["bare"]:
        r = results[f"{label}:saturation"]
        errors = r["status_errors"] + r["socket_errors"]
        each = " / ".join(f"{x['rps']:.0f}" for x in r.get("runs", []))
        lines.append(
            f"{label:<10}{r['rps']:>9.0f}{ms(r['p50_us']):>9}{ms(r['p99_us']):>9}{errors:>8}"
            f"{r['rps'] / bare:>9.0%}   {each}"
        )
    for name, _, what in FLOOR_TARGETS:
        lines.append(f"  {name}: {what}")
    drf = results["drf:saturation"]["rps"] / bare
    lines.append(
        f"A decision endpoint on this stack reaches at most {drf:.0%} of the bare endpoint's throughput "
        f"(goals: /score >= {SCORE_GOAL_SHARE:.0%}, /fraude >= {FRAUDE_GOAL_SHARE:.0%}) before it decides anything."
    )
    for label in [name for name, _, _ in FLOOR_TARGETS] + ["bare"]:
        sat = results[f"{label}:saturation"]
        if "cpu" in sat:
            lines.append(f"{label} at saturation, {cpu.cpu_line(sat['cpu'])}")
    return lines


def database_name(env: dict[str, str]) -> str:
    """The benchmark database's name on PostgreSQL (its backends' process titles show it), else ''."""
    url = env.get("DATABASE_URL", "")
    return url.rsplit("/", 1)[-1].split("?")[0] if url.startswith("postgres") else ""


def database_connections(env: dict[str, str]) -> int | None:
    """Connections to the bench database (not counting this one), on PostgreSQL; None elsewhere."""
    url = env.get("DATABASE_URL", "")
    if not url.startswith("postgres") or not shutil.which("psql"):
        return None
    sql = "SELECT count(*) - 1 FROM pg_stat_activity WHERE datname = current_database()"
    done = subprocess.run(["psql", url, "-XAtc", sql], capture_output=True, text=True, check=False)
    return int(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip() else None


def slope_per_minute(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) samples, per minute."""
    if len(samples) < 2:
        return 0.0
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_v = sum(v for _, v in samples) / n
    spread = sum((t - mean_t) ** 2 for t, _ in samples)
    return 60 * sum((t - mean_t) * (v - mean_v) for t, v in samples) / spread if spread else 0.0


def soak(args: argparse.Namespace, env: dict[str, str], key: str, bodies: Path) -> dict[str, Any]:
    """/score at saturation for ``--soak-seconds`` while the workers' memory is sampled."""
    import threading

    with gunicorn(
        "creditplatform.wsgi", env, args.workers, "/api/v1/health", log=bodies.parent / "gunicorn-soak.log"
    ) as served:
        # Warm-up: models loaded, caches and connection pools filled, before memory counts.
        wrk(served.url, "/score", bodies, key, connections=args.connections, seconds=5, rate=None, run_id="soakw")
        workers = served.worker_pids()
        samples: list[dict[str, Any]] = []
        stop = threading.Event()
        started = time.monotonic()

        def sample() -> None:
            while True:
                rss = {pid: rss_mb(pid) for pid in workers}
                samples.append(
                    {"t": time.monotonic() - started, "rss_mb": rss, "db_connections": database_connections(env)}
                )
                if stop.wait(args.soak_interval):
                    return

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            load = wrk(
                served.url,
                "/score",
                bodies,
                key,
                connections=args.connections,
                seconds=args.soak_seconds,
                rate=None,
                run_id="soak",
            )
        finally:
            stop.set()
            sampler.join()
        restarted = served.worker_pids() != workers
    totals = [(x["t"], sum(x["rss_mb"].values())) for x in samples]
    connections = [x["db_connections"] for x in samples if x["db_connections"] is not None]
    return {
        "load": load,
        "workers": len(workers),
        "workers_restarted": restarted,
        "samples": samples,
        "rss_mb_start": totals[0][1],
        "rss_mb_end": totals[-1][1],
        "rss_mb_max": max(v for _, v in totals),
        "rss_mb_per_minute": slope_per_minute(totals),
        "db_connections": [min(connections), max(connections)] if connections else None,
    }


def soak_report(result: dict[str, Any], seconds: float) -> list[str]:
    load = result["load"]
    errors = load["status_errors"] + load["socket_errors"]
    lines = [
        f"\nSoak: POST /score at saturation for {seconds:g} s ({result['workers']} gunicorn workers, "
        f"{len(result['samples'])} memory samples)",
        f"requests {load['requests']}, {load['rps']:.0f} req/s, p50 {ms(load['p50_us'])} ms, "
        f"p99 {ms(load['p99_us'])} ms, errors {errors} (goal 0)",
        f"worker RSS (sum) start {result['rss_mb_start']:.1f} MB, end {result['rss_mb_end']:.1f} MB, "
        f"max {result['rss_mb_max']:.1f} MB, slope {result['rss_mb_per_minute']:+.2f} MB/min (goal: flat)",
    ]
    if result["db_connections"]:
        low, high = result["db_connections"]
        lines.append(f"database connections during the soak: {low} to {high} (goal: flat)")
    if result["workers_restarted"]:
        lines.append("WARNING: a gunicorn worker was replaced during the soak")
    return lines


# The latency figures of a run that are each reported as their median over the runs.
LATENCY_FIGURES = ("p50_us", "p90_us", "p95_us", "p99_us", "mean_us")


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several runs of one load as one (the machine is shared: one run can be unlucky), with all runs.

    Throughput, CPU and the counts are those of the run with the median throughput. Each
    latency percentile is the median of the runs' own: at a paced load every run reaches its
    rate, so the run with the median throughput is picked by noise, and its p99 with it (the
    ninth round's 20.5 ms for ``/fraude`` was such a run's). ``max_us`` is the largest of all.
    """
    ordered = sorted(runs, key=lambda r: r["rps"])
    chosen = dict(ordered[len(ordered) // 2])
    for key in LATENCY_FIGURES:
        values = [r[key] for r in runs if key in r]
        if values and len(values) == len(runs):
            chosen[key] = statistics.median(values)
    if all("max_us" in r for r in runs):
        chosen["max_us"] = max(r["max_us"] for r in runs)
    chosen["runs"] = [{k: r[k] for k in ("rps", "p50_us", "p95_us", "p99_us", "cpu", "span") if k in r} for r in runs]
    chosen["requests_all_runs"] = sum(r["requests"] for r in runs)
    return chosen


def ms(us: float) -> str:
    return f"{us / 1000:.2f}"


PACED_SHORTFALL = 0.95  # a paced run that reached less than this share of its target did not keep up


def paced_shortfall(achieved: float, target: float | None) -> str | None:
    """A warning when a paced run fell behind its target rate (below 95 %), else None."""
    if not target or achieved >= PACED_SHORTFALL * target:
        return None
    return (
        f"could not follow the paced rate: {achieved:.0f} req/s of {target:g} ({achieved / target:.0%}); "
        "its latency is that of a saturated server, not of the paced load"
    )


def report(
    name: str,
    results: dict[str, Any],
    goal_p99_ms: float,
    goal_rps: float | None,
    goal_share: float = 0.3,
    *,
    paced_rate: float | None = None,
    goal_rate: float | None = None,
) -> list[str]:
    """The table of every load and server (each run's req/s shown), then each figure beside its goal.

    ``paced_rate`` is the rate the paced load was asked for, ``goal_rate`` the rate the p99 goal
    is stated at (the issue's); the machine CPU per request of the saturation runs follows.
    """
    lines = [
        f"\n{name}",
        f"{'load':<11}{'server':<10}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}"
        "   runs (req/s; p99 ms); latencies: the median of the runs'",
    ]
    for key, r in results.items():
        server, load = key.split(":")
        errors = r["status_errors"] + r["socket_errors"]
        runs = r.get("runs", [])
        each = " / ".join(f"{x['rps']:.0f}" for x in runs)
        if runs and all("p99_us" in x for x in runs):
            each += "; " + " / ".join(ms(x["p99_us"]) for x in runs)
        lines.append(
            f"{load:<11}{server:<10}{r['rps']:>9.0f}{ms(r['p50_us']):>9}{ms(r['p95_us']):>9}{ms(r['p99_us']):>9}"
            f"{errors:>8}   {each}"
        )
    sat_p, sat_b = results.get("platform:saturation"), results.get("bare:saturation")
    paced = results.get("platform:paced")
    if sat_p and sat_b:
        shares = sat_p.get("shares")
        share = statistics.median(shares) if shares else sat_p["rps"] / sat_b["rps"]
        met = "met" if share >= goal_share else "NOT met"
        how = (
            f"the median of {len(shares)} runs, each beside a bare run: "
            + " / ".join(f"{s:.0%}" for s in shares)
            + "; "
            if shares
            else ""
        )
        lines.append(f"platform throughput = {share:.0%} of the bare endpoint's ({how}goal >= {goal_share:.0%}: {met})")
    if goal_rps and sat_p:
        lines.append(f"platform decisions/s at saturation = {sat_p['rps']:.0f} (goal >= {goal_rps:.0f})")
    if paced:
        p99 = paced["p99_us"] / 1000
        at = f" at {goal_rate:g} req/s" if goal_rate else ""
        met = "met" if p99 <= goal_p99_ms and not paced_shortfall(paced["rps"], paced_rate) else "NOT met"
        lines.append(
            f"platform p99 at ~{paced['rps']:.0f} req/s (paced at {paced_rate:g}) = {p99:.2f} ms "
            f"(goal <= {goal_p99_ms:g} ms{at}: {met})"
            if paced_rate
            else f"platform p99 at ~{paced['rps']:.0f} req/s = {p99:.2f} ms (goal <= {goal_p99_ms:g} ms{at})"
        )
        if paced_rate and goal_rate and paced_rate != goal_rate:
            lines.append(f"  (paced at {paced_rate:g} req/s, not at the goal's {goal_rate:g})")
    for key, r in results.items():
        server, load = key.split(":")
        warning = paced_shortfall(r["rps"], paced_rate) if load == "paced" else None
        if warning:
            lines.append(f"WARNING: {server} {warning}")
    for server in ("platform", "bare"):
        sat = results.get(f"{server}:saturation")
        if sat and "cpu" in sat:
            lines.append(f"{server} at saturation, {cpu.cpu_line(sat['cpu'])}")
    for key, r in results.items():
        if "gc" in r:
            server, load = key.split(":")
            lines.append(gcpauses.line(server, load, r["gc"], len(r.get("runs", [])) or 1))
    return lines


def erasure_report(env: dict[str, str], workdir: Path, transactions: int) -> list[str]:
    """GDPR erasure of one client with ``transactions`` transactions, next to a plain DELETE of the same rows."""
    print(f"Erasure: building clients with {transactions:,} transactions (3 rounds)...", flush=True)
    done = subprocess.run(
        [PYTHON, str(ROOT / "bench" / "setup_db.py"), "erasure", str(workdir), str(transactions)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"erasure bench failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    r = json.loads(next(x for x in done.stdout.splitlines() if x.startswith("SETUP "))[len("SETUP ") :])
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "erasure.json").write_text(json.dumps(r, indent=2))
    each = " / ".join(f"{x:.3f}" for x in r["erasure_seconds"])
    base = " / ".join(f"{x:.3f}" for x in r["baseline_delete_seconds"])
    return [
        f"\nGDPR erasure of a client with {r['transactions']:,} transactions (median of {r['rounds']} rounds)",
        f"  erasure service (holds, pseudonymise {r['rows_kept_pseudonymised']:,} kept rows, delete "
        f"{r['rows_deleted']:,}, certificate, audit): {r['erasure_median_seconds']:.3f} s  (runs: {each})  goal <= 1 s",
        f"  baseline: plain DELETE of the same rows, nothing kept: {r['baseline_median_seconds']:.3f} s"
        f"  (runs: {base})",
    ]


def score_ledger_problems(ledger: dict[str, dict[str, Any]], stored: dict[str, Any], connections: int) -> list[str]:
    """What does not add up between the /score runs wrk saw and the rows they stored; [] when all do.

    Each request carries the id ``B<run>-<thread>-<n>`` as its X-Request-ID, which the call log
    keeps. Per run: every request answered 2xx has exactly one call-log row with status 2xx
    (no id twice; a request still in flight when wrk stopped may be logged unanswered, at most
    one per connection, and so may leave a gap in a thread's numbers); and the decisions stored
    between the run's start and end equal its 2xx call-log rows, give or take the requests in
    flight at either edge (at most one per connection at each). Over all the runs, with no other
    traffic from the benchmark's key, decisions and 2xx call-log rows must be equal exactly.
    When wrk listed the ids it saw answered 2xx, the check is by id: each of them has its
    2xx call-log row, and at most one per connection is logged without being seen answered.
    """
    problems = []
    for run_id, run in ledger.items():
        s = stored["runs"].get(run_id)
        if s is None:
            problems.append(f"{run_id}: not checked")
            continue
        answered = run["requests"] - run["status_errors"]
        if s["log_rows"] != s["log_distinct"]:
            problems.append(f"{run_id}: {s['log_rows'] - s['log_distinct']} request id(s) logged twice")
        if s["log_2xx"] < answered:
            problems.append(f"{run_id}: {answered} answered 2xx, only {s['log_2xx']} call-log rows with 2xx")
        if s["log_2xx"] > answered + connections or s["log_rows"] > run["requests"] + connections:
            problems.append(
                f"{run_id}: {s['log_rows']} call-log rows ({s['log_2xx']} 2xx) for {run['requests']} answers "
                f"({answered} 2xx), more than {connections} in flight"
            )
        if "answered" in s:
            if s["answered"] != answered or s["answered_distinct"] != s["answered"]:
                problems.append(
                    f"{run_id}: wrk counted {answered} 2xx answers, listed {s['answered']} ids "
                    f"({s['answered_distinct']} distinct)"
                )
            if s["answered_unlogged"]:
                problems.append(f"{run_id}: {s['answered_unlogged']} answered request(s) without a 2xx call-log row")
            if s["logged_unanswered"] > connections:
                problems.append(
                    f"{run_id}: {s['logged_unanswered']} 2xx call-log rows for requests wrk did not see answered"
                )
        if s["gaps"] > connections:
            problems.append(f"{run_id}: {s['gaps']} request ids missing from the call log")
        if abs(s["decisions"] - s["log_2xx"]) > connections:
            problems.append(
                f"{run_id}: {s['decisions']} decisions stored during the run for {s['log_2xx']} 2xx call-log rows"
            )
    total = stored.get("total", {})
    if total.get("decisions") != total.get("log_2xx"):
        problems.append(
            f"all runs: {total.get('decisions')} decisions stored for {total.get('log_2xx')} 2xx call-log rows"
        )
    return problems


def score_stored_report(ledger: dict[str, dict[str, Any]], stored: dict[str, Any], connections: int) -> list[str]:
    problems = score_ledger_problems(ledger, stored, connections)
    answered = sum(r["requests"] - r["status_errors"] for r in ledger.values())
    total = stored.get("total", {})
    verdict = "yes" if not problems else "NO: " + "; ".join(problems)
    runs = stored.get("runs", {}).values()
    by_id = "each found by its id, " if runs and all("answered" in r for r in runs) else ""
    return [
        f"stored: {total.get('decisions', 0):,} decisions and {total.get('log_2xx', 0):,} 2xx call-log rows for "
        f"{answered:,} answered requests ({by_id}warm-ups included; at most {connections} in flight at each edge "
        "of a run)",
        f"one decision per answered request, none lost, none twice: {verdict}",
    ]


def fraud_stored_report(ledger: dict[str, dict[str, Any]], stored: dict[str, Any], connections: int) -> list[str]:
    """Every answered /fraude request stored exactly one transaction and one check; none lost, none twice.

    wrk counts the answers it received; requests still in flight when a run ends may be
    stored without being counted, at most one per connection. Each request's transaction id
    is ``B<run>-<thread>-<n>``, n counting from 1 per wrk thread: a gap in a thread's numbers
    is a request built and not stored, which only the requests cut off when the run ends may
    be (wrk builds one more than it sends), at most one per connection. No request answered
    2xx may be missing (stored >= answered) and none may be stored twice (one transaction,
    one check per id).
    """
    bad = []
    answered_all = stored_all = 0
    for run_id, run in ledger.items():
        s = stored["runs"].get(run_id, {})
        answered = run["requests"] - run["status_errors"]
        answered_all += answered
        stored_all += s.get("checks", 0)
        ok = (
            s.get("checks") == s.get("transactions") == s.get("distinct_ids")
            and s.get("gaps", 0) <= connections
            and answered <= s.get("checks", 0) <= run["requests"] + connections
        )
        if not ok:
            bad.append(f"{run_id}: answered {answered}, stored {s}")
    verdict = "yes" if not bad else "NO: " + "; ".join(bad)
    return [
        f"stored: {stored_all:,} checks for {answered_all:,} answered requests (warm-ups included; at most "
        f"{connections} in flight per run); one transaction and one check per request, none lost, none twice: {verdict}"
    ]


def growth_report(g: dict[str, Any]) -> list[str]:
    seed = g["seed"]
    deep = (
        f"{g['predictions_deep_page_ms']:.1f} ms (by cursor)"
        if "predictions_deep_page_ms" in g
        else "no cursor pagination"
    )
    lines = [
        f"\nAs the data grows: {seed['decisions']:,} decisions, {seed['clients']:,} clients, one client with "
        f"{seed['heavy_transactions_90d']:,} transactions in 90 days (seeded in {seed['seed_seconds']:.0f} s)",
        f"  GET /api/v1/predictions/ first page: {g['predictions_first_page_ms']:.1f} ms   goal <= 50 ms",
        f"  GET /api/v1/predictions/ 5,000th page: {deep}   goal <= 50 ms",
    ]
    if "predictions_page_5000_ms" in g:
        lines.append(f"  GET /api/v1/predictions/?page=5000 (OFFSET): {g['predictions_page_5000_ms']:.1f} ms")
    lines += [
        f"  admin decisions list: {g['admin_decisions_list_ms']:.1f} ms   goal <= 300 ms",
        f"  admin search by client id ({g['admin_search_client_rows']} decisions): "
        f"{g['admin_search_client_ms']:.1f} ms   goal <= 300 ms",
        f"  /fraude, client with 20k recent transactions: {g['fraude_heavy_ms']:.2f} ms, new client: "
        f"{g['fraude_new_ms']:.2f} ms: {g['fraude_heavy_extra_ms']:+.2f} ms   goal <= +1 ms",
    ]
    if "velocity_query_heavy_ms" in g:
        lines.append(
            f"    of which the velocity query: {g['velocity_query_heavy_ms']:.2f} ms against "
            f"{g['velocity_query_new_ms']:.2f} ms ({g['velocity_query_heavy_ms'] - g['velocity_query_new_ms']:+.2f} ms)"
        )
    if "velocity_never_seen_heavy_ms" in g:
        heavy, new = g["velocity_never_seen_heavy_ms"], g["velocity_never_seen_new_ms"]
        lines.append(
            f"    the velocity query for a never-seen beneficiary, device and country: {heavy:.2f} ms against "
            f"{new:.2f} ms ({heavy - new:+.2f} ms)   goal <= +1 ms"
        )
    for table in ("scoring_decision", "fraud_transaction"):
        t = g[table]
        lines.append(
            f"  {table}: {t['total_mb']:,} MB ({t['heap_mb']:,} MB heap, {t['bytes_per_row']} bytes a row), "
            f"{len(t['indexes'])} indexes: " + ", ".join(f"{k} {v:g} MB" for k, v in t["indexes"].items())
        )
    for name, run in g.get("nightly", {}).items():
        lines.append(
            f"  the {name} reports over every decision ({seed.get('outcomes', 0):,} outcomes): "
            f"{run['seconds']:.1f} s, peak memory {run['peak_mb']:,} MB (Django start included)"
        )
    lines.append(
        f"  insert 20,000 rows (rolled back): decisions {g['insert_20000_decisions_ms']:.0f} ms, "
        f"transactions {g['insert_20000_transactions_ms']:.0f} ms"
    )
    return lines


def measured(env: dict[str, str], command: list[str], tag: str) -> dict[str, Any]:
    """Run ``command`` under bench/measure.py: its wall time, peak memory, and its ``TAG {json}`` line."""
    done = subprocess.run(
        [PYTHON, str(ROOT / "bench" / "measure.py"), *command], cwd=ROOT, env=env, capture_output=True, text=True
    )
    lines = done.stdout.splitlines()
    measure = json.loads(next(x for x in lines if x.startswith("MEASURE "))[len("MEASURE ") :])
    if measure["returncode"] != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    tagged = [x for x in lines if x.startswith(tag)]
    return {**measure, "output": tagged[-1][len(tag) :].strip() if tagged else ""}


def bench_drift(env: dict[str, str], workdir: Path, rows: int) -> dict[str, Any]:
    """The drift report over ``rows`` stored decisions, and Evidently alone on in-memory frames."""
    day = "2026-01-15"
    print(f"Preparing the drift day: {rows:,} decisions...", flush=True)
    written = setup_args(env, ["drift", str(rows), day])  # reused when the database already holds that day
    report = measured(env, [PYTHON, "manage.py", "drift_report", "--date", day, "--purpose", "credit"], "credit")
    sample = int(env.get("DRIFT_SAMPLE_SIZE", "20000"))
    baselines = {
        n: {**measured(env, [PYTHON, "bench/drift_baseline.py", str(n)], "BASELINE"), "rows": n} for n in (sample, rows)
    }
    for baseline in baselines.values():
        baseline.update(json.loads(baseline.pop("output")))
    return {"rows": rows, "written": written, "report": report, "baselines": list(baselines.values())}


def drift_report_lines(drift: dict[str, Any]) -> list[str]:
    report = drift["report"]
    out = [
        f"\nNightly drift report over {drift['rows']:,} decisions (manage.py drift_report, Django start included)",
        f"{'':<44}{'seconds':>9}{'peak MB':>9}",
        f"{'drift_report (SQL sample + Evidently + store)':<44}{report['seconds']:>9.1f}{report['peak_mb']:>9}",
    ]
    for baseline in drift["baselines"]:
        label = f"Evidently alone, {baseline['rows']:,} rows in memory"
        out.append(
            f"{label:<44}{baseline['seconds']:>9.1f}{baseline['peak_mb']:>9}"
            f"   (comparison itself {baseline['compare_seconds']:.1f} s)"
        )
    out.append(f"  credit {report['output']}")
    out.append(f"drift report: {report['seconds']:.1f} s (goal <= 60 s), peak {report['peak_mb']} MB (goal <= 2048 MB)")
    return out


def setup_args(env: dict[str, str], args: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [PYTHON, str(ROOT / "bench" / "setup_db.py"), *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench setup failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    line = next(x for x in done.stdout.splitlines() if x.startswith("SETUP "))
    return dict(json.loads(line[len("SETUP ") :]))


def broker_url() -> str | None:
    """The batch scenario's broker: BENCH_BROKER_URL, or a Redis answering locally (database 10)."""
    if os.environ.get("BENCH_BROKER_URL"):
        return os.environ["BENCH_BROKER_URL"]
    return "redis://127.0.0.1:6379/10" if _port_open("127.0.0.1", 6379) else None


@contextlib.contextmanager
def celery_workers(env: dict[str, str], concurrency: int) -> Iterator[None]:
    """A real ``celery worker`` with ``concurrency`` processes, answering pings before the run."""
    node = f"bench{concurrency}-{os.getpid()}@%h"
    proc = subprocess.Popen(
        [PYTHON, "-m", "celery", "-A", "creditplatform", "worker", "--loglevel", "WARNING", "--concurrency",
         str(concurrency), "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", node],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
            ping = subprocess.run(
                [PYTHON, "-m", "celery", "-A", "creditplatform", "inspect", "ping", "--timeout", "2"],
                cwd=ROOT, env=env, capture_output=True, text=True,
            )  # fmt: skip
            if f"bench{concurrency}-{os.getpid()}@" in ping.stdout:
                break
        else:
            raise RuntimeError("the benchmark worker did not answer within 120 s")
        yield
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


def run_batch(args: argparse.Namespace, env: dict[str, str], workdir: Path) -> dict[str, Any]:
    """The same file through the batch path with 1 and 2 worker processes, and the bare baseline."""
    broker = broker_url()
    if broker is None:
        return {"skipped": "no Redis broker (set BENCH_BROKER_URL)"}
    batch_env = {**env, "CELERY_BROKER_URL": broker}
    if args.batch_chunk_rows:
        batch_env["BATCH_CHUNK_ROWS"] = str(args.batch_chunk_rows)
    print(f"Batch: writing {args.batch_rows:,} applicants...", flush=True)
    written = setup(batch_env, workdir, "batch-file", str(args.batch_rows))
    out: dict[str, Any] = {"file": written, "broker": broker.rsplit("@", 1)[-1], "runs": {}}
    subprocess.run([PYTHON, "-m", "celery", "-A", "creditplatform", "purge", "-f"], cwd=ROOT, env=batch_env,
                   capture_output=True)  # fmt: skip
    for concurrency in [int(n) for n in args.batch_workers.split(",") if n.strip()]:
        setup(batch_env, workdir, "batch-reset")
        print(f"Batch: {args.batch_rows:,} rows with {concurrency} worker process(es)...", flush=True)
        with celery_workers(batch_env, concurrency):
            out["runs"][str(concurrency)] = setup(batch_env, workdir, "batch-run")
    print("Batch: baseline (one bare vectorised LightGBM call on the same rows)...", flush=True)
    out["baseline"] = setup(batch_env, workdir, "batch-baseline")
    return out


def batch_report(batch: dict[str, Any]) -> list[str]:
    if "skipped" in batch:
        return [f"\nBatch: not measured ({batch['skipped']})"]
    file, base = batch["file"], batch["baseline"]
    lines = [
        f"\nBatch job: {file['rows']:,} applicants ({len(file['columns'])} features, a fifth of the optional values "
        f"missing; CSV {file['bytes'] / 1e6:.0f} MB) checked, scored, explained (TreeSHAP) and stored",
        f"{'workers':<9}{'end to end s':>14}{'rows/s':>10}{'file checked+stored s':>24}{'scored':>11}{'rejected':>10}",
    ]
    for workers, run in batch["runs"].items():
        lines.append(
            f"{workers:<9}{run['total_s']:>14.1f}{run['rows'] / run['total_s']:>10,.0f}{run['submit_s']:>24.1f}"
            f"{run['scored']:>11,}{run['rejected']:>10,}"
            + ("" if run["status"] == "completed" else f"  {run['status']}")
        )
    lines += [
        f"baseline, same rows: pandas read_csv + encode {base['read_encode_s']:.1f} s, one LightGBM predict "
        f"(all cores, probabilities only) {base['predict_s']:.1f} s: {base['read_encode_s'] + base['predict_s']:.1f} s",
        f"reasons alone: LightGBM pred_contrib row by row {base['pred_contrib_us_per_row']:.0f} us/row "
        f"(= {base['pred_contrib_s_for_all']:.0f} s for every row, one core); memoised TreeSHAP "
        f"{base['memoised_treeshap_s']:.1f} s (one core, {base['memoised_patterns']:,} split patterns)",
        "goal: 1,000,000 applications scored and stored in <= 30 s end to end on the 2-core reference machine",
    ]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10, help="length of each measured load (default 10)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--rate", type=float, default=SCORE_GOAL_RATE, help="requests/s of /score's paced load (default 500)"
    )
    parser.add_argument(
        "--fraude-rate", type=float, default=FRAUDE_GOAL_RATE, help="requests/s of /fraude's paced load (default 300)"
    )
    # Two sync workers served the most decisions/s on the 2-core reference machine (683/s,
    # against 521/s with three and 453/s with four: more processes only fight over the cores).
    parser.add_argument("--workers", type=int, default=int(os.environ.get("BENCH_WORKERS", "2")))
    parser.add_argument(
        "--worker-class",
        choices=["sync", "gthread"],
        default=os.environ.get("BENCH_WORKER_CLASS", "sync"),
        help="gunicorn worker class of the score and fraude runs, platform and bare alike (default sync)",
    )
    parser.add_argument("--threads", type=int, default=1, help="threads per gthread worker (default 1)")
    parser.add_argument(
        "--only",
        choices=["score", "fraude", "floor", "instructions", "batch", "drift", "erasure", "soak", "growth"],
        help="run one scenario (soak: only this way)",
    )
    parser.add_argument("--batch-rows", type=int, default=1_000_000, help="applicants in the batch file (1,000,000)")
    parser.add_argument(
        "--batch-workers", default="1,2", help="worker processes to compare, comma-separated (default 1,2)"
    )
    parser.add_argument("--batch-chunk-rows", type=int, help="rows per chunk (default BATCH_CHUNK_ROWS)")
    parser.add_argument("--drift-rows", type=int, default=1_000_000, help="decisions in the drift day (default 1M)")
    parser.add_argument(
        "--growth-decisions", type=int, default=2_000_000, help="decisions of the growth scenario (default 2M)"
    )
    parser.add_argument("--erasure-transactions", type=int, default=10_000, help="transactions of the erased client")
    parser.add_argument("--soak-seconds", type=float, default=60, help="length of the soak (default 60)")
    parser.add_argument("--soak-interval", type=float, default=5, help="seconds between memory samples (default 5)")
    parser.add_argument(
        "--instructions-requests", type=int, default=200, help="requests counted per endpoint under callgrind (200)"
    )
    parser.add_argument("--instructions-warmup", type=int, default=50, help="uncounted requests before (50)")
    parser.add_argument(
        "--instructions-targets",
        default=",".join(instructions.TARGETS),
        help=f"comma-separated endpoints and parts of /score to count (default all: {','.join(instructions.TARGETS)})",
    )
    parser.add_argument(
        "--instructions-keep",
        type=Path,
        help="directory to keep each target's callgrind dump in (TARGET.callgrind, for callgrind_annotate)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each load; the median is reported (default 3)")
    args = parser.parse_args()
    targets = tuple(name.strip() for name in args.instructions_targets.split(",") if name.strip())
    unknown = sorted(set(targets) - set(instructions.TARGETS))
    if unknown or not targets:
        parser.error(
            f"--instructions-targets: unknown {', '.join(unknown) or '(none given)'}; choose among "
            f"{', '.join(instructions.TARGETS)}"
        )
    if args.only not in ("batch", "drift", "erasure", "growth", "instructions") and not shutil.which("wrk"):
        print("make bench needs wrk (Debian package 'wrk'; `make system-deps` installs it as root)", file=sys.stderr)
        return 2

    workdir = Path(tempfile.mkdtemp(prefix="credit-bench-"))
    env, described = bench_environment(workdir)
    print(
        f"Benchmark on {os.cpu_count()} cores; database {described['database']}; cache {described['cache']}; "
        f"gunicorn {args.workers} {args.worker_class} workers ({args.threads} thread(s) each); "
        f"wrk {args.connections} connections, {args.seconds:g} s per load"
    )
    if args.only == "erasure":
        lines = erasure_report(env, workdir, args.erasure_transactions)
        print("\n".join(lines))
        shutil.rmtree(workdir, ignore_errors=True)
        return 0
    print("Preparing: migrate, train or load the default models, API key...", flush=True)
    prepared = setup(
        env, workdir, "prepare", *(["no-fraud"] if args.only in ("drift", "batch", "soak", "floor") else [])
    )
    bare_env = {
        **env,
        "BARE_MODEL_FILE": str(workdir / "credit_model.txt"),
        "BARE_SCHEMA_FILE": str(workdir / "credit_schema.json"),
    }
    loads: list[tuple[str, float | None]] = [("saturation", None), ("paced", args.rate)]
    fraude_loads: list[tuple[str, float | None]] = [("saturation", None), ("paced", args.fraude_rate)]
    bare = {"app": "bench.bare_app:application", "env": bare_env, "path": "/score", "ready": "/score"}
    summary: dict[str, Any] = {"environment": described, "args": vars(args), "credit_model": prepared["credit_model"]}
    lines = []

    if args.only == "soak":
        result = soak(args, env, prepared["api_key"], _bodies(workdir / "score.jsonl", SCORE_BODIES))
        summary["soak"] = result
        lines += soak_report(result, args.soak_seconds)

    if args.only in (None, "score"):
        platform = {"app": "creditplatform.wsgi", "env": env, "path": "/score", "ready": "/api/v1/health"}
        score_ledger: dict[str, dict[str, Any]] = {}
        score_logs: dict[str, Any] = {}
        results = run_pair(
            "s",
            platform,
            bare,
            loads,
            args,
            env,
            prepared["api_key"],
            _bodies(workdir / "score.jsonl", SCORE_BODIES),
            score_ledger,
            answered_ids=True,
            server_logs=score_logs,
        )
        spans = workdir / "score_runs.json"
        spans.write_text(
            json.dumps({run_id: [*run["span"], run.get("answered_file")] for run_id, run in score_ledger.items()})
        )
        stored = setup(env, workdir, "score-stored", prepared["caller"], str(spans))
        problems = score_ledger_problems(score_ledger, stored, args.connections)
        summary["score"] = {
            **results,
            "stored": stored,
            "ledger_ok": not problems,
            "ledger_problems": problems,
            "server_logs": score_logs,
        }
        lines += report(
            "POST /score (credit decision: authenticated, validated, explained, stored)",
            results,
            GOAL_P99_MS,
            500,
            SCORE_GOAL_SHARE,
            paced_rate=args.rate,
            goal_rate=SCORE_GOAL_RATE,
        )
        lines += score_stored_report(score_ledger, stored, args.connections)
        for label, events in score_logs.items():
            lines += server_log_lines(label, events)

    if args.only in (None, "fraude"):
        if not prepared.get("fraud"):
            lines.append("\nPOST /fraude: not measured (the fraud app is not installed yet)")
        else:
            fraud_env = {**bare_env}
            platform = {"app": "creditplatform.wsgi", "env": env, "path": "/fraude", "ready": "/api/v1/health"}
            bodies = _bodies(workdir / "fraude.jsonl", fraud_bodies(prepared["fraud"]))
            ledger: dict[str, dict[str, Any]] = {}
            since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
            fraude_logs: dict[str, Any] = {}
            results = run_pair(
                "f",
                platform,
                {**bare, "env": fraud_env},
                fraude_loads,
                args,
                env,
                prepared["api_key"],
                bodies,
                ledger,
                server_logs=fraude_logs,
            )
            summary["fraude"] = {**results, "server_logs": fraude_logs}
            lines += report(
                "POST /fraude (50 active rules, velocity features, model; stored)",
                results,
                GOAL_P99_MS,
                None,
                FRAUDE_GOAL_SHARE,
                paced_rate=args.fraude_rate,
                goal_rate=FRAUDE_GOAL_RATE,
            )
            stored = setup(env, workdir, "fraud-stored", since, *ledger)
            summary["fraude"]["stored"] = stored
            lines += fraud_stored_report(ledger, stored, args.connections)
            for label, events in fraude_logs.items():
                lines += server_log_lines(label, events)

    if args.only in (None, "floor"):
        summary["floor"] = floor = run_floor(
            args, env, bare, prepared["api_key"], _bodies(workdir / "score.jsonl", SCORE_BODIES)
        )
        lines += floor_report(floor)

    if args.only in (None, "instructions"):
        missing = instructions.available()
        if missing:
            lines.append(f"\nInstructions per request: not counted ({missing})")
        else:
            print("Instructions: counting each endpoint under callgrind...", flush=True)
            counted_bodies = {"score": _bodies(workdir / "score.jsonl", SCORE_BODIES)}
            if prepared.get("fraud"):
                counted_bodies["fraude"] = _bodies(workdir / "fraude.jsonl", fraud_bodies(prepared["fraud"]))
            summary["instructions"] = counts = instructions.measure_all(
                env,
                bare_env,
                counted_bodies,
                prepared["api_key"],
                args.instructions_requests,
                args.instructions_warmup,
                targets=targets,
                keep=args.instructions_keep,
            )
            lines += instructions.instructions_report(counts, args.instructions_requests)

    if args.only in (None, "growth"):
        print(f"Growth: seeding {args.growth_decisions:,} decisions (reused when there)...", flush=True)
        summary["growth"] = grown = setup_args(env, ["growth", str(args.growth_decisions)])
        grown["nightly"] = {
            name: measured(env, [PYTHON, "manage.py", command], "NONE")
            for name, command in (("performance", "performance_report"), ("fairness", "fairness_report"))
        }
        lines += growth_report(grown)

    if args.only in (None, "batch"):
        batch = run_batch(args, env, workdir)
        summary["batch"] = batch
        lines += batch_report(batch)

    if args.only in (None, "drift"):
        summary["drift"] = drift = bench_drift(env, workdir, args.drift_rows)
        lines += drift_report_lines(drift)

    if args.only is None:
        lines += erasure_report(env, workdir, args.erasure_transactions)
    print("\n".join(lines))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(summary, indent=2, default=str))
    print(f"\nRaw figures: {RESULTS / 'latest.json'}")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
