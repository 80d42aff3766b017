"""A real worker, over Redis, against PostgreSQL: the production path of every task."""

from __future__ import annotations

import datetime as dt

import pytest
from django_celery_results.models import TaskResult

from monitoring.tasks import heartbeat
from tests.integration.worker import celery_worker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_task_sent_to_redis_runs_on_a_real_worker_and_its_result_lands_in_postgresql() -> None:
    with celery_worker():
        result = heartbeat.delay()
        ran_at = dt.datetime.fromisoformat(result.get(timeout=30))
    assert result.successful()
    assert ran_at.tzinfo is not None
    row = TaskResult.objects.get(task_id=result.id)
    assert row.status == "SUCCESS"
    assert row.task_name == "monitoring.tasks.heartbeat"
