"""Batch jobs on real Celery workers, over Redis, against PostgreSQL: the production path.

What a bank needs from a batch job whatever happens to the workers: every row is decided
exactly once (none lost, none twice), a chunk that cannot be scored stops and is recorded,
and a job spreads over every worker sharing the broker and the database.
"""

from __future__ import annotations

import os
import signal
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from accounts.models import ApiKey
from accounts.services import api_key_create
from scoring.batch.files import pack
from scoring.batch.services import batch_job_cancel, batch_job_submit, batch_jobs_reconcile
from scoring.choices import BatchChunkStatus, BatchJobStatus
from scoring.models import BatchChunk, BatchJob, Decision, ModelVersion
from tests.integration.worker import celery_worker
from tests.scoring.batchfiles import applicants_csv, wait_until_finished
from tests.services import broker_url

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _empty_queue() -> None:
    """No message left by an earlier test (chunk ids restart with each test database)."""
    from creditplatform.celery import app

    broker_url()
    app.control.purge()


def _api_key() -> ApiKey:
    """A real caller: a job whose caller may no longer score is cancelled when its next chunk is picked up."""
    return api_key_create(name="batch-worker", role="analyst", scopes=["score"]).api_key


def _submit(text: str, chunk_rows: int, caller: str | None = None) -> BatchJob:
    return batch_job_submit(
        data=text.encode(),
        filename="portfolio.csv",
        caller=caller or _api_key().label,
        source="api",
        chunk_rows=chunk_rows,
    )


