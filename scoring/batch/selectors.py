"""Reads of batch scoring jobs: who sees which job, and the result and rejects files."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import QuerySet

from accounts.principals import PrincipalKind, ServicePrincipal, caller_label, request_roles
from accounts.roles import Role
from scoring.choices import BatchChunkStatus, BatchJobStatus
from scoring.models import BatchChunk, BatchJob, BatchReject, Decision

RESULT_COLUMNS = [
    "row",
    "id",
    "client_id",
    "application_id",
    "probability_default",
    "decision",
    "risk_level",
    "reasons",
]
REJECT_COLUMNS = ["row", "field", "reason"]


def batch_job_list(*, caller: str | None) -> QuerySet[BatchJob]:
    """Jobs a caller may see: its own (by caller label), or every job when ``caller`` is None (admins)."""
    jobs = BatchJob.objects.select_related("model_version").only(
        *(f.name for f in BatchJob._meta.concrete_fields), "model_version__version"
    )
    return jobs if caller is None else jobs.filter(caller=caller)


def batch_jobs_visible(*, user: object) -> QuerySet[BatchJob]:
    """The one home of "who sees which job" (``request.user``: a person, an API key or a bearer token).

    Every job for an admin, person or token; its own for anyone else. An API key sees its own
    jobs whatever its role (docs/access.md): an admin-role key is a service account issued for
    model activation, not an admin person, and must not read every caller's files.
    """
    is_api_key = isinstance(user, ServicePrincipal) and user.kind == PrincipalKind.API_KEY
    see_all = not is_api_key and Role.ADMIN in request_roles(user)
    return batch_job_list(caller=None if see_all else caller_label(user))


def batch_file_name(job: BatchJob, suffix: str) -> str:
    """``batch-<id>-result.csv``; a cancelled job's file says so (``…-result-cancelled.csv``): it holds
    only the chunks scored before the cancel."""
    cancelled = "-cancelled" if job.status == BatchJobStatus.CANCELLED else ""
    return f"batch-{job.pk}-{suffix}{cancelled}.csv"


def batch_job_dead_letters(*, job: BatchJob) -> QuerySet[BatchChunk]:
    """The job's chunks given up after the capped attempts (without their payloads)."""
    return job.chunks.filter(status=BatchChunkStatus.DEAD).defer("payload").order_by("number")


def batch_job_result_rows(*, job: BatchJob) -> Iterator[list[Any]]:
    """One line per scored row, in file order: the decision, its probability and its reasons."""
    rows = (
        Decision.objects.filter(batch_job=job)
        .order_by("batch_row")
        .values_list(
            "batch_row",
            "id",
            "client__client_id",
            "application__application_id",
            "probability_default",
            "decision",
            "risk_level",
            "reasons",
        )
    )
    for row, pk, client_id, application_id, probability, decision, risk, reasons in rows.iterator(chunk_size=5000):
        yield [row, pk, client_id or "", application_id or "", probability, decision, risk, reasons_text(reasons)]


def reasons_text(reasons: Iterable[dict[str, Any]]) -> str:
    """``historique_impaye:+1.4657; seniority_years:+0.3526``: readable in a spreadsheet cell."""
    return "; ".join(f"{r['feature']}:{r['contribution']:+.4f}" for r in reasons)


def batch_job_reject_rows(*, job: BatchJob) -> Iterator[list[Any]]:
    """One line per refused value: the row (a CSV file's line number), the field and why."""
    for row, errors in (
        BatchReject.objects.filter(job=job).order_by("row").values_list("row", "errors").iterator(chunk_size=5000)
    ):
        for field, reason in errors.items():
            yield [row, field, reason]


def csv_lines(header: list[str], rows: Iterable[list[Any]], batch: int = 1000) -> Iterator[bytes]:
    """A CSV file, streamed in blocks of lines (a million rows never sit in memory)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for count, row in enumerate(rows, start=1):
        writer.writerow(row)
        if count % batch == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()
