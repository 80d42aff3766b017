"""Analysts' conditions are checked and back-tested in a child process with a CPU limit.

``fraud.conditions`` refuses everything unbounded before anything of a condition runs; this
module makes sure that even a hole in that list could not stall a web worker (and with it
the health check). The child:

- is forked from a small, single-threaded fork server that has imported only the
  condition language (``multiprocessing``'s ``forkserver``: no Django, no database
  connection, none of the web process's threads or locks), so starting one costs a fork;
- gets ``RLIMIT_CPU`` (the kernel kills it with ``SIGXCPU`` past the limit) and a cap on
  how much more memory it may map (``RLIMIT_AS``);
- answers within a wall-clock deadline, or is killed (a child that sleeps or is starved
  counts too).

The web process only ever waits on a pipe, so other requests keep being served meanwhile.
As with any ``multiprocessing`` start method but ``fork``, a child re-imports the main
script of the process: a script that saves or back-tests rules must guard its entry point
with ``if __name__ == "__main__":`` (``manage.py``, gunicorn, Celery and pytest do).
``check_condition`` is called by ``fraud.services.fraud_rule_check`` on every save (the
admin form and the service alike); ``backtest_condition`` by ``fraud_rule_backtest``.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import multiprocessing
import os
import resource
import signal
from collections.abc import Callable, Iterable, Iterator, Mapping
from multiprocessing.connection import Connection
from typing import Any

from fraud.conditions import EVALUATION_ERRORS, FIELDS, RuleError, compile_condition
from fraud.rules import BacktestResult, Outcome, backtest_tally, complete, evaluation_error_name

# Checking one condition is a parse and a few evaluations: milliseconds. The limits leave a
# wide margin on a loaded machine and still bound what a bad condition could cost.
CHECK_CPU_SECONDS = 2
CHECK_WALL_SECONDS = 10.0
# A back-test evaluates up to FRAUD_BACKTEST_MAX_ROWS snapshots (about 2 µs each); the wall
# deadline applies to each chunk, the CPU limit to the whole run.
BACKTEST_CPU_SECONDS = 30
BACKTEST_CHUNK_WALL_SECONDS = 20.0
BACKTEST_CHUNK_ROWS = 5000
MEMORY_HEADROOM_BYTES = 256 * 1024 * 1024

TOO_LONG = "This condition took too long to check (the limit is {limit}); simplify it."
BACKTEST_TOO_LONG = (
    "The back-test took too long (the limit is {limit}); narrow the date range or simplify the condition."
)
TOO_BIG = "This condition needs too much memory to check; simplify it."
UNAVAILABLE = "The condition could not be checked (the checking process failed); try again."


class SandboxError(RuleError):
    """The check itself did not complete: the condition's own errors are plain ``RuleError``s."""


class SandboxTimeout(SandboxError):
    """The child went past its CPU limit or its deadline and was killed."""


# --- In the child ---------------------------------------------------------------------------------


def _limit(cpu_seconds: int) -> None:
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    with contextlib.suppress(OSError, ValueError):  # /proc is Linux's; elsewhere the CPU limit remains
        with open("/proc/self/statm") as statm:
            mapped = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (mapped + MEMORY_HEADROOM_BYTES, resource.RLIM_INFINITY))


def _child(connection: Connection, task: Callable[..., None], cpu_seconds: int, *args: Any) -> None:
    """The child's entry point: limits first, then the task; errors go back as ("error", message)."""
    _limit(cpu_seconds)
    try:
        task(connection, *args)
    except RuleError as exc:
        connection.send(("error", str(exc)))
    except MemoryError:
        connection.send(("error", TOO_BIG))
    finally:
        connection.close()


# Probe contexts: a condition is evaluated on these when it is checked, so that a condition
# that is slow to *evaluate* is caught by the CPU limit here and never reaches a web worker.
def _probes() -> list[dict[str, Any]]:
    defaults = {name: info.default for name, info in FIELDS.items()}
    large = {
        name: {"FLOAT": 10.0**12, "BOOLEAN": True, "STRING": "x" * 100}[info.type.name] for name, info in FIELDS.items()
    }
    return [defaults, large]


def first_transaction() -> dict[str, Any]:
    """A client's first transaction as the conditions see it: no history, and this one counted in
    each window (``count_1h`` is 1, ``sum_1h`` its amount)."""
    amount = 100.0
    context: dict[str, Any] = {name: info.default for name, info in FIELDS.items()}
    context.update(amount=amount, type="virement", currency="EUR")
    for name in FIELDS:
        if name.startswith("count_"):
            context[name] = 1.0
        elif name.startswith("sum_"):
            context[name] = amount
    return context


def _check_task(connection: Connection, text: str) -> None:
    condition = compile_condition(text)
    for context in _probes():
        Outcome.of(condition, context)  # a failure (division by zero...) is allowed, not a hang
    first_failure = None
    try:
        condition.matches(first_transaction())
    except EVALUATION_ERRORS as exc:
        first_failure = evaluation_error_name(exc)
    connection.send(("ok", (condition.fields, first_failure)))


