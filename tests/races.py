"""Two connections racing on PostgreSQL: a call in its own thread, a call held where it stands,
and a wait for a lock wait."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import connection


def in_thread(results: dict[str, Any], name: str, call: Callable[[], Any]) -> threading.Thread:
    """Start ``call`` in a thread (its own connection); its result, or what it raised, goes to ``results[name]``."""

    def run() -> None:
        try:
            results[name] = call()
        except BaseException as exc:  # reported by the assertions below
            results[name] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run, name=name)
    thread.start()
    return thread


def hold_after(monkeypatch: Any, owner: Any, name: str) -> tuple[threading.Event, threading.Event]:
    """The first call of ``owner.name`` runs, then waits (its transaction's locks held) until ``go``
    is set; ``reached`` says it got there. Later calls run through."""
    reached, go = threading.Event(), threading.Event()
    real = getattr(owner, name)

    def holding(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        if not reached.is_set():
            reached.set()
            assert go.wait(timeout=60)
        return result

    monkeypatch.setattr(owner, name, holding)
    return reached, go


def wait_for_a_lock_wait() -> None:
    """Until another connection of this database waits on a lock (a deadline, not a timing claim)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            # Inside a transaction PostgreSQL answers from the statistics it read first: read again.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return
        time.sleep(0.05)
    raise AssertionError("no connection ever waited on a lock")
