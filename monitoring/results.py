"""Celery's result backend (django-celery-results' database one), with tracebacks and error
messages redacted as the logs are.

A failed task's result keeps its exception's message and its traceback for
``CELERY_RESULT_EXPIRES`` (7 days), readable in the admin's *Task results*. A database error
quotes the row it refused (``DETAIL: Key (transaction_id)=(…) already exists``, ``Failing
row contains (…)``): a person's references, in a table no erasure searches. Here both go
through ``monitoring.logging.redact_text``, the logs' own redaction, before they are stored.
"""

from __future__ import annotations

from typing import Any

from django_celery_results.backends.database import DatabaseBackend

from monitoring.logging import redact_text


class RedactingDatabaseBackend(DatabaseBackend):
    """``DatabaseBackend`` storing failures without the personal data their messages may quote."""

    def prepare_exception(self, exc: BaseException, serializer: str | None = None) -> Any:
        prepared = super().prepare_exception(exc, serializer)
        if isinstance(prepared, dict) and isinstance(prepared.get("exc_message"), list | tuple):
            prepared["exc_message"] = [
                redact_text(arg) if isinstance(arg, str) else arg for arg in prepared["exc_message"]
            ]
        return prepared

    def _store_result(self, task_id: Any, result: Any, status: Any, traceback: Any = None, **kwargs: Any) -> Any:
        if isinstance(traceback, str):
            traceback = redact_text(traceback)
        return super()._store_result(task_id, result, status, traceback=traceback, **kwargs)
