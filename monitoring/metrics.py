"""Every Prometheus metric of the product, declared in one place.

Label values never come straight from a request: each distinct value is a new series kept
in memory until the process ends, so a caller who could choose one could grow ``/metrics``
without bound. Methods go through :func:`http_method_label`; endpoints are URL patterns
(``monitoring.middleware.route_label``), never raw paths; statuses and reasons are chosen
by the code.

Counters and histograms live in the process that counts (web or worker). Under gunicorn,
``PROMETHEUS_MULTIPROC_DIR`` (set by ``gunicorn.conf.py``) makes every process write them
to memory-mapped files that ``/metrics`` sums, so any worker answers with the totals of
all of them. Figures that belong to the database rather than to a process (the latest
drift report, the batch jobs' totals) are read from it when scraped (``DatabaseCollector``,
``BatchJobCollector``): the same answer
whichever process, or host, is scraped.
"""

from __future__ import annotations

import atexit
import bisect
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from django.conf import settings
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector

from creditplatform.hot_settings import hot_settings

logger = logging.getLogger(__name__)

# The methods the platform answers; anything else a client makes up is counted as "other".
HTTP_METHOD_LABELS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
OTHER_METHOD = "other"


def http_method_label(method: str | None) -> str:
    """The request method as a metric label: one of ``HTTP_METHOD_LABELS`` or ``"other"``."""
    method = (method or "").upper()
    return method if method in HTTP_METHOD_LABELS else OTHER_METHOD


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

# Labelled children by (metric, label items): every label value here is chosen by the code
# (see above), so the dict stays as small as /metrics.
_children: dict[tuple[Any, ...], Any] = {}


def labelled(metric: Any, **labels: str) -> Any:
    """``metric.labels(**labels)``, looked up once per label set and process.

    ``labels()`` checks and sorts its arguments under a lock on every call; the request
    path asks for the same few children all the time.
    """
    key = (metric, *labels.items())
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(**labels)
    return child


class DatabaseCollector(Collector):
    """Gauges read from the database at scrape time: the newest drift report of each purpose."""

    def collect(self) -> Iterator[Any]:
        from monitoring.selectors import drift_latest_by_purpose

        share = GaugeMetricFamily(
            "drift_share", "Share of tested features that drifted in the newest drift report.", labels=["purpose"]
        )
        alert = GaugeMetricFamily(
            "drift_alert", "1 when the newest drift report reached the alert threshold.", labels=["purpose"]
        )
        prediction = GaugeMetricFamily(
            "drift_prediction_drift", "1 when the scores drifted in the newest drift report.", labels=["purpose"]
        )
        day = GaugeMetricFamily(
            "drift_report_day_timestamp_seconds", "Start (UTC) of the day the newest report covers.", labels=["purpose"]
        )
        try:
            reports = drift_latest_by_purpose()
        except Exception as exc:  # a scrape must answer even when the database does not (one line, no trace)
            logger.warning("drift figures unavailable for /metrics: %s", type(exc).__name__)
            reports = []
        for report in reports:
            from monitoring.selectors import day_bounds

            if report.drift_share is not None:
                share.add_metric([report.purpose], report.drift_share)
            alert.add_metric([report.purpose], 1.0 if report.alert else 0.0)
            if report.prediction_drift is not None:
                prediction.add_metric([report.purpose], 1.0 if report.prediction_drift else 0.0)
            day.add_metric([report.purpose], day_bounds(report.day)[0].timestamp())
        yield from (share, alert, prediction, day)


def metrics_text() -> bytes:
    """The Prometheus text of this deployment: process metrics (all processes), then database gauges."""
    metric_writes.flush()  # this process's pending request counts (the others' within METRICS_FLUSH_SECONDS)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        process_text = generate_latest(registry)
    else:
        process_text = generate_latest(REGISTRY)
    database = CollectorRegistry()
    database.register(DatabaseCollector())
    database.register(BatchJobCollector())
    database.register(WebhookCollector())
    return process_text + generate_latest(database)


class BatchJobCollector(Collector):
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


class WebhookCollector(Collector):
    """The webhooks the platform owes and the ones it gave up on, read from their rows at each scrape.

    Decision webhooks (one delivery row each) and drift alerts (on the drift report) are sent by
    workers and retried there, so only their rows know what is still owed or was never delivered:
    ``webhooks_owed{kind}`` is what waits for an attempt or a retry (alert when it stays above 0),
    ``webhooks_undelivered{kind,status}`` what was given up: ``failed`` after the retries,
    ``refused`` by the receiver (4xx), ``blocked`` (an internal address, never called). Both read
    the few rows not delivered, through their status indexes.
    """

    KINDS = ("decision", "drift_alert")
    UNDELIVERED = ("failed", "refused", "blocked")

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily("webhooks_owed", "Webhooks waiting for an attempt or a retry.", labels=["kind"]),
            GaugeMetricFamily(
                "webhooks_undelivered", "Webhooks given up: failed, refused or blocked.", labels=["kind", "status"]
            ),
        )

    def describe(self) -> Iterator[Metric]:
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        try:
            owed, undelivered = _webhook_totals()
        except Exception as exc:  # a scrape must answer even when the database does not (one line, no trace)
            logger.warning("webhook figures unavailable for /metrics: %s", type(exc).__name__)
            return
        owed_family, undelivered_family = self._families()
        for kind in self.KINDS:
            owed_family.add_metric([kind], owed.get(kind, 0))
            for status in self.UNDELIVERED:
                undelivered_family.add_metric([kind, status], undelivered.get((kind, status), 0))
        yield owed_family
        yield undelivered_family


