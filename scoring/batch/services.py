"""Writes of batch scoring jobs: create a job, score a chunk, reconcile, retry dead letters.

How a chunk is done exactly once, whatever happens to the workers (docs/batch.md):

1. **Claim**: one conditional ``UPDATE`` moves the chunk to ``running`` and counts the
   attempt. A chunk already ``done`` or ``dead`` is left alone (a redelivered message, a
   duplicate from the reconciler), so a message can arrive any number of times.
2. **Cap**: the attempt count covers every way an attempt ends, errors and lost workers
   alike (a worker killed mid-chunk never reports anything; its message is handed back by
   the broker or found by the reconciler). Past ``BATCH_CHUNK_MAX_ATTEMPTS`` the chunk is
   not run again: it becomes a dead letter, shown on its job.
3. **Commit**: the decisions, the rejects, the chunk's ``done`` mark, the job's counters and
   the new clients the rows name are written in one transaction, which first re-checks that
   this attempt still owns the chunk (``attempts`` unchanged). A newer attempt took over?
   This one rolls back. An attempt that fails leaves nothing behind, not even a client.
   The unique ``(batch_job, batch_row)`` constraint on decisions backs it all up.
4. **Cancel** (``batch_job_cancel``): the job row is the gate. Every transaction that writes
   for a chunk (claim, commit, dead letter) first takes a ``FOR KEY SHARE`` lock on its job
   and reads its status; the cancel takes ``FOR UPDATE``. A chunk committing at the instant
   of the cancel either commits first (the cancel waits, then counts it) or sees the job
   cancelled and rolls back whole: never half a chunk.

Tasks are enqueued only once the job's transaction has committed, and carry chunk ids only,
never applicant data: the rows travel through the database, not the broker.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import numpy as np
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.actors import Acting
from accounts.principals import caller_may_decide
from audit.services import audit_record
from scoring.batch.files import BatchFileError, ChunkRows, SplitFile, pack_all, read_chunk, split_upload
from scoring.batch.rows import CheckedRows, canonical_columns, check_rows, score_rows
from scoring.batch.writer import ChunkContext, Links, write_decisions
from scoring.choices import (
    ApplicationStatus,
    BatchCancelReason,
    BatchChunkStatus,
    BatchFileFormat,
    BatchJobStatus,
    CreditDecisionOutcome,
    ModelPurpose,
    ModelStatus,
)
from scoring.ml.model import LoadedModel
from scoring.ml.pipeline import PIPELINE_VERSION
from scoring.ml.predictor import get_model, require_model, require_model_version
from scoring.models import BatchChunk, BatchJob, BatchReject, Client, CreditApplication, Decision, ModelVersion
from scoring.review.services import review_cases_open_referred
from scoring.services import client_pks_find, client_pks_get_or_create
from scoring.signals import decisions_recorded

logger = logging.getLogger(__name__)

OPEN = (BatchJobStatus.QUEUED, BatchJobStatus.RUNNING)


class BatchFileTooLarge(BatchFileError):
    """More bytes than ``BATCH_UPLOAD_MAX_BYTES``."""


@dataclass(frozen=True)
class CheckedFile:
    """A file that passed the file-level checks, cut into chunks for the model that checked it."""

    filename: str
    model_version_id: int
    chunk_rows: int
    split: SplitFile


def batch_upload_size_check(*, size: int) -> None:
    """The size rule of a batch file, checked before anything reads it (admin form, API) and again on its bytes."""
    if size > settings.BATCH_UPLOAD_MAX_BYTES:
        raise BatchFileTooLarge(f"Batch files are at most {settings.BATCH_UPLOAD_MAX_BYTES:,} bytes.")


def batch_file_check(*, data: bytes, filename: str, chunk_rows: int | None = None) -> CheckedFile:
    """The file-level rules (size, format, header against the champion's schema, row count).

    Raises ``BatchFileTooLarge`` or ``BatchFileError`` with the reason, and
    ``ModelUnavailable`` when no credit champion can serve. Stores nothing.
    """
    batch_upload_size_check(size=len(data))
    model = require_model(ModelPurpose.CREDIT)
    rows_per_chunk = chunk_rows or settings.BATCH_CHUNK_ROWS
    split = split_upload(
        data,
        filename,
        schema=model.schema,
        chunk_rows=rows_per_chunk,
        max_rows=settings.BATCH_MAX_ROWS,
        # A Parquet file's rows as CSV: at most what a CSV upload could hold, twice over (a file of
        # numbers unpacks to about twice its size as CSV; long texts are never a valid value).
        max_unpacked_bytes=2 * settings.BATCH_UPLOAD_MAX_BYTES,
    )
    return CheckedFile(_clean_filename(filename), model.model_version_id, rows_per_chunk, split)


def batch_job_create(*, checked: CheckedFile, caller: str, source: str, idempotency_key: str | None = None) -> BatchJob:
    """Store a checked file as a job cut into chunks; the chunks are enqueued once it commits.

    The job is scored entirely by the model that checked the file (the champion then). With an
    ``idempotency_key`` (the admin's upload form sends its page's token), the caller's job
    stored under that key with the same file is returned instead of a second one; another file
    raises ``BatchIdempotencyConflict``.
    """
    return _job_store(checked, caller=caller, source=source, idempotency_key=idempotency_key).job


def batch_job_submit(
    *, data: bytes, filename: str, caller: str, source: str, chunk_rows: int | None = None
) -> BatchJob:
    """Check a file and store it as a job (``batch_file_check`` then ``batch_job_create``)."""
    checked = batch_file_check(data=data, filename=filename, chunk_rows=chunk_rows)
    return batch_job_create(checked=checked, caller=caller, source=source)


class BatchIdempotencyConflict(Exception):
    """An Idempotency-Key the caller already used for another file."""


@dataclass(frozen=True)
class Submitted:
    job: BatchJob
    replayed: bool  # the job stored earlier under the same Idempotency-Key


def batch_job_submit_once(
    *, data: bytes, filename: str, caller: str, source: str, idempotency_key: str | None
) -> Submitted:
    """``batch_job_submit``, made safe to retry with an ``idempotency_key`` (the API's header).

    The same caller sending the same key with the same file (its SHA-256) gets the job
    stored the first time, whatever its state, instead of a second job deciding every
    applicant again; the same key with another file raises ``BatchIdempotencyConflict``.
    Two such uploads at once store one job (a unique constraint; the second returns it).
    """
    if idempotency_key:
        digest = hashlib.sha256(data).hexdigest()
        earlier = _idempotent_job(caller=caller, idempotency_key=idempotency_key, sha256=digest)
        if earlier is not None:
            return Submitted(earlier, replayed=True)
    checked = batch_file_check(data=data, filename=filename)
    return _job_store(checked, caller=caller, source=source, idempotency_key=idempotency_key)


def batch_job_for_key(*, caller: str, idempotency_key: str, sha256: str) -> BatchJob | None:
    """The caller's job stored under ``idempotency_key`` (None if none); ``BatchIdempotencyConflict``
    if it holds another file than the one whose SHA-256 is ``sha256``."""
    return _idempotent_job(caller=caller, idempotency_key=idempotency_key, sha256=sha256)


def _idempotent_job(*, caller: str, idempotency_key: str | None, sha256: str) -> BatchJob | None:
    """The caller's job stored under this key (None without one); a conflict if it holds another file."""
    if not idempotency_key:
        return None
    earlier = BatchJob.objects.filter(caller=caller[:100], idempotency_key=idempotency_key).first()
    if earlier is not None and earlier.file_sha256 != sha256:
        raise BatchIdempotencyConflict(
            f"This Idempotency-Key was used for another file (batch job {earlier.pk}); use a new key for a new file."
        )
    return earlier


def _job_store(checked: CheckedFile, *, caller: str, source: str, idempotency_key: str | None) -> Submitted:
    split = checked.split
    payloads = pack_all([piece.payload for piece in split.slices])
    now = timezone.now()
    try:
        job = _job_create(checked, payloads, now, caller=caller, source=source, idempotency_key=idempotency_key)
    except IntegrityError:
        # The same key stored meanwhile by a concurrent upload (the unique constraint): that job.
        earlier = _idempotent_job(caller=caller, idempotency_key=idempotency_key, sha256=split.sha256)
        if earlier is None:
            raise
        return Submitted(earlier, replayed=True)
    job.refresh_from_db()
    return Submitted(job, replayed=False)


def _job_create(
    checked: CheckedFile, payloads: list[bytes], now: datetime, *, caller: str, source: str, idempotency_key: str | None
) -> BatchJob:
    split = checked.split
    with transaction.atomic():
        job = BatchJob.objects.create(
            idempotency_key=idempotency_key or None,
            source=source,
            filename=checked.filename,
            file_format=split.file_format,
            file_size=split.size,
            file_sha256=split.sha256,
            columns=split.columns,
            model_version_id=checked.model_version_id,
            caller=caller[:100],
            total_rows=split.total_rows,
            chunk_rows=checked.chunk_rows,
            chunk_count=len(split.slices),
        )
        BatchChunk.objects.bulk_create(
            [
                BatchChunk(
                    job=job,
                    number=number,
                    first_row=piece.first_row,
                    last_row=piece.last_row,
                    row_count=piece.rows,
                    payload=payload,
                    enqueued_at=now,
                )
                for number, (piece, payload) in enumerate(zip(split.slices, payloads, strict=True))
            ],
            batch_size=50,
        )
        logger.info(
            "batch job created",
            extra={"job": str(job.pk), "rows": job.total_rows, "chunks": job.chunk_count, "source": source},
        )
        transaction.on_commit(partial(_enqueue_job, job.pk))
    return job


def _clean_filename(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(ch for ch in base if ch.isprintable())[:255] or "upload"


# --- Enqueueing ----------------------------------------------------------------------------


def _enqueue_job(job_id: Any) -> None:
    ids = list(
        BatchChunk.objects.filter(job_id=job_id, status=BatchChunkStatus.PENDING)
        .order_by("number")
        .values_list("id", flat=True)
    )
    _enqueue(ids)


def _enqueue(chunk_ids: list[int], countdown: float | None = None) -> None:
    """Send one task per chunk. If the broker refuses, the chunks are marked for the reconciler."""
    from scoring.tasks import batch_chunk_score as batch_chunk_score_task

    for position, chunk_id in enumerate(chunk_ids):
        try:
            batch_chunk_score_task.apply_async((chunk_id,), countdown=countdown or 0)
        except Exception as exc:  # the broker is down (or, in-process, a bug): the reconciler retries
            logger.warning(
                "batch chunks not enqueued; the reconciler will send them",
                extra={"chunks": len(chunk_ids) - position, "error": type(exc).__name__},
            )
            BatchChunk.objects.filter(id__in=chunk_ids[position:], status=BatchChunkStatus.PENDING).update(
                enqueued_at=None
            )
            return


# --- Scoring a chunk -----------------------------------------------------------------------


class _Superseded(Exception):
    """Another attempt claimed the chunk meanwhile: this one must not write."""


class _Cancelled(Exception):
    """The chunk's job was cancelled while it was scored: this attempt must not write."""


@dataclass(frozen=True)
class ChunkResult:
    status: str  # done, dead, failed (will be retried), skipped (nothing to do), superseded, cancelled
    scored: int = 0
    rejected: int = 0


def batch_chunk_score(*, chunk_id: int, worker: str = "") -> ChunkResult:
    """Claim a chunk, score its rows and store the decisions, exactly once (module docstring).

    A chunk of a cancelled job is skipped, nothing written; a job whose caller lost its access
    (``caller_may_decide``) is cancelled by the platform when its next chunk is picked up.
    """
    if _caller_lost_access(chunk_id):
        return ChunkResult("cancelled")
    claimed = _claim(chunk_id, worker or f"pid:{os.getpid()}")
    if claimed is None:
        return ChunkResult("skipped")
    chunk, attempt = claimed
    if attempt > settings.BATCH_CHUNK_MAX_ATTEMPTS:
        _dead_letter(chunk, attempt, lost=True)
        return ChunkResult("dead")
    try:
        result, outcomes = _run(chunk, attempt)
    except _Superseded:
        return ChunkResult("superseded")
    except _Cancelled:
        return ChunkResult("cancelled")
    except Exception as exc:
        return _failed(chunk, attempt, exc)
    decisions_recorded.send(sender=Decision, kind="credit", outcomes=outcomes)
    _job_finish(chunk.job_id)
    return result


def _caller_lost_access(chunk_id: int) -> bool:
    """Cancel the chunk's open job if its caller may no longer score (True then: do not run it)."""
    job = (
        BatchJob.objects.filter(chunks__pk=chunk_id, status__in=OPEN)
        .only("pk", "status", "caller", "chunks_done", "rows_scored", "rows_rejected")
        .first()
    )
    if job is None or caller_may_decide(caller=job.caller):
        return False
    with contextlib.suppress(BatchJobNotCancellable):  # ended or cancelled meanwhile (by another of its chunks)
        batch_job_cancel(job=job, by=None, reason=BatchCancelReason.CALLER_ACCESS_REVOKED)
    return True


def _job_gate(job_id: Any) -> str | None:
    """The job's status, its row locked ``FOR KEY SHARE`` until the transaction ends (None if gone).

    Chunks of one job hold it together (it does not block their counter updates), while
    ``batch_job_cancel`` (``FOR UPDATE``) waits for them and they for it: a chunk that reads
    ``cancelled`` here writes nothing.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT status FROM {BatchJob._meta.db_table} WHERE id = %s FOR KEY SHARE",  # noqa: S608
                [job_id],
            )
            row = cursor.fetchone()
        return row[0] if row else None
    return BatchJob.objects.filter(pk=job_id).values_list("status", flat=True).first()


def _claim(chunk_id: int, worker: str) -> tuple[BatchChunk, int] | None:
    now = timezone.now()
    job_id = BatchChunk.objects.filter(pk=chunk_id).values_list("job_id", flat=True).first()
    if job_id is None:
        return None
    with transaction.atomic():
        # The job first (the order the cancel locks them in); a cancelled job's chunk is not claimed.
        if _job_gate(job_id) not in OPEN:
            return None
        claimed = BatchChunk.objects.filter(
            pk=chunk_id, status__in=[BatchChunkStatus.PENDING, BatchChunkStatus.RUNNING]
        ).update(status=BatchChunkStatus.RUNNING, attempts=F("attempts") + 1, claimed_at=now, claimed_by=worker[:200])
        if not claimed:
            return None
        chunk = BatchChunk.objects.select_related("job").get(pk=chunk_id)
        if 1 < chunk.attempts <= settings.BATCH_CHUNK_MAX_ATTEMPTS:  # an attempt past the cap does not run
            BatchJob.objects.filter(pk=chunk.job_id).update(chunk_retries=F("chunk_retries") + 1)
        BatchJob.objects.filter(pk=chunk.job_id, status=BatchJobStatus.QUEUED).update(
            status=BatchJobStatus.RUNNING, started_at=now
        )
    return chunk, chunk.attempts


def _run(chunk: BatchChunk, attempt: int) -> tuple[ChunkResult, list[str]]:
    job = chunk.job
    model = require_model_version(job.model_version_id)
    # The band in force now (an admin may change it while a long job runs; the loaded copy may be older).
    band = ModelVersion.objects.values_list("refer_lower", "refer_upper").get(pk=job.model_version_id)
    if band != (model.refer_lower, model.refer_upper):
        model = replace(model, refer_lower=band[0], refer_upper=band[1])
    missing_share = settings.SCORE_REFER_MISSING_SHARE  # stored with each decision (exact replay)
    rows = read_chunk(bytes(chunk.payload), chunk.first_row, by_position=job.file_format == BatchFileFormat.PARQUET)
    checked = check_rows(model.schema, rows)  # its rejects name the columns as the file does
    rows = canonical_columns(rows, model.schema)  # the challenger (_shadow) reads the features' own names
    checked, client_pks, application_pks = _links(checked)
    scored = score_rows(
        model,
        checked,
        reason_count=settings.SCORE_REASON_COUNT,
        medium_fraction=settings.SCORE_MEDIUM_RISK_FRACTION,
        seed=chunk.pk,
        refer_missing_share=missing_share,
    )
    shadow_id, shadow_p, shadow_y = _shadow(model, checked, rows)
    now = timezone.now()
    with transaction.atomic():
        if _job_gate(job.pk) not in OPEN:  # cancelled while this chunk was scored: nothing is written
            raise _Cancelled
        # The chunk's new clients are created here, with its decisions: an attempt that fails or
        # is superseded, or a chunk dead-lettered for good, leaves no client behind.
        client_pks = _link_new_clients(checked, client_pks)
        erased = _erased_clients(client_pks)
        if erased:  # erased while this chunk was scored: their rows are not stored (docs/privacy.md)
            keep = np.fromiter((pk not in erased for pk in client_pks), dtype=bool, count=len(client_pks))
            scored = scored.subset(keep)
            client_pks = [pk for pk, k in zip(client_pks, keep.tolist(), strict=True) if k]
            application_pks = [pk for pk, k in zip(application_pks, keep.tolist(), strict=True) if k]
            if shadow_p is not None and shadow_y is not None:
                shadow_p, shadow_y = shadow_p[keep], shadow_y[keep]
        dropped = len(keep) - len(scored.rows) if erased else 0
        owned = BatchChunk.objects.filter(pk=chunk.pk, status=BatchChunkStatus.RUNNING, attempts=attempt).update(
            status=BatchChunkStatus.DONE,
            finished_at=now,
            rows_scored=len(scored.rows),
            rows_rejected=len(checked.rejects) + dropped,
            payload=b"",  # the decisions hold the inputs now
            last_error="",
        )
        if not owned:
            raise _Superseded
        write_decisions(
            scored,
            Links(client_pks, application_pks, shadow_p, shadow_y),
            ChunkContext(
                job_id=job.pk,
                model_version_id=job.model_version_id,
                threshold=model.threshold,
                caller=job.caller,
                created_at=now,
                shadow_model_version_id=shadow_id,
                artifact_sha256=model.sha256,
                pipeline_version=PIPELINE_VERSION,
                refer_lower_used=model.refer_lower,
                refer_upper_used=model.refer_upper,
                refer_missing_share_used=missing_share,
            ),
        )
        if CreditDecisionOutcome.REFER.value in scored.decisions:
            # The chunk's referred decisions open their review cases with them (docs/review.md).
            review_cases_open_referred(
                decision_ids=Decision.objects.filter(
                    batch_job_id=job.pk,
                    batch_row__in=scored.rows[scored.decisions == CreditDecisionOutcome.REFER.value].tolist(),
                ).values_list("pk", flat=True)
            )
        BatchReject.objects.bulk_create(
            [BatchReject(job_id=job.pk, row=row, errors=errors) for row, errors in sorted(checked.rejects.items())],
            batch_size=1000,
            ignore_conflicts=True,
        )
        decided = {pk for pk in application_pks if pk is not None}
        if decided:
            CreditApplication.objects.filter(pk__in=decided).update(status=ApplicationStatus.DECIDED, updated_at=now)
        BatchJob.objects.filter(pk=job.pk).update(
            chunks_done=F("chunks_done") + 1,
            rows_scored=F("rows_scored") + len(scored.rows),
            rows_rejected=F("rows_rejected") + len(checked.rejects) + dropped,
        )
    if dropped:
        logger.warning("batch rows of erased clients not stored", extra={"job": str(job.pk), "rows": dropped})
    if scored.exact_fallback:
        logger.warning("batch chunk explained row by row", extra={"job": str(job.pk), "chunk": chunk.number})
    return ChunkResult("done", len(scored.rows), len(checked.rejects)), scored.outcomes


def _links(checked: CheckedRows) -> tuple[CheckedRows, list[int | None], list[int | None]]:
    """Clients and applications named by the rows, as ``/score`` links them.

    An unknown application, or one of another client, rejects the row. Returns the rows kept,
    with each one's client and application: the known ones only (read, never written, before
    the chunk is scored, so that a client erased meanwhile is seen as such by
    ``_erased_clients``); a row naming an unknown client has none yet: ``_link_new_clients``
    creates it in the chunk's transaction.
    """
    application_ids = {a for a in checked.application_ids.tolist() if a}
    applications = {
        a.application_id: (a.pk, a.client_id, a.client.client_id)
        for a in CreditApplication.objects.select_related("client")
        .only("pk", "application_id", "client_id", "client__client_id")
        .filter(application_id__in=application_ids)
    }
    refused: dict[int, dict[str, str]] = {}
    for row, application, client in zip(
        checked.rows.tolist(), checked.application_ids.tolist(), checked.client_ids.tolist(), strict=True
    ):
        if not application:
            continue
        found = applications.get(application)
        if found is None:
            refused[row] = {"application_id": "Unknown application."}
        elif client and found[2] != client:
            refused[row] = {"application_id": "This application belongs to another client."}
    checked = checked.drop(refused)

    clients = client_pks_find(client_ids=(c for c in checked.client_ids.tolist() if c))
    client_pks: list[int | None] = []
    application_pks: list[int | None] = []
    for application, client in zip(checked.application_ids.tolist(), checked.client_ids.tolist(), strict=True):
        found = applications.get(application) if application else None
        application_pks.append(found[0] if found else None)
        client_pks.append(found[1] if found else (clients.get(client) if client else None))
    return checked, client_pks, application_pks


def _link_new_clients(checked: CheckedRows, client_pks: list[int | None]) -> list[int | None]:
    """``client_pks`` with the rows that name an unknown client linked to it, created bare
    (``client_pks_get_or_create``, as ``/score`` creates it).

    Called inside the transaction that stores the chunk's decisions, so that its new clients
    commit with them or not at all. Chunks naming the same new client, on any worker, share
    one row: the insert skips a conflict (after waiting for the other chunk's transaction) and
    reads the winner's row; the ids are inserted in sorted order, so that two chunks take those
    locks in the same order and never deadlock.
    """
    client_ids = checked.client_ids.tolist()
    new = {client for client, pk in zip(client_ids, client_pks, strict=True) if client and pk is None}
    if not new:
        return client_pks
    created = client_pks_get_or_create(client_ids=new)
    return [created[client] if client and pk is None else pk for client, pk in zip(client_ids, client_pks, strict=True)]


def _erased_clients(client_pks: list[int | None]) -> set[int]:
    """The linked clients erased (or deleted) since the chunk's rows were linked to them.

    On PostgreSQL the live ones are locked (``FOR KEY SHARE``, as the decisions' foreign
    keys would lock them) until the chunk commits: an erasure, which locks its client
    ``FOR UPDATE``, either waits for the chunk (and then pseudonymises its decisions) or
    commits first, and the lock then sees the client erased.
    """
    linked = sorted({pk for pk in client_pks if pk is not None})
    if not linked:
        return set()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id FROM {Client._meta.db_table} WHERE id = ANY(%s) AND erased_at IS NULL FOR KEY SHARE",  # noqa: S608
                [linked],
            )
            live = {row[0] for row in cursor.fetchall()}
    else:
        live = set(Client.objects.filter(pk__in=linked, erased_at__isnull=True).values_list("pk", flat=True))
    return set(linked) - live


def _shadow(
    model: LoadedModel, checked: CheckedRows, chunk: ChunkRows
) -> tuple[int | None, np.ndarray | None, np.ndarray | None]:
    """The challenger's verdicts on the scored rows (stored, never returned), as ``/score`` does."""
    challenger = get_model(ModelPurpose.CREDIT, ModelStatus.CHALLENGER)
    if challenger is None or challenger.model_version_id == model.model_version_id or not len(checked.rows):
        return None, None, None
    # The challenger sees the columns it knows, from the scored rows' own cells.
    positions = np.searchsorted(chunk.rows, checked.rows).tolist()
    known = {name: [cells[i] for i in positions] for name, cells in chunk.columns.items() if name in challenger.schema}
    seen = challenger.schema.validate_columns(known, len(positions))
    usable = ~seen.refused_rows()
    probabilities = np.full(len(positions), np.nan)
    predictions = np.full(len(positions), -1, dtype=np.int64)
    if usable.any():
        p = np.clip(challenger.probabilities(seen.matrix[usable]), 0.0, 1.0)
        probabilities[usable] = p
        predictions[usable] = (p >= challenger.threshold).astype(np.int64)
    return challenger.model_version_id, probabilities, predictions


def _failed(chunk: BatchChunk, attempt: int, exc: Exception) -> ChunkResult:
    """Record why the attempt failed; retry later (backoff) or, at the cap, dead-letter it."""
    # The message is stored on the chunk (staff see it on the job), the log has the type only:
    # applicant data must not reach the logs.
    error = f"{type(exc).__name__}: {str(exc)[:500]}"
    logger.warning(
        "batch chunk attempt failed",
        extra={"job": str(chunk.job_id), "chunk": chunk.number, "attempt": attempt, "error": type(exc).__name__},
    )
    if attempt >= settings.BATCH_CHUNK_MAX_ATTEMPTS:
        _dead_letter(chunk, attempt, error=error)
        return ChunkResult("dead")
    with transaction.atomic():
        BatchChunk.objects.filter(pk=chunk.pk, status=BatchChunkStatus.RUNNING, attempts=attempt).update(
            status=BatchChunkStatus.PENDING, last_error=error, enqueued_at=timezone.now()
        )
        delay = settings.BATCH_RETRY_BACKOFF_SECONDS * 2 ** (attempt - 1)
        transaction.on_commit(partial(_enqueue, [chunk.pk], countdown=delay or None))
    return ChunkResult("failed")


def _dead_letter(chunk: BatchChunk, attempt: int, *, error: str = "", lost: bool = False) -> None:
    if lost:
        error = (
            f"Stopped after {settings.BATCH_CHUNK_MAX_ATTEMPTS} attempts: the worker was lost each time "
            "(killed, out of memory, or past the time limit)."
            + (f" Last error: {chunk.last_error}" if chunk.last_error else "")
        )
    with transaction.atomic():
        _job_gate(chunk.job_id)  # the job's row before the chunk's, as the cancel locks them
        marked = BatchChunk.objects.filter(pk=chunk.pk, status=BatchChunkStatus.RUNNING, attempts=attempt).update(
            status=BatchChunkStatus.DEAD, last_error=error[:2000], finished_at=timezone.now()
        )
        if marked:
            BatchJob.objects.filter(pk=chunk.job_id).update(chunks_dead=F("chunks_dead") + 1)
    if marked:
        logger.error(
            "batch chunk dead-lettered",
            extra={
                "job": str(chunk.job_id),
                "chunk": chunk.number,
                "attempts": min(attempt, settings.BATCH_CHUNK_MAX_ATTEMPTS),
            },
        )
        _job_finish(chunk.job_id)


def _job_finish(job_id: Any) -> None:
    """Close the job once every chunk is done or dead (one conditional UPDATE decides)."""
    now = timezone.now()
    finished = BatchJob.objects.filter(pk=job_id, status__in=OPEN, chunks_done=F("chunk_count") - F("chunks_dead"))
    closed = (
        finished.filter(chunks_dead=0).update(status=BatchJobStatus.COMPLETED, finished_at=now)
        or finished.filter(chunks_dead__gt=0, chunks_done__gt=0).update(status=BatchJobStatus.PARTIAL, finished_at=now)
        or finished.filter(chunks_dead__gt=0, chunks_done=0).update(status=BatchJobStatus.FAILED, finished_at=now)
    )
    if closed:
        job = BatchJob.objects.only("status", "rows_scored", "rows_rejected", "chunks_dead").get(pk=job_id)
        logger.info(
            "batch job finished",
            extra={
                "job": str(job_id),
                "status": job.status,
                "scored": job.rows_scored,
                "rejected": job.rows_rejected,
                "dead_chunks": job.chunks_dead,
            },
        )


# --- Reconciling and retrying -------------------------------------------------------------


@dataclass(frozen=True)
class ReconcileResult:
    requeued: int
    finished: int


def batch_jobs_reconcile(*, now: datetime | None = None, limit: int = 1000) -> ReconcileResult:
    """Re-enqueue chunks nobody is running: never sent, lost by the broker, or whose worker vanished.

    Run every minute by beat. A duplicate message is harmless (the claim skips finished
    chunks); a chunk whose workers keep vanishing reaches the attempt cap and is dead-lettered.
    """
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.BATCH_CHUNK_STALE_SECONDS)
    lost = now - timedelta(seconds=settings.BATCH_REQUEUE_AFTER_SECONDS)
    waiting = Q(status=BatchChunkStatus.PENDING) & (Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=lost))
    abandoned = Q(status=BatchChunkStatus.RUNNING, claimed_at__lt=stale)
    with transaction.atomic():
        ids = list(
            BatchChunk.objects.filter(waiting | abandoned)
            .order_by("job_id", "number")
            .values_list("id", flat=True)[:limit]
        )
        if ids:
            # Stamped as sent now, so that the next sweeps wait a full period again before
            # sending another copy (each copy that finds the chunk running takes it over).
            BatchChunk.objects.filter(id__in=ids, status=BatchChunkStatus.PENDING).update(enqueued_at=now)
            BatchChunk.objects.filter(id__in=ids, status=BatchChunkStatus.RUNNING).update(claimed_at=now)
            transaction.on_commit(partial(_enqueue, ids))
    finished = 0
    for job_id in BatchJob.objects.filter(status__in=OPEN, chunks_done=F("chunk_count") - F("chunks_dead")).values_list(
        "pk", flat=True
    ):
        _job_finish(job_id)
        finished += 1
    if ids:
        logger.warning("batch chunks re-enqueued by the reconciler", extra={"chunks": len(ids)})
    return ReconcileResult(requeued=len(ids), finished=finished)


def batch_job_retry_dead_letters(*, job: BatchJob, user: Any = None) -> int:
    """Give a job's dead-lettered chunks a fresh set of attempts (once their cause is fixed).

    A retry decides the applicants of those chunks: it is in the audit trail
    (``batch.dead_letters.retried``, with who asked: ``user``, None for the platform)."""
    with transaction.atomic():
        locked = BatchJob.objects.select_for_update().get(pk=job.pk)
        if locked.status == BatchJobStatus.CANCELLED:
            return 0  # a cancelled job is never started again
        ids = list(locked.chunks.filter(status=BatchChunkStatus.DEAD).values_list("id", flat=True))
        if not ids:
            return 0
        BatchChunk.objects.filter(id__in=ids).update(
            status=BatchChunkStatus.PENDING, attempts=0, last_error="", finished_at=None, enqueued_at=timezone.now()
        )
        BatchJob.objects.filter(pk=job.pk).update(
            chunks_dead=F("chunks_dead") - len(ids), status=BatchJobStatus.RUNNING, finished_at=None
        )
        audit_record(actor=user, action="batch.dead_letters.retried", target=locked, details={"chunks": len(ids)})
        transaction.on_commit(partial(_enqueue, ids))
    return len(ids)


def batch_job_download_record(*, job: BatchJob, user: Any, file: str) -> None:
    """Record a staff download of a job's result or rejects file (``batch.downloaded``).

    The result lists clients and their decisions: taking it out of the platform is an export
    of personal data, on record with who, which job, which file and how many rows. The API
    caller fetching its own job's file is not recorded (its own data, as its ``/score`` answers)."""
    if file not in ("result", "rejects"):
        raise ValueError("file is 'result' or 'rejects'")
    rows = job.rows_scored if file == "result" else job.rows_rejected
    audit_record(
        actor=user, action="batch.downloaded", target=job, details={"file": file, "rows": rows, "caller": job.caller}
    )


# --- Cancelling ----------------------------------------------------------------------------


class BatchJobNotCancellable(Exception):
    """Only a queued or running job can be cancelled; the message names the job's status."""

    def __init__(self, status: str) -> None:
        self.status = status
        super().__init__(
            f"This job's status is {status}: only a queued or running job can be cancelled."
            + (" It was already cancelled." if status == BatchJobStatus.CANCELLED else "")
        )


def batch_job_cancel(*, job: BatchJob, by: Acting, reason: str) -> BatchJob:
    """Stop a queued or running job: its chunks not yet scored never will be; what was scored stays.

    Raises ``BatchJobNotCancellable`` (naming the status) for a job that has ended. The job's
    row is locked ``FOR UPDATE``: a chunk committing now either finishes first and is counted,
    or rolls back whole (module docstring). Its unscored chunks are marked ``cancelled`` and
    their rows dropped (never to be decided, they are not kept); a message for one is skipped.
    In the audit trail as ``batch.cancelled``, with who (``by``; None for the platform) and why
    (``reason``, a ``BatchCancelReason``); no row, file name or caller data.
    """
    if reason not in BatchCancelReason.values:
        raise ValueError(f"unknown cancel reason {reason!r}")
    now = timezone.now()
    with transaction.atomic():
        locked = BatchJob.objects.select_for_update().get(pk=job.pk)
        if locked.status not in OPEN:
            raise BatchJobNotCancellable(locked.status)
        dropped = locked.chunks.filter(status__in=[BatchChunkStatus.PENDING, BatchChunkStatus.RUNNING]).update(
            status=BatchChunkStatus.CANCELLED, payload=b"", finished_at=now
        )
        locked.status, locked.cancel_reason, locked.finished_at = BatchJobStatus.CANCELLED, reason, now
        locked.save(update_fields=["status", "cancel_reason", "finished_at"])
        audit_record(
            actor=by,
            action="batch.cancelled",
            target=locked,
            details={
                "reason": reason,
                "chunks_cancelled": dropped,
                "chunks_done": locked.chunks_done,
                "rows_scored": locked.rows_scored,
                "rows_rejected": locked.rows_rejected,
            },
        )
    logger.info(
        "batch job cancelled",
        extra={"job": str(locked.pk), "reason": reason, "chunks_cancelled": dropped, "scored": locked.rows_scored},
    )
    return locked


def batch_jobs_cancel_for_caller(*, caller: str, by: Acting, reason: str) -> int:
    """Cancel every queued or running job of ``caller`` (its API key was just revoked); how many."""
    cancelled = 0
    for job in BatchJob.objects.filter(caller=caller[:100], status__in=OPEN).only("pk"):
        with contextlib.suppress(BatchJobNotCancellable):  # ended meanwhile
            batch_job_cancel(job=job, by=by, reason=reason)
            cancelled += 1
    return cancelled
