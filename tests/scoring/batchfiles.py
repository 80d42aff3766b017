"""Files of applicants for the batch tests, drawn from the real data set (scoring.ml.datasets)."""

from __future__ import annotations

import io
import time
from collections.abc import Iterable

from scoring.ml.datasets import applicant_sample
from scoring.models import BatchJob

SEED_COLUMNS: list[str] = []  # applicant_sample always keeps the required ones: age, revenu, historique_impaye


def applicants_csv(
    rows: int, *, seed: int = 0, columns: Iterable[str] | None = SEED_COLUMNS, **extra: list[str]
) -> str:
    """A CSV of ``rows`` applicants (the seed's three columns unless ``columns=None``: all features).

    ``extra`` adds columns, e.g. ``client_id=["C1", ...]``.
    """
    frame = applicant_sample(rows, seed=seed, columns=columns)
    for name, values in extra.items():
        frame[name] = values
    out = io.StringIO()
    frame.to_csv(out, index=False)
    return out.getvalue()


def replace_lines(text: str, replacements: dict[int, str]) -> str:
    """The CSV with some lines (1 = the header) replaced, e.g. by bad rows."""
    lines = text.split("\n")
    for number, line in replacements.items():
        lines[number - 1] = line
    return "\n".join(lines)


def wait_until_finished(job: BatchJob, timeout: float = 180) -> BatchJob:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.is_finished:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job.pk} still {job.status} after {timeout} s ({job.chunks_done}/{job.chunk_count})")
