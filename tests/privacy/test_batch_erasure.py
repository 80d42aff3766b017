"""Erasure and batch jobs: a person named by a file that is queued, being scored, dead-lettered or done.

- a chunk **being scored** that names the person defers the erasure (a hold on the request);
  once the chunk is done the erasure runs and the decisions leave the job;
- **queued and dead-lettered** chunks lose the person's rows, every other row keeping its
  number (CSV lines, quoted records over two lines, Parquet positions); scored later, the
  blanked rows are refused and nothing of the person is stored again;
- a client **erased while their chunk is being scored** (a file the erasure could not see
  yet): the chunk stores none of their rows.
"""

from __future__ import annotations

import io
import json
import zlib
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from privacy.models import RequestStatus
from privacy.services import access_export, erasure_execute, gdpr_request_approve, gdpr_request_record
from privacy.tasks import IN_FLIGHT_RETRY_SECONDS, erasure_run
from scoring.batch import payloads, services
from scoring.batch.files import read_chunk
from scoring.batch.selectors import batch_job_result_rows
from scoring.batch.services import batch_chunk_score, batch_job_submit
from scoring.choices import BatchChunkStatus, BatchFileFormat, BatchJobStatus
from scoring.models import BatchChunk, BatchJob, Client, Decision, ModelVersion
from tests.factories import batch_caller

pytestmark = pytest.mark.django_db


def submit(data: bytes, name: str = "portfolio.csv") -> BatchJob:
    """A job stored with its chunks; its tasks wait for a commit that never comes in a test."""
    return batch_job_submit(data=data, filename=name, caller=batch_caller(), source="api")


def erasure(person: Any, officers: tuple[Any, Any]) -> Any:
    recorder, approver = officers
    request = gdpr_request_record(kind="erasure", client=person, by=recorder)
    return gdpr_request_approve(request=request, by=approver, enqueue=False)


def rows_of(chunk: BatchChunk) -> dict[int, dict[str, str]]:
    chunk.refresh_from_db()
    read = read_chunk(
        bytes(chunk.payload), chunk.first_row, by_position=chunk.job.file_format == BatchFileFormat.PARQUET
    )
    names = list(read.columns)
    return {row: {name: read.columns[name][i] for name in names} for i, row in enumerate(read.rows.tolist())} | {
        row: {"malformed": why} for row, why in read.malformed.items()
    }


