"""Private PostgreSQL and Redis instances, a gunicorn server and a traffic generator for fault tests.

A fault test stops, freezes or restarts *its own* database or Redis, started here on free
ports in a temporary directory: the shared services the rest of the suite (and other
people) use are never touched. ``initdb`` and ``pg_ctl`` come from PostgreSQL's own
binaries (``PG_BINDIR``, by default ``/usr/lib/postgresql/15/bin`` or ``pg_config
--bindir``); as root (CI) they run as the ``postgres`` system user, as PostgreSQL requires.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.services import require

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))

# The longest a request may take while a dependency is down or frozen: the answer must be
# a decision or a clean 503 well within it, never a hang. A correctness bound (a request
# that waits on a dead socket forever fails it), deliberately generous: not a benchmark.
FAULT_BOUND_SECONDS = 5.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60.0, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting ({timeout:.0f} s) for: {what}")
        time.sleep(interval)


# --- Redis ----------------------------------------------------------------------------------


class PrivateRedis:
    """A throwaway ``redis-server`` on a free port, which a test may stop, freeze and restart."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        require(binary is not None, "redis-server (Debian package redis-server)")
        self.binary = str(binary)
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self, db: int = 0) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, db=db, socket_connect_timeout=1, socket_timeout=1)

    def ping(self) -> bool:
        import redis

        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir), "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(self.ping, f"redis-server on port {self.port}", timeout=30)

    def stop(self) -> None:
        """A clean stop (SIGTERM: Redis closes its clients' connections and exits)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # a frozen server must be able to exit
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def freeze(self) -> None:
        """SIGSTOP: the port still accepts connections, nothing ever answers (a hung server)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


@contextmanager
def private_redis(workdir: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- PostgreSQL -------------------------------------------------------------------------------


def _pg_bindir() -> Path | None:
    candidates = [os.environ.get("PG_BINDIR", ""), "/usr/lib/postgresql/15/bin"]
    if shutil.which("pg_config"):
        done = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(done.stdout.strip())
    for candidate in filter(None, candidates):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    return None


class PrivatePostgres:
    """A throwaway PostgreSQL cluster (``initdb``) on a free port, in its own temporary directory."""

    def __init__(self) -> None:
        bindir = _pg_bindir()
        require(bindir is not None, "PostgreSQL server binaries (initdb, pg_ctl; set PG_BINDIR)")
        assert bindir is not None
        self.bindir = bindir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="credit-fault-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "socket"
        self.log = self.root / "server.log"
        self.user: str | None = None
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                require(False, "a 'postgres' system user to run a private PostgreSQL as root")
            self.user = "postgres"
            shutil.chown(self.root, user="postgres")
        self.socket_dir.mkdir()
        if self.user:
            shutil.chown(self.socket_dir, user=self.user)

    def _run(self, *args: str, timeout: float = 120) -> None:
        done = subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            user=self.user,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self.root,
        )
        if done.returncode != 0:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed:\n{done.stdout}\n{done.stderr}\n{log}")

    def init(self) -> None:
        # --no-sync only speeds up initdb itself; the server then runs with fsync on.
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync")  # fmt: skip

    def start(self) -> None:
        options = f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 -c fsync=on"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """``immediate`` is a crash as far as clients see (no goodbye; WAL replay at the next start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def psql(self, database: str, sql: str) -> str:
        done = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database, "-XAtqc", sql],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return done.stdout

    def cleanup(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with suppress(RuntimeError):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def copy_database(source_url: str, target: PrivatePostgres, name: str) -> None:
    """Create ``name`` on ``target`` with the schema and rows of ``source_url`` (pg_dump | psql)."""
    target.psql("postgres", f'CREATE DATABASE "{name}"')
    dump = subprocess.run(["pg_dump", "--no-owner", "--no-privileges", source_url], capture_output=True, check=True)
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", str(target.port), "-U", "postgres", "-d", name, "-Xq",
         "-v", "ON_ERROR_STOP=1"],
        input=dump.stdout,
        capture_output=True,
        check=True,
        timeout=300,
    )  # fmt: skip