def _wait_for_chunks_done(job: BatchJob, count: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if BatchChunk.objects.filter(job=job, status=BatchChunkStatus.DONE).count() >= count:
            return
        time.sleep(0.01)
    raise AssertionError(f"fewer than {count} chunks done after 120 s")


def _assert_whole_chunks_only(job: BatchJob) -> None:
    """The stored rows are exactly those of the chunks marked done, and the job counts them."""
    done = list(BatchChunk.objects.filter(job=job, status=BatchChunkStatus.DONE))
    expected = {row for chunk in done for row in range(chunk.first_row, chunk.last_row + 1)}
    _assert_each_row_once(job, expected)
    assert (job.chunks_done, job.rows_scored) == (len(done), len(expected))
    assert set(job.chunks.values_list("status", flat=True)) <= {BatchChunkStatus.DONE, BatchChunkStatus.CANCELLED}


def _running_chunks(job: BatchJob) -> tuple[int, int]:
    statuses = list(BatchChunk.objects.filter(job=job).values_list("status", flat=True))
    return statuses.count(BatchChunkStatus.RUNNING), statuses.count(BatchChunkStatus.DONE)


def _kill_mid_chunk(pgid: int, job: BatchJob) -> None:
    """SIGKILL the worker's process group while at least one chunk is being scored.

    Reading the statuses and then killing is a race on a loaded machine: the chunk seen
    running may commit before the signal lands. So the group is frozen first (SIGSTOP),
    the statuses are read while nothing moves, and the kill is sent only if a chunk is
    still running; otherwise the workers go on (SIGCONT) and the check is tried again.
    """
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        running, done = _running_chunks(job)
        if running and done >= 2:
            os.killpg(pgid, signal.SIGSTOP)
            time.sleep(0.2)  # a COMMIT already sent finishes on the server while its client is frozen
            running, done = _running_chunks(job)
            if running and done < 10:
                os.killpg(pgid, signal.SIGKILL)  # the main process and its pool children, mid-chunk
                return
            os.killpg(pgid, signal.SIGCONT)
        time.sleep(0.002)
    os.killpg(pgid, signal.SIGKILL)  # the assertions below then say what went wrong


def _assert_each_row_once(job: BatchJob, expected_rows: set[int]) -> None:
    decisions = Decision.objects.filter(batch_job=job)
    assert decisions.count() == len(expected_rows)
    assert not decisions.values("batch_row").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert set(decisions.values_list("batch_row", flat=True)) == expected_rows


def test_a_ten_thousand_row_job_ends_with_exactly_ten_thousand_decisions(credit_model: ModelVersion) -> None:
    with celery_worker(concurrency=2):
        job = wait_until_finished(_submit(applicants_csv(10_000, seed=1), chunk_rows=1000))
    assert job.status == BatchJobStatus.COMPLETED
    assert (job.rows_scored, job.rows_rejected, job.chunks_done) == (10_000, 0, 10)
    _assert_each_row_once(job, set(range(2, 10_002)))  # CSV lines: the header is line 1
    assert not BatchChunk.objects.filter(job=job).exclude(payload=b"").exists()  # inputs live in the decisions now


def test_a_worker_killed_mid_job_and_restarted_loses_no_row_and_stores_none_twice(credit_model: ModelVersion) -> None:
    with celery_worker(concurrency=2) as worker:
        # Submitted once the worker is up; chunks of 1,000 rows last long enough to be caught
        # in the middle (two pool processes are rarely both between chunks).
        job = _submit(applicants_csv(10_000, seed=2), chunk_rows=1000)
        _kill_mid_chunk(worker.pid, job)
        worker.wait()
    interrupted = set(BatchChunk.objects.filter(job=job, status=BatchChunkStatus.RUNNING).values_list("id", flat=True))
    job.refresh_from_db()
    assert interrupted, f"the kill should land while a chunk is being scored ({job.chunks_done} done)"
    assert job.chunks_done < job.chunk_count

    with celery_worker(concurrency=2):
        # Beat's reconciler, a while later: the killed worker's chunks are stale by then.
        later = timezone.now() + timedelta(
            seconds=max(settings.BATCH_CHUNK_STALE_SECONDS, settings.BATCH_REQUEUE_AFTER_SECONDS) + 1
        )
        assert batch_jobs_reconcile(now=later).requeued >= len(interrupted)
        job = wait_until_finished(job)

    assert job.status == BatchJobStatus.COMPLETED
    assert (job.rows_scored, job.chunks_done) == (10_000, 10)
    _assert_each_row_once(job, set(range(2, 10_002)))
    redone = BatchChunk.objects.filter(id__in=interrupted)
    assert all(chunk.attempts >= 2 and chunk.status == BatchChunkStatus.DONE for chunk in redone)
    assert job.chunk_retries >= len(interrupted)


def test_a_poison_chunk_stops_after_the_capped_attempts_and_is_recorded(credit_model: ModelVersion) -> None:
    with celery_worker(concurrency=2, extra_env={"BATCH_RETRY_BACKOFF_SECONDS": "0.2"}):
        with transaction.atomic():  # the tasks leave when this commits: the poison is in place by then
            job = _submit(applicants_csv(2_000, seed=3), chunk_rows=500)
            poisoned = BatchChunk.objects.get(job=job, number=1)
            BatchChunk.objects.filter(pk=poisoned.pk).update(payload=pack(b"\xff\xfe not a chunk"))  # not UTF-8
        job = wait_until_finished(job)

    poisoned.refresh_from_db()
    assert job.status == BatchJobStatus.PARTIAL
    assert poisoned.status == BatchChunkStatus.DEAD
    assert poisoned.attempts == settings.BATCH_CHUNK_MAX_ATTEMPTS
    assert "UnicodeDecodeError" in poisoned.last_error
    assert (job.chunks_done, job.chunks_dead, job.rows_scored) == (3, 1, 1_500)
    assert job.chunk_retries == settings.BATCH_CHUNK_MAX_ATTEMPTS - 1
    _assert_each_row_once(job, set(range(2, 502)) | set(range(1002, 2002)))


def test_a_job_spreads_over_every_worker_sharing_the_broker_and_the_database(credit_model: ModelVersion) -> None:
    with celery_worker(name="host-a"), celery_worker(name="host-b"):
        job = wait_until_finished(_submit(applicants_csv(6_000, seed=4), chunk_rows=250))
    nodes = {claim.split("@")[0].rsplit("-", 1)[0] for claim in job.chunks.values_list("claimed_by", flat=True)}
    assert job.status == BatchJobStatus.COMPLETED
    assert nodes == {"host-a", "host-b"}


def test_a_job_cancelled_while_the_workers_score_it_keeps_whole_chunks_and_scores_no_more(
    credit_model: ModelVersion,
) -> None:
    with celery_worker(concurrency=2):
        job = _submit(applicants_csv(10_000, seed=5), chunk_rows=500)
        _wait_for_chunks_done(job, 2)
        cancelled = batch_job_cancel(job=job, by=None, reason="requested")
        assert cancelled.chunks_done < cancelled.chunk_count, "the job should be cancelled before its end"
    # The worker stopped (a warm shutdown: chunks in flight ended first), nothing more can come.
    job.refresh_from_db()
    assert (job.status, job.cancel_reason) == (BatchJobStatus.CANCELLED, "requested")
    assert (job.chunks_done, job.rows_scored) == (cancelled.chunks_done, cancelled.rows_scored)
    _assert_whole_chunks_only(job)
    assert job.chunks.filter(status=BatchChunkStatus.CANCELLED).exists()


def test_a_job_whose_api_key_expires_mid_run_stops_on_the_workers(credit_model: ModelVersion) -> None:
    """Nothing tells the workers that a key expired: the next chunk picked up finds out and cancels the job."""
    key = _api_key()
    with celery_worker(concurrency=2):
        job = _submit(applicants_csv(10_000, seed=6), chunk_rows=500, caller=key.label)
        _wait_for_chunks_done(job, 1)
        ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now())
        job = wait_until_finished(job)
    assert (job.status, job.cancel_reason) == (BatchJobStatus.CANCELLED, "caller_access_revoked")
    assert 1 <= job.chunks_done < job.chunk_count
    _assert_whole_chunks_only(job)