def test_a_chunk_being_scored_that_names_the_person_defers_the_erasure_until_it_is_done(
    credit_model: ModelVersion, person: Any, officers: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    job = submit(b"age,revenu,historique_impaye,client_id\n35,2000,0,C7001\n52,4000,1,C2\n")
    chunk = job.chunks.get()
    assert services._claim(chunk.pk, "worker-1") is not None  # a worker took it and is scoring it

    request = erasure(person, officers)
    result = erasure_execute(request=request)
    assert not result.done
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED
    [hold] = [h for h in request.holds if h["effect"] == "defers"]
    assert hold["kind"] == "in_flight"
    assert f"Batch job {str(job.pk)[:8]}" in hold["detail"] and "waits until it is scored" in hold["detail"]
    assert Client.objects.get(pk=person.pk).client_id == "C7001"  # nothing erased yet

    # The erasure job tries again in a minute (not at the nightly run): only the chunk defers it.
    retries: list[tuple[Any, ...]] = []
    monkeypatch.setattr(erasure_run, "apply_async", lambda args, countdown: retries.append((*args, countdown)))
    assert erasure_run(request.pk)["status"] == "deferred"
    assert retries == [(request.pk, 1, IN_FLIGHT_RETRY_SECONDS)]

    assert batch_chunk_score(chunk_id=chunk.pk).status == "done"  # the worker (its redelivery) finishes
    assert Decision.objects.filter(batch_job=job, client=person).count() == 1
    assert erasure_execute(request=request).done
    tombstone = Client.objects.get(pk=person.pk)
    assert tombstone.client_id.startswith("erased-")
    # The decision is kept (pseudonymised) but no longer points into the caller's file.
    kept = Decision.objects.get(client=tombstone, features__age=35)
    assert (kept.batch_job_id, kept.batch_row) == (None, None)
    assert [line[0] for line in batch_job_result_rows(job=job)] == [3]  # only the other row


@pytest.fixture
def parquet_file() -> bytes:
    frame = pd.DataFrame(
        {
            "age": [35, 41, 52, 28],
            "revenu": [2000.0, 3000.0, 4000.0, 1500.0],
            "historique_impaye": [0, 0, 1, 0],
            "client_id": ["C7001", "C2", "C7001", None],
        }
    )
    out = io.BytesIO()
    frame.to_parquet(out, index=False)
    return out.getvalue()


CSV_FILE = (
    b"age,revenu,historique_impaye,client_id,application_id\n"
    b"35,2000,0,C7001,\n"  # row 2: by client id
    b'"41","3000",0,C2,\n'  # row 3: quoted
    b"\n"  # row 4: blank
    b'"52\n",4000,1,C3,APP-C7001\n'  # rows 5-6: one record over two lines, by application id
    b"28,1500,0,,\n"  # row 7
    b"30,1200,0,C7001-bis,\n"  # row 8: an id that merely starts like the person's
)


@pytest.mark.parametrize("kind", ["csv queued", "csv dead-lettered", "parquet queued"])
def test_queued_and_dead_lettered_chunks_lose_the_persons_rows_and_keep_every_other_rows_number(
    kind: str, credit_model: ModelVersion, person: Any, officers: tuple[Any, Any], parquet_file: bytes
) -> None:
    parquet = kind.startswith("parquet")
    job = submit(parquet_file, "portfolio.parquet") if parquet else submit(CSV_FILE)
    chunk = job.chunks.get()
    if "dead" in kind:
        BatchChunk.objects.filter(pk=chunk.pk).update(
            status=BatchChunkStatus.DEAD, attempts=3, last_error="ValueError: C7001 made it fail"
        )
        BatchJob.objects.filter(pk=job.pk).update(chunks_dead=1, status=BatchJobStatus.FAILED)
    before = rows_of(chunk)
    person_rows = [1, 3] if parquet else [2, 5]  # Parquet rows are positions (from 1)

    # The access export shows them first.
    recorder, approver = officers
    access = gdpr_request_record(kind="access", client=person, by=recorder)
    gdpr_request_approve(request=access, by=approver)
    body, _ = access_export(request=access, by=recorder)
    [exported] = [t["rows"] for t in json.loads(body)["tables"] if t["table"] == "scoring.BatchChunk"]
    assert [(r["batch_job"], r["row"], r["cells"]["age"]) for r in exported] == [
        (str(job.pk), row, before[row]["age"]) for row in person_rows
    ]

    assert erasure_execute(request=erasure(person, officers)).done
    after = rows_of(chunk)
    assert set(after) == set(before)  # every row keeps its number
    for row in person_rows:
        assert set(after[row].values()) == {""}  # the person's rows: empty cells
    assert {r: after[r] for r in after if r not in person_rows} == {
        r: before[r] for r in before if r not in person_rows
    }
    assert b"C7001" not in zlib.decompress(bytes(chunk.payload)).replace(b"C7001-bis", b"")
    assert chunk.last_error in ("", "[erased]")

    if "dead" in kind:
        services.batch_job_retry_dead_letters(job=job)
    assert batch_chunk_score(chunk_id=chunk.pk).status == "done"
    job.refresh_from_db()
    stored = set(Decision.objects.filter(batch_job=job).values_list("batch_row", flat=True))
    assert stored.isdisjoint(person_rows)
    assert set(job.rejects.filter(row__in=person_rows).values_list("row", flat=True)) == set(person_rows)
    assert not Client.objects.filter(client_id="C7001").exists()


@pytest.fixture
def unseen_by_the_erasure(monkeypatch: pytest.MonkeyPatch) -> None:
    """The erasure does not find the chunk: a file that reached the platform while it ran."""

    def nothing(ids: set[str], *, lock: bool) -> Iterator[Any]:
        return iter(())

    monkeypatch.setattr(payloads, "_chunks", nothing)


def test_rows_of_a_client_erased_while_their_chunk_is_scored_are_not_stored(
    credit_model: ModelVersion,
    person: Any,
    officers: tuple[Any, Any],
    monkeypatch: pytest.MonkeyPatch,
    unseen_by_the_erasure: None,
) -> None:
    job = submit(b"age,revenu,historique_impaye,client_id\n35,2000,0,C7001\n52,4000,1,C2\n41,3000,0,C7001\n")
    request = erasure(person, officers)
    real_score_rows = services.score_rows

    def score_then_erase(*args: Any, **kwargs: Any) -> Any:
        scored = real_score_rows(*args, **kwargs)  # the rows are linked to the person's client by now
        assert erasure_execute(request=request).done
        return scored

    monkeypatch.setattr(services, "score_rows", score_then_erase)
    assert batch_chunk_score(chunk_id=job.chunks.get().pk).status == "done"

    job.refresh_from_db()
    assert (job.status, job.rows_scored, job.rows_rejected) == (BatchJobStatus.COMPLETED, 1, 2)
    assert list(Decision.objects.filter(batch_job=job).values_list("batch_row", flat=True)) == [3]
    assert not Decision.objects.filter(client=person, batch_job=job).exists()
    assert not Client.objects.filter(client_id="C7001").exists()


def test_a_dead_lettered_chunks_rows_are_not_kept_for_years_after_its_retry_window(
    credit_model: ModelVersion, settings: Any
) -> None:
    """A chunk given up holds rows nobody decided: kept for a retry, not as long as the decisions."""
    import datetime as dt

    from django.utils import timezone

    from privacy.services import retention_apply

    settings.BATCH_DEAD_LETTER_RETENTION_DAYS = 30
    text = "age,revenu,historique_impaye,client_id\n35,2000,0,C1\n41,3000,0,C2\n52,4000,1,C3\n"
    job = batch_job_submit(data=text.encode(), filename="p.csv", caller=batch_caller(), source="api", chunk_rows=1)
    first, second, third = job.chunks.order_by("number")
    now = timezone.now()
    BatchChunk.objects.filter(pk=first.pk).update(
        status=BatchChunkStatus.DEAD, attempts=3, finished_at=now - dt.timedelta(days=31)
    )
    BatchChunk.objects.filter(pk=second.pk).update(
        status=BatchChunkStatus.DEAD, attempts=3, finished_at=now - dt.timedelta(days=29)
    )
    BatchJob.objects.filter(pk=job.pk).update(chunks_dead=2)
    assert batch_chunk_score(chunk_id=third.pk).status == "done"
    BatchChunk.objects.filter(pk=third.pk).update(finished_at=now - dt.timedelta(days=400))

    retention_apply(now=now)
    assert not BatchChunk.objects.filter(pk=first.pk).exists()  # its rows are gone
    assert set(job.chunks.values_list("pk", flat=True)) == {second.pk, third.pk}  # within its window; done
    job.refresh_from_db()
    assert (job.status, job.chunks_dead, job.rows_scored) == (BatchJobStatus.PARTIAL, 2, 1)  # the job's record
    assert services.batch_job_retry_dead_letters(job=job) == 1  # what is left can still be retried
