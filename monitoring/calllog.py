"""The API call log, written in batches off the request path.

One INSERT and one commit per API request cost more than a credit decision itself (on
SQLite each commit also takes the database's single write lock). So the middleware hands
each finished call to a per-process buffer, and a flusher thread writes the buffer with
one ``bulk_create`` every ``API_CALL_LOG_FLUSH_SECONDS`` (default 1 s), or sooner when
``API_CALL_LOG_BATCH_SIZE`` rows are waiting. The buffer is also flushed at process exit.

What this trades: a process killed with SIGKILL loses at most the last second of *call
log* rows (never a decision or a fraud check, which are written in the request). A
process that exits normally (a gunicorn worker told to stop, ``max_requests``, a reload)
loses none: at exit it waits for the flusher's batch in flight, then writes the rest.
(The middleware's Prometheus figures are batched the same way, ``monitoring.metrics``.) Set
``API_CALL_LOG_FLUSH_SECONDS=0`` to write every row in its request instead.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from typing import Any

import orjson
from django.conf import settings
from django.db import close_old_connections, connection

from creditplatform.hot_settings import hot_settings

logger = logging.getLogger(__name__)

_MAX_PENDING = 50_000  # a database outage must not eat the process's memory
# How long an exiting process waits for the flusher's batch in flight (gunicorn allows a
# stopping worker 30 s: graceful_timeout).
_EXIT_WAIT_SECONDS = 10.0
# While the database is down a flush fails every second: say so once a minute, not each time.
_REPORT_EVERY_SECONDS = 60.0
_clock = time.monotonic


class ApiCallBuffer:
    """Rows waiting to be written; thread-safe; one flusher thread per process."""

    def __init__(self) -> None:
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._owner_pid: int | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.dropped = 0
        self._failures = 0  # flushes failed in a row (an outage)
        self._last_report = 0.0

    def add(self, row: dict[str, Any]) -> None:
        """Queue one call: ``ApiCall``'s field values."""
        with self._lock:
            if len(self._rows) >= _MAX_PENDING:
                self.dropped += 1
                return
            self._rows.append(row)
            pending = len(self._rows)
        self._ensure_flusher()
        if pending >= hot_settings.API_CALL_LOG_BATCH_SIZE:
            self._wake.set()

    def pending(self) -> int:
        return len(self._rows)

    def flush(self) -> int:
        """Write what is waiting, in this thread; returns the number of rows written."""
        with self._lock:
            rows, self._rows = self._rows, []
        if not rows:
            return 0
        try:
            api_calls_insert(rows)
        except Exception as exc:
            self._failed(exc, len(rows))
            with self._lock:
                self._rows[:0] = rows[: max(0, _MAX_PENDING - len(self._rows))]
            return 0
        if self._failures:
            logger.warning("API call log rows written again after %d failed flushes", self._failures)
            self._failures, self._last_report = 0, 0.0
        return len(rows)

    def _failed(self, exc: Exception, count: int) -> None:
        """Say that a flush failed: the first failure of an outage with its traceback, then one
        line a minute (``_REPORT_EVERY_SECONDS``) while it lasts, not a traceback every second."""
        self._failures += 1
        now = _clock()
        if self._failures == 1:
            logger.exception("could not write %d API call log rows; keeping them for the next flush", count)
            self._last_report = now
        elif now - self._last_report >= _REPORT_EVERY_SECONDS:
            logger.warning(
                "API call log still not written: %d failed flushes, %d rows waiting (%s)",
                self._failures,
                self.pending() + count,
                type(exc).__name__,
            )
            self._last_report = now

    def _ensure_flusher(self) -> None:
        pid = os.getpid()
        if self._owner_pid == pid:
            return
        with self._lock:
            if self._owner_pid == pid:
                return
            self._owner_pid = pid  # after a fork (gunicorn, celery) each child starts its own
            self._thread = threading.Thread(target=self._run, name="api-call-log", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(
                timeout=settings.API_CALL_LOG_FLUSH_SECONDS if settings.API_CALL_LOG_FLUSH_SECONDS > 0 else 1.0
            )
            self._wake.clear()
            try:
                self.flush()
            finally:
                # This thread owns its own connection: drop it if the database went away.
                close_old_connections()
        connection.close()

    def stop(self, timeout: float = 5.0) -> None:
        """Write what is waiting and end the flusher thread, closing its connection.

        The thread first finishes the batch it may be writing (rows it has already taken
        from the buffer, which no later ``flush`` would see), for up to ``timeout``
        seconds. For a process that is about to exit or drop its database (the test
        suite); the next ``add`` starts a new flusher.
        """
        with self._lock:
            self._stopping, owner, self._owner_pid = True, self._owner_pid, None
            thread, self._thread = self._thread, None
        if owner == os.getpid() and thread is not None:
            self._wake.set()
            thread.join(timeout=timeout)
            if thread.is_alive():
                logger.warning("API call log: the flusher did not finish within %.0f s; its batch may be lost", timeout)
        self._stopping = False
        self.flush()

    def flush_at_exit(self) -> None:
        """At interpreter exit: the flusher's batch in flight, then what is left, then the connection.

        Without the wait, a batch the daemon flusher had taken but not yet written died with
        the interpreter: a worker stopped gracefully lost up to a second of rows.
        """
        if self._owner_pid != os.getpid():
            return  # this process never logged a call (or is a fork that has not yet)
        try:
            self.stop(timeout=_EXIT_WAIT_SECONDS)
        finally:
            connection.close()


buffer = ApiCallBuffer()
atexit.register(buffer.flush_at_exit)


def api_call_record(**values: Any) -> None:
    """Record one call (``ApiCall``'s field values): buffered, or written at once when buffering is off."""
    if hot_settings.API_CALL_LOG_FLUSH_SECONDS <= 0:
        api_calls_insert([values])
    else:
        buffer.add(values)


def api_calls_insert(rows: list[dict[str, Any]]) -> None:
    """Store calls (each ``ApiCall``'s field values) with one statement.

    On PostgreSQL the batch travels as one JSON array that ``jsonb_populate_recordset``
    turns into rows of the table, each value read by its column's input function: no
    model instance per call, no per-value adaptation by psycopg2 (a datetime alone cost
    it about 22,000 instructions). Elsewhere ``bulk_create``. The values come from the
    middleware, never from a request body.
    """
    from monitoring.models import ApiCall

    if connection.vendor != "postgresql":
        ApiCall.objects.bulk_create([ApiCall(**row) for row in rows], batch_size=500)
        return
    quote = connection.ops.quote_name
    table = quote(ApiCall._meta.db_table)
    columns = ", ".join(quote(str(f.column)) for f in ApiCall._meta.concrete_fields if not f.primary_key)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM jsonb_populate_recordset(NULL::{table}, %s::jsonb)",
            [orjson.dumps(rows).decode()],
        )
