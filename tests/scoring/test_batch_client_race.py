"""Two chunks naming the same new clients, on two connections (two workers), on PostgreSQL.

A chunk creates the new clients it names inside the transaction that stores its decisions.
The first chunk is held just after it inserted them, not committed; the second one, whose
rows name the same clients in the other order, then waits on a row lock for the first
(their ids are inserted in sorted order, so neither can hold one the other waits for):

- the first commits: the second skips the clients the first stored and links its rows to
  them, one row per client;
- the first fails and rolls back: its clients go with it, and the second creates them itself.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

import pytest

from scoring.batch import services as batch_services
from scoring.batch.services import batch_chunk_score, batch_job_submit
from scoring.choices import BatchChunkStatus, BatchJobStatus
from scoring.models import BatchChunk, BatchJob, Client, Decision, ModelVersion
from tests.factories import ClientFactory, batch_caller
from tests.races import in_thread, wait_for_a_lock_wait
from tests.services import require_postgresql

pytestmark = pytest.mark.django_db(transaction=True)

# Two chunks of three rows: the first names N1 then N2, the second N2, a known client, then N1.
FILE = (
    b"age,revenu,historique_impaye,client_id\n"
    b"35,2000,0,N1\n36,2100,0,N2\n37,2150,0,\n"
    b"38,2200,1,N2\n39,2300,0,KNOWN1\n40,2400,0,N1\n"
)


@pytest.fixture(autouse=True)
def no_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    """The chunks run in the test's threads, not through Celery."""
    monkeypatch.setattr(batch_services, "_enqueue", lambda *args, **kwargs: None)


def first_holds_its_clients(
    monkeypatch: pytest.MonkeyPatch, *, then_fail: bool
) -> tuple[threading.Event, threading.Event]:
    """The first ``_link_new_clients`` call waits for ``go`` inside its chunk's transaction (then
    raises, with ``then_fail``); ``reached`` says it got there. Later calls run straight through."""
    reached, go = threading.Event(), threading.Event()
    real = batch_services._link_new_clients
    calls = itertools.count()

    def holding(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        if next(calls) == 0:
            reached.set()
            assert go.wait(timeout=60)
            if then_fail:
                raise RuntimeError("the first chunk's insert failed")
        return result

    monkeypatch.setattr(batch_services, "_link_new_clients", holding)
    return reached, go


def clients_of(chunk: BatchChunk) -> dict[int, str | None]:
    rows = Decision.objects.filter(batch_job=chunk.job_id, batch_row__range=(chunk.first_row, chunk.last_row))
    return dict(rows.values_list("batch_row", "client__client_id"))


@pytest.mark.parametrize("first_commits", [True, False], ids=["first-commits", "first-rolls-back"])
def test_two_chunks_naming_the_same_new_clients_share_one_row_each_without_a_deadlock(
    credit_model: ModelVersion, monkeypatch: pytest.MonkeyPatch, first_commits: bool
) -> None:
    require_postgresql()
    ClientFactory(client_id="KNOWN1")
    job = batch_job_submit(data=FILE, filename="two.csv", caller=batch_caller(), source="api", chunk_rows=3)
    first, second = BatchChunk.objects.filter(job=job).order_by("number")
    reached, go = first_holds_its_clients(monkeypatch, then_fail=not first_commits)
    results: dict[str, Any] = {}
    one = in_thread(results, "first", lambda: batch_chunk_score(chunk_id=first.pk, worker="w1"))
    assert reached.wait(timeout=60)  # N1 and N2 inserted by the first chunk, not committed
    assert not Client.objects.filter(client_id__in=["N1", "N2"]).exists()
    two = in_thread(results, "second", lambda: batch_chunk_score(chunk_id=second.pk, worker="w2"))
    wait_for_a_lock_wait()  # the second chunk's insert waits for the first chunk's transaction
    go.set()
    one.join(timeout=120)
    two.join(timeout=120)

    assert results["first"].status == ("done" if first_commits else "failed"), results
    assert results["second"].status == "done", results
    assert sorted(Client.objects.values_list("client_id", flat=True)) == ["KNOWN1", "N1", "N2"]
    if first_commits:
        assert clients_of(first) == {2: "N1", 3: "N2", 4: None}
    else:
        assert not clients_of(first)
        assert BatchChunk.objects.get(pk=first.pk).status == BatchChunkStatus.PENDING  # to be retried
        assert batch_chunk_score(chunk_id=first.pk).status == "done"  # its retry reuses the clients
        assert clients_of(first) == {2: "N1", 3: "N2", 4: None}
    assert clients_of(second) == {5: "N2", 6: "KNOWN1", 7: "N1"}
    job = BatchJob.objects.get(pk=job.pk)
    assert (job.status, job.rows_scored, job.rows_rejected) == (BatchJobStatus.COMPLETED, 6, 0)