def _backtest_task(connection: Connection, text: str) -> None:
    condition = compile_condition(text)
    connection.send(("ok", condition.fields))
    while (chunk := connection.recv()) is not None:
        contexts = (dict(zip(condition.fields, values, strict=True)) for values in chunk)
        connection.send(("ok", bytes(Outcome.of(condition, context) for context in contexts)))


# --- In the parent ---------------------------------------------------------------------------------


def _context() -> Any:
    # The fork server starts on first use and imports only this module (and the condition
    # language): children fork from a clean, single-threaded process.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


class ChildProcess:
    """One child process running ``task``, talked to over a pipe with deadlines."""

    def __init__(self, task: Callable[..., None], *args: Any, cpu_seconds: int, too_long: str) -> None:
        self.cpu_seconds, self.too_long = cpu_seconds, too_long
        context = _context()
        self.connection, child_end = context.Pipe(duplex=True)
        self.process = context.Process(target=_child, args=(child_end, task, cpu_seconds, *args), daemon=True)
        try:
            self.process.start()
        except (OSError, AssertionError) as exc:  # no fork possible (limits, a daemonic caller...)
            self.connection.close()
            raise SandboxError(UNAVAILABLE) from exc
        finally:
            child_end.close()

    def receive(self, wall_seconds: float) -> Any:
        """The child's next answer; raises ``SandboxTimeout`` (child killed) or ``RuleError``."""
        if not self.connection.poll(wall_seconds):
            self.kill()
            raise SandboxTimeout(self.too_long.format(limit=f"{wall_seconds:g} s"))
        try:
            kind, payload = self.connection.recv()
        except (EOFError, OSError):
            self.process.join(timeout=5)
            if self.process.exitcode == -signal.SIGXCPU:
                raise SandboxTimeout(self.too_long.format(limit=f"{self.cpu_seconds} s of CPU")) from None
            raise SandboxError(UNAVAILABLE) from None
        if kind == "error":
            raise RuleError(payload)
        return payload

    def send(self, message: Any) -> None:
        with contextlib.suppress(OSError):  # the child died meanwhile: receive() says why
            self.connection.send(message)

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)

    def __enter__(self) -> ChildProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
        self.connection.close()


def check_condition(text: str) -> tuple[str, ...]:
    """Compile ``text`` (and evaluate it on probe transactions) in a child; the fields it reads.

    Raises ``RuleError`` with the message for the analyst: what is wrong with the condition,
    or that checking it took too long (``SandboxTimeout``). The verdict on a text is kept
    (the admin form and the service check the same condition one after the other), except
    when the check did not complete.
    """
    verdict = _verdict(text)
    if isinstance(verdict, str):
        raise RuleError(verdict)
    return verdict[0]


def first_transaction_failure(text: str) -> str | None:
    """Why ``text`` cannot be evaluated on a client's first transaction (``first_transaction``):
    ``"division by zero"``..., or None (it can, or it does not compile: ``check_condition`` says
    why). Read from the same kept verdict as ``check_condition``: no second child."""
    verdict = _verdict(text)
    return None if isinstance(verdict, str) else verdict[1]


@functools.lru_cache(maxsize=512)
def _verdict(text: str) -> tuple[tuple[str, ...], str | None] | str:
    """The fields ``text`` reads and how it fails on a first transaction, or why it is refused.
    A ``SandboxError`` propagates (never cached)."""
    try:
        with ChildProcess(_check_task, text, cpu_seconds=CHECK_CPU_SECONDS, too_long=TOO_LONG) as child:
            fields, first_failure = child.receive(CHECK_WALL_SECONDS)
            return tuple(fields), first_failure
    except SandboxError:
        raise
    except RuleError as exc:
        return str(exc)


def forget_verdicts() -> None:
    """Forget the kept verdicts (tests that change the limits)."""
    _verdict.cache_clear()


def _chunks(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def backtest_condition(text: str, rows: Iterable[tuple[Mapping[str, Any], bool | None]]) -> BacktestResult:
    """Back-test ``text`` on (snapshot, label) rows: evaluated in a child, counted here.

    Only the fields the condition reads travel to the child, in chunks, each answered
    before the next is sent (so neither side ever blocks on a full pipe).
    """

    def outcomes() -> Iterator[tuple[Outcome, bool | None, bool]]:
        with ChildProcess(_backtest_task, text, cpu_seconds=BACKTEST_CPU_SECONDS, too_long=BACKTEST_TOO_LONG) as child:
            fields = child.receive(CHECK_WALL_SECONDS)
            for chunk in _chunks(rows, BACKTEST_CHUNK_ROWS):
                values, labels = [], []
                for snapshot, label in chunk:
                    context, incomplete = complete(snapshot)
                    values.append(tuple(context[name] for name in fields))
                    labels.append((label, incomplete))
                child.send(values)
                answered = child.receive(BACKTEST_CHUNK_WALL_SECONDS)
                for outcome, (label, incomplete) in zip(answered, labels, strict=True):
                    yield Outcome(outcome), label, incomplete
            child.send(None)

    return backtest_tally(outcomes())
