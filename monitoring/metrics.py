"""Every Prometheus metric of the product, declared in one place."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Histogram, Metric
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

logger = logging.getLogger(__name__)

auth_failures_count = Counter(
    "auth_failures_count", "Requests refused for missing, invalid, expired or revoked credentials.", ["reason"]
)
forbidden_count = Counter("forbidden_count", "Authenticated requests refused for lack of role or scope.", ["reason"])
api_request_latency_seconds = Histogram(
    "api_request_latency_seconds",
    "Latency of API requests.",
    ["endpoint", "method", "status"],
    buckets=(0.002, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
decisions_total = Counter("decisions_total", "Decisions made, by kind and outcome.", ["kind", "outcome"])


class BatchJobCollector:
    """Batch scoring figures, read from the jobs table at each scrape.

    The chunks are scored by Celery workers, on any number of hosts: counters kept in
    their processes would never reach this endpoint. The jobs table is the one place all
    of them write to (each chunk adds its rows to its job in the transaction that stores
    them), so its totals are the truthful, deployment-wide figures, and they survive
    restarts. One aggregate query on a table of one row per job.
    """

    COUNTERS = (
        ("batch_rows_scored", "Rows of batch files scored (each a stored credit decision).", "scored"),
        ("batch_rows_rejected", "Rows of batch files rejected (see each job's rejects file).", "rejected"),
        ("batch_chunk_retries", "Batch chunk attempts beyond the first (errors, lost workers).", "retries"),
        ("batch_chunks_dead_lettered", "Batch chunks given up after the capped attempts.", "dead"),
    )

    def describe(self) -> Iterator[Metric]:
        """The names only (registration calls this: no query at import time)."""
        for name, documentation, _ in self.COUNTERS:
            yield CounterMetricFamily(name, documentation)
        yield GaugeMetricFamily("batch_jobs_running", "Batch jobs queued or running.")

    def collect(self) -> Iterator[Metric]:
        try:
            totals = _batch_totals()
        except Exception:  # no database (yet), or not allowed here: leave the figures out
            logger.debug("batch metrics unavailable", exc_info=True)
            return
        for name, documentation, key in self.COUNTERS:
            family = CounterMetricFamily(name, documentation)
            family.add_metric([], totals[key])
            yield family
        running = GaugeMetricFamily("batch_jobs_running", "Batch jobs queued or running.")
        running.add_metric([], totals["running"])
        yield running


def _batch_totals() -> dict[str, float]:
    from django.db.models import Count, Q, Sum

    from scoring.choices import BatchJobStatus
    from scoring.models import BatchJob

    row = BatchJob.objects.aggregate(
        scored=Sum("rows_scored", default=0),
        rejected=Sum("rows_rejected", default=0),
        retries=Sum("chunk_retries", default=0),
        dead=Sum("chunks_dead", default=0),
        running=Count("id", filter=Q(status__in=[BatchJobStatus.QUEUED, BatchJobStatus.RUNNING])),
    )
    return {key: float(value or 0) for key, value in row.items()}


REGISTRY.register(BatchJobCollector())
