"""An erasure and a batch chunk racing on PostgreSQL: two connections, each order of commits.

The file reaches the platform while the erasure runs (the erasure cannot see it yet). The
chunk's worker links a row to the person's client, then, before storing, locks the
clients it links (``FOR KEY SHARE``); the erasure holds the client ``FOR UPDATE``:

- the erasure commits first: the worker's lock waits for it, then sees the client erased
  and stores nothing of the person;
- the chunk commits first: the erasure waits for it, then finds the decision and
  pseudonymises it (out of the job, like any other).

The threads pause at fixed points (events), and the test waits until PostgreSQL shows the
other connection waiting on a lock before letting the first one commit.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from privacy import services as privacy_services
from privacy.services import erasure_execute, gdpr_request_approve, gdpr_request_record
from scoring.batch import services as batch_services
from scoring.batch.selectors import batch_job_result_rows
from scoring.batch.services import batch_chunk_score, batch_job_submit
from scoring.choices import BatchJobStatus
from scoring.models import BatchJob, Client, Decision, ModelVersion
from tests.factories import batch_caller
from tests.races import in_thread, wait_for_a_lock_wait
from tests.services import require_postgresql

pytestmark = pytest.mark.django_db(transaction=True)

FILE = b"age,revenu,historique_impaye,client_id\n35,2000,0,C7001\n52,4000,1,C2\n"


@pytest.fixture(autouse=True)
def no_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    """The chunk runs in the test's own thread, not through Celery (eager, it would run at once)."""
    monkeypatch.setattr(batch_services, "_enqueue", lambda *args, **kwargs: None)


def approved_erasure(person: Any, officers: tuple[Any, Any]) -> Any:
    recorder, approver = officers
    request = gdpr_request_record(kind="erasure", client=person, by=recorder)
    return gdpr_request_approve(request=request, by=approver, enqueue=False)


def paused_after(module: Any, name: str, monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event]:
    """``module.name`` runs, then waits for ``go`` (inside its caller's transaction); ``reached`` says it got there."""
    reached, go = threading.Event(), threading.Event()
    real = getattr(module, name)

    def pausing(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        reached.set()
        assert go.wait(timeout=60)
        return result

    monkeypatch.setattr(module, name, pausing)
    return reached, go


def test_the_erasure_commits_first_and_the_chunk_stores_nothing_of_the_person(
    credit_model: ModelVersion, person: Any, officers: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    require_postgresql()
    request = approved_erasure(person, officers)
    erased, commit = paused_after(privacy_services, "client_erase", monkeypatch)
    results: dict[str, Any] = {}
    eraser = in_thread(results, "erasure", lambda: erasure_execute(request=request))
    assert erased.wait(timeout=60)  # erased, not committed: the file arrives now

    job = batch_job_submit(data=FILE, filename="late.csv", caller=batch_caller(), source="api")
    worker = in_thread(results, "chunk", lambda: batch_chunk_score(chunk_id=job.chunks.get().pk))
    wait_for_a_lock_wait()  # the worker waits for the person's client row
    commit.set()
    eraser.join(timeout=120)
    worker.join(timeout=120)

    assert results["erasure"].done, results
    assert results["chunk"].status == "done", results
    job = BatchJob.objects.get(pk=job.pk)
    assert (job.status, job.rows_scored, job.rows_rejected) == (BatchJobStatus.COMPLETED, 1, 1)
    assert [line[2] for line in batch_job_result_rows(job=job)] == ["C2"]
    assert not Decision.objects.filter(client_id=person.pk, batch_job__isnull=False).exists()
    assert not Client.objects.filter(client_id="C7001").exists()


def test_the_chunk_commits_first_and_the_erasure_then_pseudonymises_its_decision(
    credit_model: ModelVersion, person: Any, officers: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    require_postgresql()
    request = approved_erasure(person, officers)
    job = batch_job_submit(data=FILE, filename="early.csv", caller=batch_caller(), source="api")
    linked, commit = paused_after(batch_services, "_erased_clients", monkeypatch)
    results: dict[str, Any] = {}
    worker = in_thread(results, "chunk", lambda: batch_chunk_score(chunk_id=job.chunks.get().pk))
    assert linked.wait(timeout=60)  # the worker holds its clients, not committed

    eraser = in_thread(results, "erasure", lambda: erasure_execute(request=request))
    wait_for_a_lock_wait()  # the erasure waits for the person's client row
    commit.set()
    worker.join(timeout=120)
    eraser.join(timeout=120)

    assert results["chunk"].status == "done", results
    assert results["erasure"].done, results  # the chunk was done: nothing deferred it
    tombstone = Client.objects.get(pk=person.pk)
    assert tombstone.client_id.startswith("erased-")
    kept = Decision.objects.get(client=tombstone, features__age=35)
    assert (kept.batch_job_id, kept.batch_row) == (None, None)
    assert [line[2] for line in batch_job_result_rows(job=BatchJob.objects.get(pk=job.pk))] == ["C2"]