# --- gunicorn ----------------------------------------------------------------------------


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def gunicorn(env: dict[str, str], log: Path, workers: int = 2, extra_args: tuple[str, ...] = ()) -> Iterator[Server]:
    """``gunicorn creditplatform.wsgi`` on a free port until the block ends; waits for /api/v1/health.

    Run from the checkout, like ``bin/run``: ``gunicorn.conf.py`` applies. stdout and stderr
    (the JSON logs, gunicorn's own lines) go to ``log``.
    """
    port = free_port()
    out = log.open("wb")
    process = subprocess.Popen(
        [GUNICORN, "creditplatform.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
         "--graceful-timeout", "5", *extra_args],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            if process.poll() is not None:
                raise AssertionError("gunicorn exited:\n" + log.read_text()[-3000:])
            try:
                return requests.get(f"{url}/api/v1/health", timeout=5).status_code == 200
            except requests.RequestException:
                return False

        wait_until(up, "gunicorn to answer /api/v1/health", timeout=120, interval=0.3)
        yield Server(url, process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        out.close()


# --- Traffic -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One request's outcome: ``status`` 0 when no answer came within the bound."""

    phase: str
    path: str
    status: int
    body: Any
    text: str
    seconds: float
    sent: dict[str, Any]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def score_body(n: int) -> dict[str, Any]:
    return {"age": 25 + n % 40, "revenu": 30000 + 100 * (n % 50), "historique_impaye": n % 3}


def fraude_body(n: int) -> dict[str, Any]:
    return {
        "transaction_id": f"F{uuid.uuid4().hex[:20]}",
        "montant": 20 + n % 500,
        "type": "virement",
        "client_id": f"FAULT{n % 7}",
        "beneficiary": f"FR76300060000112345678{n % 10:03d}",
        "device_id": f"dev-{n % 5}",
    }


@dataclass
class Traffic:
    """Threads sending ``/score`` and ``/fraude`` in turn until stopped; every answer is kept.

    Each answer carries the phase its request started and ended in (``phase``, set by the
    test as it changes the world); a request that was in flight across a change is labelled
    ``"<start>-><end>"`` and counts for neither phase, only for the checks on all answers.
    """

    url: str
    api_key: str
    threads: int = 3
    answers: list[Answer] = field(default_factory=list)
    phase: str = "before"
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> Traffic:
        for index in range(self.threads):
            thread = threading.Thread(target=self._run, args=(index,), daemon=True)
            thread.start()
            self._workers.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._workers:
            thread.join(timeout=3 * FAULT_BOUND_SECONDS)

    def _run(self, index: int) -> None:
        session = requests.Session()
        session.headers.update({"X-API-Key": self.api_key})
        n = index
        while not self._stop.is_set():
            path, body = ("/score", score_body(n)) if n % 2 == 0 else ("/fraude", fraude_body(n))
            phase = self.phase
            started = time.monotonic()
            try:
                response = session.post(self.url + path, json=body, timeout=FAULT_BOUND_SECONDS)
                status, text = response.status_code, response.text
            except requests.RequestException as exc:
                status, text = 0, f"{type(exc).__name__}: {exc}"
                session = requests.Session()  # a broken connection is not reused
                session.headers.update({"X-API-Key": self.api_key})
            try:
                parsed = json.loads(text) if status else None
            except ValueError:
                parsed = None
            if self.phase != phase:
                # In flight while the test moved on (the database stopped under it, say): it may
                # go either way, so it belongs to neither phase's assertions.
                phase = f"{phase}->{self.phase}"
            answer = Answer(phase, path, status, parsed, text, time.monotonic() - started, body)
            with self._lock:
                self.answers.append(answer)
            n += self.threads

    def in_phase(self, phase: str) -> list[Answer]:
        with self._lock:
            return [a for a in self.answers if a.phase == phase]

    def wait_for(self, phase: str, what: str, condition: Callable[[list[Answer]], bool], timeout: float = 90) -> None:
        try:
            wait_until(lambda: condition(self.in_phase(phase)), f"{what} (phase {phase})", timeout=timeout)
        except AssertionError as exc:
            seen = Counter(a.status for a in self.in_phase(phase))
            wrong = problems(self.in_phase(phase))[:5]
            raise AssertionError(f"{exc}; answers so far by status: {dict(seen)}; " + "\n".join(wrong)) from None


def worker_pids(server: Server) -> set[int]:
    """The gunicorn master's worker processes (unchanged pids: no worker was restarted)."""
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return {int(p) for p in children.read_text().split()} if children.exists() else set()


def fault_environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The server's environment: none of this shell's settings, a state directory of its own."""
    from tests.test_configuration import clean_environment

    (tmp_path / "empty.env").write_text("")
    defaults = {
        "VAR_DIR": str(tmp_path / "var"),
        "ENV_FILE": str(tmp_path / "empty.env"),
        "OMP_NUM_THREADS": "1",
        "LOG_LEVEL": "WARNING",
    }
    return clean_environment(**{**defaults, **extra})


_INTERNALS = ("Traceback", 'File "', "psycopg", "OperationalError", "InterfaceError", "redis.", "ConnectionError")


def problems(answers: list[Answer]) -> list[str]:
    """What is wrong with these answers: anything but a decision (2xx) or a clean JSON 503.

    A clean 503 is JSON ``{"error": "service_unavailable", "detail": ...}`` with
    ``Retry-After``-style wording and no stack trace or driver internals; no answer within
    ``FAULT_BOUND_SECONDS`` (status 0) is a hang.
    """
    out: list[str] = []
    for answer in answers:
        where = f"{answer.phase} {answer.path} after {answer.seconds:.2f} s"
        if answer.status == 0:
            out.append(f"{where}: no answer ({answer.text[:200]})")
        elif answer.ok:
            continue
        elif answer.status != 503:
            out.append(f"{where}: HTTP {answer.status} {answer.text[:300]}")
        elif not isinstance(answer.body, dict) or answer.body.get("error") != "service_unavailable":
            out.append(f"{where}: a 503 that is not the JSON error shape: {answer.text[:300]}")
        elif any(word in answer.text for word in _INTERNALS):
            out.append(f"{where}: a 503 showing internals: {answer.text[:300]}")
    return out


def summary(traffic: Traffic) -> str:
    """One line per phase: answers, decisions, refusals and the slowest answer (for the CI log)."""
    lines = []
    for phase in dict.fromkeys(a.phase for a in traffic.answers):
        answers = traffic.in_phase(phase)
        lines.append(
            f"{phase:>8}: {len(answers):4d} answers, {sum(a.ok for a in answers):4d} decided, "
            f"{sum(a.status == 503 for a in answers):4d} refused (503), slowest {max(a.seconds for a in answers):.2f} s"
        )
    return "\n".join(lines)