def _webhook_totals() -> tuple[dict[str, float], dict[tuple[str, str], float]]:
    from django.db.models import Count

    from monitoring.models import DriftReport
    from scoring.models import WebhookDelivery

    owed: dict[str, float] = {}
    undelivered: dict[tuple[str, str], float] = {}
    statuses = [WebhookDelivery.Status.PENDING, *WebhookCollector.UNDELIVERED]
    for row in WebhookDelivery.objects.filter(status__in=statuses).values("status").annotate(n=Count("id")):
        if row["status"] == WebhookDelivery.Status.PENDING:
            owed["decision"] = float(row["n"])
        else:
            undelivered[("decision", row["status"])] = float(row["n"])
    owed["drift_alert"] = float(DriftReport.objects.filter(notification_pending=True).count())
    # A drift alert's last outcome is on its report: "delivered: …", "refused: HTTP 4xx", or a failure
    # ("not delivered: …" after the retries, "not sent: …" when the URL was unset meanwhile).
    given_up = (
        DriftReport.objects.filter(notification_pending=False, notification_attempts__gt=0)
        .exclude(notification__startswith="delivered")
        .values_list("notification", flat=True)
    )
    for outcome in given_up:
        status = "refused" if outcome.startswith("refused") else "failed"
        undelivered[("drift_alert", status)] = undelivered.get(("drift_alert", status), 0.0) + 1
    return owed, undelivered


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


class MetricWrites:
    """Request-path metric updates, added up in memory and written every few seconds.

    Under gunicorn every counter increment and histogram observation is a locked write to a
    memory-mapped file (``PROMETHEUS_MULTIPROC_DIR``); each request made about twenty of
    them. Here the request adds its amounts to a dict, and the dict is written, one
    ``inc`` per series, at most every ``METRICS_FLUSH_SECONDS`` (by the next request after
    that delay, or by a thread when requests stop), before every ``/metrics`` answer of
    this process and at exit. The totals are the same; a scrape may see another worker's
    last second late, and a worker killed with SIGKILL loses its last second of these
    request counts (never a decision, an audit record or the call log's rows). With
    ``METRICS_FLUSH_SECONDS=0`` every update is written in its request, as before.

    Only for the HTTP metrics of the middleware; the product's own counters (decisions,
    refusals) are written when they happen.
    """

    def __init__(self) -> None:
        self._pending: dict[Any, float] = {}  # prometheus_client value -> amount to add
        self._lock = threading.Lock()
        self._due = 0.0
        self._owner_pid: int | None = None

    def add(self, counters: Sequence[Any] = (), observations: Sequence[tuple[Any, float]] = ()) -> None:
        """``metric.inc()`` for each of ``counters`` and ``metric.observe(amount)`` for each of
        ``observations`` (counters and histograms without labels, or labelled children)."""
        if hot_settings.METRICS_FLUSH_SECONDS <= 0:
            for metric in counters:
                metric.inc()
            for metric, amount in observations:
                metric.observe(amount)
            return
        if self._owner_pid != os.getpid():  # first use in this process (or after a fork)
            self._start_flusher()
        with self._lock:
            pending = self._pending
            for metric in counters:
                value = metric._value
                pending[value] = pending.get(value, 0.0) + 1.0
            for metric, amount in observations:
                if amount != amount:  # NaN: no bucket takes it; the library's own rule, unbatched
                    metric.observe(amount)
                    continue
                # The first bucket whose upper bound is >= amount, as Histogram.observe picks it.
                bucket, total = metric._buckets[bisect.bisect_left(metric._upper_bounds, amount)], metric._sum
                pending[total] = pending.get(total, 0.0) + amount
                pending[bucket] = pending.get(bucket, 0.0) + 1.0
        if time.monotonic() >= self._due:
            self.flush()

    def pending(self) -> int:
        """Series with an amount waiting to be written."""
        return len(self._pending)

    def flush(self) -> None:
        """Write what is waiting, in this thread.

        The writes happen under the lock (memory-mapped, microseconds): a flush at exit
        then waits for the flusher thread's writes in flight instead of finding nothing
        pending while that daemon thread, about to be stopped, still holds the amounts.
        """
        with self._lock:
            pending, self._pending = self._pending, {}
            self._due = time.monotonic() + settings.METRICS_FLUSH_SECONDS
            for value, amount in pending.items():
                value.inc(amount)

    def _start_flusher(self) -> None:
        with self._lock:
            if self._owner_pid == os.getpid():
                return
            if self._owner_pid is not None:  # forked (gunicorn): the parent's amounts are the parent's to write
                self._pending.clear()
            self._owner_pid = os.getpid()  # each process starts its own flusher
        threading.Thread(target=self._run, name="metric-writes", daemon=True).start()

    def _run(self) -> None:
        pid = os.getpid()
        while self._owner_pid == pid:
            time.sleep(max(settings.METRICS_FLUSH_SECONDS, 0.05))
            if self._pending and time.monotonic() >= self._due:
                self.flush()

    def flush_at_exit(self) -> None:
        if self._owner_pid == os.getpid():
            self.flush()  # takes the lock: after the flusher's writes in flight, even with nothing pending


metric_writes = MetricWrites()
atexit.register(metric_writes.flush_at_exit)
