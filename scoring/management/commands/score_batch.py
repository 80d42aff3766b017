"""Score a file of applicants as a batch job: ``python manage.py score_batch FILE [--wait]``."""

from __future__ import annotations

import getpass
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from scoring.batch.files import BatchFileError
from scoring.batch.selectors import (
    REJECT_COLUMNS,
    RESULT_COLUMNS,
    batch_job_reject_rows,
    batch_job_result_rows,
    csv_lines,
)
from scoring.batch.services import batch_job_submit
from scoring.choices import BatchFileFormat, BatchSource
from scoring.ml.predictor import ModelUnavailable
from scoring.models import BatchJob

SHOWN_REJECTS = 20


class Command(BaseCommand):
    help = (
        "Score a CSV or Parquet file of applicants (the champion's features; optional client_id, application_id) "
        "as a batch job. Prints the job id, then with --wait (or when tasks run in-process, the embedded default) "
        "the rows scored, the rows rejected (with their lines) and the time."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="CSV (UTF-8, header row) or Parquet file.")
        parser.add_argument("--wait", action="store_true", help="Wait for the workers to finish the job.")
        parser.add_argument("--timeout", type=float, default=3600, help="Seconds to wait at most (default 3600).")
        parser.add_argument("--chunk-rows", type=int, help="Rows per chunk (default BATCH_CHUNK_ROWS).")
        parser.add_argument("--result", type=Path, help="Write the result file here (implies --wait).")
        parser.add_argument("--rejects", type=Path, help="Write the rejects file here (implies --wait).")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror or exc}") from exc
        if options["chunk_rows"] is not None and options["chunk_rows"] < 1:
            raise CommandError("--chunk-rows must be positive.")
        started = time.monotonic()
        try:
            job = batch_job_submit(
                data=data,
                filename=path.name,
                caller=f"command:{getpass.getuser()}"[:100],
                source=BatchSource.COMMAND,
                chunk_rows=options["chunk_rows"],
            )
        except (BatchFileError, ModelUnavailable) as exc:
            raise CommandError(f"{path.name}: {exc}") from exc
        self.stdout.write(
            f"Batch job {job.pk}: {job.total_rows} rows in {job.chunk_count} chunk(s), {job.file_format}, "
            f"credit model {job.model_version.version}"
        )
        wait = options["wait"] or options["result"] or options["rejects"]
        if not job.is_finished and wait:
            job = self._wait(job, started + options["timeout"])
        elapsed = time.monotonic() - started
        if not job.is_finished:
            self.stdout.write(f"Status:   {job.status} (queued for the workers; follow it in the admin or the API)")
            self.stdout.write(f"Time:     {elapsed:.2f} s to submit")
            return
        self._report(job, elapsed)
        if options["result"]:
            _write(options["result"], csv_lines(RESULT_COLUMNS, batch_job_result_rows(job=job)))
            self.stdout.write(f"Result:   {options['result']}")
        if options["rejects"]:
            _write(options["rejects"], csv_lines(REJECT_COLUMNS, batch_job_reject_rows(job=job)))
            self.stdout.write(f"Rejects:  {options['rejects']}")

    def _wait(self, job: BatchJob, deadline: float) -> BatchJob:
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.is_finished:
                return job
            time.sleep(0.2)
        raise CommandError(f"Job {job.pk} has not finished after the timeout; it goes on in the workers.")

    def _report(self, job: BatchJob, elapsed: float) -> None:
        self.stdout.write(f"Scored:   {job.rows_scored}")
        self.stdout.write(f"Rejected: {job.rows_rejected}")
        self.stdout.write(f"Time:     {elapsed:.2f} s")
        self.stdout.write(f"Status:   {job.status}")
        if job.chunks_dead:
            self.stdout.write(f"Dead-lettered chunks: {job.chunks_dead} (see the job in the admin)")
        where = "line" if job.file_format == BatchFileFormat.CSV else "row"
        for shown, (row, field, reason) in enumerate(batch_job_reject_rows(job=job)):
            if shown == SHOWN_REJECTS:
                self.stdout.write(f"... and more: --rejects FILE writes them all ({job.rows_rejected} rows)")
                break
            self.stdout.write(f"  {where} {row}: {field}: {reason}")


def _write(path: Path, lines: Any) -> None:
    with path.open("wb") as handle:
        for block in lines:
            handle.write(block)
