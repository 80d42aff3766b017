"""The HTTP metrics, written in batches, add up to what django-prometheus itself counts."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from django.http import HttpRequest, StreamingHttpResponse
from django.test import Client
from django.utils.functional import empty
from django_prometheus.middleware import PrometheusAfterMiddleware
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.registry import REGISTRY

import monitoring.middleware
from monitoring.metrics import MetricWrites, http_method_label, metric_writes

pytestmark = pytest.mark.django_db


class ReferenceAfterMiddleware(PrometheusAfterMiddleware):
    """django-prometheus's own middleware, each update written at once, with the platform's
    fixed set of method labels (the one intended difference)."""

    def _method(self, request: HttpRequest) -> str:
        return http_method_label(request.method)

    def label_metric(self, metric: Any, request: HttpRequest, response: Any = None, **labels: str) -> Any:
        if "method" in labels:
            labels["method"] = http_method_label(labels["method"])
        return metric.labels(**labels) if labels else metric


REFERENCE_MIDDLEWARE = {
    "monitoring.middleware.PrometheusBeforeMiddleware": "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "monitoring.middleware.PrometheusAfterMiddleware": f"{__name__}.ReferenceAfterMiddleware",
}


def _http_samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of django-prometheus's metrics, by name and labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for metric in REGISTRY.collect()
        if metric.name.startswith("django_http")
        for sample in metric.samples
        if not sample.name.endswith("_created")
    }


def _traffic() -> None:
    """Requests of every kind the counters tell apart: statuses, views, methods, a made-up
    method, a body, an AJAX header, an API refusal, a redirect, a page no view serves."""
    client = Client()
    client.get("/api/v1/health")
    client.get("/api/v1/health", HTTP_X_REQUESTED_WITH="XMLHttpRequest")
    client.post("/score", data=b'{"revenu": "abc"}', content_type="application/json")
    client.get("/api/v1/clients/")
    client.get("/admin/")
    client.get("/no-such-page")
    client.generic("BREW", "/api/v1/health")
    client.head("/api/v1/health")
    client.get("/static/admin/css/base.css")
    client.get("/api/v1/schema/")


def _delta(run: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    metric_writes.flush()
    before = _http_samples()
    run()
    metric_writes.flush()
    after = _http_samples()
    return {key: value - before.get(key, 0.0) for key, value in after.items() if value != before.get(key, 0.0)}


def _comparable(delta: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> dict[Any, float]:
    """Latencies differ from run to run, and so does the health check's body by a byte or
    two (its timings): of those histograms only the counts are compared."""
    return {
        key: value
        for key, value in delta.items()
        if not ("latency" in key[0] and not key[0].endswith("_count"))
        if key[0] != "django_http_responses_body_total_bytes_sum"
    }


def test_the_batched_middleware_counts_what_django_prometheus_counts(settings: Any) -> None:
    settings.METRICS_FLUSH_SECONDS = 3600  # only flush() writes
    _traffic()  # every series exists before the comparison
    ours = _delta(_traffic)
    settings.MIDDLEWARE = [REFERENCE_MIDDLEWARE.get(m, m) for m in settings.MIDDLEWARE]
    library = _delta(_traffic)
    assert _comparable(ours) == _comparable(library)
    # Something of each kind was counted: statuses, views, the AJAX request, body sizes.
    names = {name for name, _ in ours}
    assert {
        "django_http_responses_total_by_status_total",
        "django_http_requests_total_by_view_transport_method_total",
        "django_http_ajax_requests_total",
        "django_http_requests_body_total_bytes_sum",
        "django_http_responses_body_total_bytes_sum",
        "django_http_requests_latency_seconds_by_view_method_count",
        "django_http_requests_latency_including_middlewares_seconds_count",
    } <= names
    statuses = {dict(labels).get("status") for name, labels in ours if name.endswith("by_status_total")}
    assert {"200", "302", "401", "404", "405"} <= statuses


def test_a_streamed_answer_is_counted_as_the_library_counts_it(settings: Any, rf: Any) -> None:
    settings.METRICS_FLUSH_SECONDS = 3600

    def streamed(middleware: type[PrometheusAfterMiddleware]) -> None:
        middleware(lambda request: StreamingHttpResponse(iter([b"a,b\n", b"1,2\n"])))(rf.get("/api/v1/batch/x/"))

    ours = _delta(lambda: streamed(monitoring.middleware.PrometheusAfterMiddleware))
    library = _delta(lambda: streamed(ReferenceAfterMiddleware))
    assert _comparable(ours) == _comparable(library)
    assert ours[("django_http_responses_streaming_total", ())] == 1


def test_counts_wait_in_memory_until_flushed_and_a_scrape_flushes_them(settings: Any) -> None:
    settings.METRICS_FLUSH_SECONDS = 3600
    key = ("django_http_responses_total_by_status_total", (("status", "404"),))
    Client().get("/no-such-page")
    metric_writes.flush()
    before = _http_samples()[key]
    for _ in range(3):
        Client().get("/no-such-page")
    assert _http_samples()[key] == before  # waiting in this process
    assert metric_writes.pending() > 0
    Client().get("/metrics", REMOTE_ADDR="127.0.0.1")  # the scrape writes them first
    assert _http_samples()[key] == before + 3
    assert metric_writes.pending() <= 10  # only the scrape's own request is left


def test_with_no_delay_each_request_writes_its_counts(settings: Any) -> None:
    settings.METRICS_FLUSH_SECONDS = 0
    metric_writes.flush()
    key = ("django_http_responses_total_by_status_total", (("status", "404"),))
    before = _http_samples().get(key, 0.0)
    Client().get("/no-such-page")
    assert _http_samples()[key] == before + 1
    assert metric_writes.pending() == 0


@pytest.fixture
def two_histograms() -> Iterator[tuple[Histogram, Histogram, CollectorRegistry]]:
    registry = CollectorRegistry()
    buckets = (0.005, 0.01, 0.1, 1.0)
    yield (
        Histogram("direct", "observed directly", buckets=buckets, registry=registry),
        Histogram("batched", "observed through MetricWrites", buckets=buckets, registry=registry),
        registry,
    )


@pytest.mark.parametrize("amounts", [[0.0], [0.005], [0.0050001], [1.0], [1.5], [math.inf], [-3.0], [0.01, 0.2, 7.0]])
def test_a_batched_observation_lands_in_the_bucket_observe_picks(
    settings: Any, two_histograms: tuple[Histogram, Histogram, CollectorRegistry], amounts: list[float]
) -> None:
    settings.METRICS_FLUSH_SECONDS = 3600
    direct, batched, registry = two_histograms
    writes = MetricWrites()
    for amount in amounts:
        direct.observe(amount)
        writes.add((), ((batched, amount),))
    writes.flush()

    def samples(name: str) -> dict[Any, float]:
        return {
            (s.name.replace(name, ""), tuple(sorted(s.labels.items()))): s.value
            for m in registry.collect()
            if m.name == name
            for s in m.samples
            if not s.name.endswith("_created")
        }

    assert samples("batched") == samples("direct")


def test_a_nan_observation_is_left_to_the_library(
    settings: Any, two_histograms: tuple[Histogram, Histogram, CollectorRegistry]
) -> None:
    settings.METRICS_FLUSH_SECONDS = 3600
    _, batched, _ = two_histograms
    writes = MetricWrites()
    writes.add((), ((batched, math.nan),))
    assert writes.pending() == 0  # written at once, by Histogram.observe
    assert math.isnan(batched._sum.get())


def test_api_requests_never_build_the_message_storage_and_admin_messages_still_show(
    admin_client: Client,
) -> None:
    response = Client().get("/api/v1/health")
    assert response.wsgi_request._messages._wrapped is empty  # type: ignore[attr-defined]
    assert "messages" not in response.cookies
    # A message added by one admin page is shown by the next (the storage is built when used).
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("message-target", password="x")
    changed = admin_client.post(
        f"/admin/auth/user/{user.pk}/change/",
        {"username": "message-target-2", "is_active": "on", "date_joined_0": "2026-01-01", "date_joined_1": "00:00"},
        follow=True,
    )
    shown = [str(m) for m in changed.context["messages"]]
    assert any("was changed successfully" in m for m in shown), shown
