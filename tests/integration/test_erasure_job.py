"""The erasure job on a real worker: approving in one process, erasing in another, over Redis."""

from __future__ import annotations

import time

import pytest
from django_celery_results.models import TaskResult

from accounts.roles import Role
from audit.selectors import audit_chain_verify
from privacy.models import GdprRequest, RequestStatus
from privacy.services import gdpr_request_approve, gdpr_request_record
from scoring.models import Client
from tests.factories import ClientFactory, UserFactory
from tests.integration.worker import celery_worker
from tests.privacy.conftest import make_history

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_an_approved_erasure_is_run_by_a_worker_and_its_task_result_holds_no_personal_data() -> None:
    person = ClientFactory(client_id="C9901", last_name="Zqxworker", email="zqx.worker@example.test")
    make_history(person)
    recorder = UserFactory(username="officer-w1", roles=[Role.COMPLIANCE])
    approver = UserFactory(username="officer-w2", roles=[Role.COMPLIANCE])
    with celery_worker():
        request = gdpr_request_record(kind="erasure", client=person, by=recorder)
        gdpr_request_approve(request=request, by=approver)  # commits: the task goes to Redis
        deadline = time.monotonic() + 60
        while GdprRequest.objects.get(pk=request.pk).status != RequestStatus.DONE:
            assert time.monotonic() < deadline, "the worker did not run the erasure within 60 s"
            time.sleep(0.2)
        # The task marks the request done inside its own work; the result backend stores the
        # task's result only after it returns: wait for that row too before stopping the worker.
        while not TaskResult.objects.filter(task_name="privacy.tasks.erasure_run", status="SUCCESS").exists():
            assert time.monotonic() < deadline, "the worker did not store the task's result within 60 s"
            time.sleep(0.2)
    assert Client.objects.get(pk=person.pk).client_id.startswith("erased-")
    row = TaskResult.objects.get(task_name="privacy.tasks.erasure_run")
    assert row.status == "SUCCESS" and str(request.pk) in row.task_args
    stored = f"{row.task_args} {row.task_kwargs} {row.result}"
    assert "C9901" not in stored and "Zqxworker" not in stored
    assert audit_chain_verify().ok
