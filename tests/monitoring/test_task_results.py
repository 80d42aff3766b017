"""A failed task's stored result (the admin's *Task results*, kept 7 days) holds no personal data
its error quoted: the result backend redacts as the logs do."""

from __future__ import annotations

import traceback
import uuid

import pytest
from celery.app.task import Context
from django.db import IntegrityError, transaction
from django_celery_results.models import TaskResult

from creditplatform.celery import app as celery_app
from tests.factories import TransactionFactory
from tests.services import require_postgresql

pytestmark = pytest.mark.django_db

PERSON_REFERENCE = "TX-PERSON-4711"


def test_a_failed_tasks_error_and_traceback_are_stored_without_the_row_they_quote() -> None:
    require_postgresql()  # PostgreSQL's errors quote the refused row (DETAIL: Key (...)=(...))
    first = TransactionFactory(transaction_id=PERSON_REFERENCE)
    try:
        with transaction.atomic():
            TransactionFactory(transaction_id=PERSON_REFERENCE, submitted_by=first.submitted_by)
    except IntegrityError as exc:
        error, trace = exc, traceback.format_exc()
    assert PERSON_REFERENCE in str(error) and PERSON_REFERENCE in trace  # what a worker would store
    task_id = str(uuid.uuid4())
    request = Context(id=task_id, task="scoring.tasks.batch_chunk_score", args=[1], kwargs={}, hostname="worker@test")
    celery_app.backend.mark_as_failure(task_id, error, traceback=trace, request=request)  # what the worker calls
    row = TaskResult.objects.get(task_id=task_id)
    assert row.status == "FAILURE"
    assert "IntegrityError" in row.result and "transaction_id_unique_per_caller" in row.traceback  # says what failed
    assert PERSON_REFERENCE not in row.result and PERSON_REFERENCE not in row.traceback
