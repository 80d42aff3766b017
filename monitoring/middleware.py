"""Request ids and the API call log."""

from __future__ import annotations

import functools
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django_prometheus.middleware import PrometheusAfterMiddleware as _PrometheusAfterMiddleware
from django_prometheus.middleware import PrometheusBeforeMiddleware as _PrometheusBeforeMiddleware
from django_prometheus.utils import Time, TimeSince

from accounts.principals import caller_label
from creditplatform.hot_settings import hot_settings
from creditplatform.middleware import is_api_path
from monitoring.calllog import api_call_record
from monitoring.context import request_id_var
from monitoring.metrics import api_request_latency_seconds, http_method_label, labelled, metric_writes

logger = logging.getLogger(__name__)

_NAMED_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")


@functools.lru_cache(maxsize=1024)  # URL patterns: a fixed set
def route_label(route: str) -> str:
    """A readable route pattern: regex routes from DRF routers become ``/clients/<client_id>/``."""
    return "/" + _NAMED_GROUP.sub(r"<\1>", route).replace("^", "").replace("$", "").replace("\\.", ".")


# The X-Request-ID a caller may choose: a token of 8 to 64 ASCII letters, digits and ``. _ : -``
# (UUIDs, W3C trace ids, ``service:span`` ids). ``str.isalnum`` is not enough: it accepts any
# script's letters, so ``Jürgen-Müller`` passed (and was stored and logged as sent).
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,64}")


def accepted_request_id(value: str) -> bool:
    """Whether ``value`` is kept as sent as an X-Request-ID (``_REQUEST_ID``)."""
    return _REQUEST_ID.fullmatch(value) is not None


def request_id_of(meta: Mapping[str, Any]) -> str:
    """The caller's ``X-Request-ID`` when it is a token (``_REQUEST_ID``), else a new one.

    A value that is not a token is not refused (the request goes on) and never kept: it is
    replaced by a generated id, which the call log, the logs and the response's
    ``X-Request-ID`` carry; the replacement is logged with the length sent, never the value.
    """
    incoming = meta.get("HTTP_X_REQUEST_ID")  # request.headers would copy every header
    if incoming is None:
        return uuid.uuid4().hex
    if _REQUEST_ID.fullmatch(incoming):
        return str(incoming)
    generated = uuid.uuid4().hex
    logger.info(
        "X-Request-ID not a token (%d characters): replaced by %s",
        len(incoming),
        generated,
        extra={"request_id_replaced": True},
    )
    return generated


class RequestIdMiddleware:
    """Take ``X-Request-ID`` from the caller (if sane) or make one; echo it back."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        rid = request_id_of(request.META)
        request.request_id = rid  # type: ignore[attr-defined]
        token = request_id_var.set(rid)
        request._started_at = time.perf_counter()  # type: ignore[attr-defined]
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = rid
        return response


class _Buffered:
    """A counter or histogram (child) whose updates go through ``metric_writes`` (batched)."""

    __slots__ = ("metric",)

    def __init__(self, metric: Any) -> None:
        self.metric = metric

    def inc(self, amount: float = 1.0) -> None:
        if amount == 1.0:
            metric_writes.add((self.metric,))
        else:
            self.metric.inc(amount)

    def observe(self, amount: float) -> None:
        metric_writes.add((), ((self.metric, amount),))


class PrometheusBeforeMiddleware(_PrometheusBeforeMiddleware):
    """django-prometheus's totals and latency including middleware, written in batches."""

    def process_request(self, request: HttpRequest) -> None:
        metric_writes.add((self.metrics.requests_total,))
        request.prometheus_before_middleware_event = Time()  # type: ignore[attr-defined]

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        started = getattr(request, "prometheus_before_middleware_event", None)
        if started is None:
            metric_writes.add((self.metrics.responses_total, self.metrics.requests_unknown_latency_before))
        else:
            metric_writes.add(
                (self.metrics.responses_total,), ((self.metrics.requests_latency_before, TimeSince(started)),)
            )
        return response


class PrometheusAfterMiddleware(_PrometheusAfterMiddleware):
    """django-prometheus's per-view metrics: the same series, counted for less.

    - The method label comes from a fixed set (``http_method_label``): the library labels
      one latency histogram with the raw ``request.method``, so every made-up method a
      client sent would become a new series, kept until the process ends.
    - The labelled children a request updates are looked up once per combination of its
      labels (view, method, status, transport, charset), not with ``labels()`` each time
      (which checks and sorts its arguments under a lock).
    - The updates are added up in memory and written in batches (``MetricWrites``).

    ``tests/monitoring/test_metric_writes.py`` holds the series equal to the library's.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        super().__init__(get_response)
        self._counters: dict[tuple[str, ...], tuple[Any, ...]] = {}

    def _method(self, request: HttpRequest) -> str:
        return http_method_label(request.method)

    def label_metric(
        self, metric: Any, request: HttpRequest, response: HttpResponse | None = None, **labels: str
    ) -> Any:
        """The library's look-up, for its rare paths (exceptions, template responses)."""
        if "method" in labels:
            labels["method"] = http_method_label(labels["method"])
        return _Buffered(labelled(metric, **labels) if labels else metric)

    def _children_of(self, kind: str, *labels: str) -> tuple[Any, ...]:
        """The counters one request of these labels adds 1 to, at one stage of the request."""
        key = (kind, *labels)
        found = self._counters.get(key)
        if found is None:
            m = self.metrics
            if kind == "request":
                method, transport, ajax = labels
                found = (
                    m.requests_by_method.labels(method=method),
                    m.requests_by_transport.labels(transport=transport),
                )
                found += (m.requests_ajax,) if ajax else ()
            elif kind == "view":
                view, transport, method = labels
                found = (m.requests_by_view_transport_method.labels(view=view, transport=transport, method=method),)
            else:
                status, view, method, charset, streaming = labels
                found = (
                    m.responses_by_status.labels(status=status),
                    m.responses_by_status_view_method.labels(status=status, view=view, method=method),
                    m.responses_by_charset.labels(charset=charset),
                )
                found += (m.responses_streaming,) if streaming else ()
            self._counters[key] = found
        return found

    def process_request(self, request: HttpRequest) -> None:
        meta = request.META
        try:
            content_length = int(meta.get("CONTENT_LENGTH") or 0)
        except ValueError:
            content_length = 0
        ajax = "1" if meta.get("HTTP_X_REQUESTED_WITH") == "XMLHttpRequest" else ""
        counters = self._children_of("request", self._method(request), self._transport(request), ajax)
        metric_writes.add(counters, ((self.metrics.requests_body_bytes, content_length),))
        request.prometheus_after_middleware_event = Time()  # type: ignore[attr-defined]

    def process_view(self, request: HttpRequest, view_func: Any, *view_args: Any, **view_kwargs: Any) -> None:
        match = getattr(request, "resolver_match", None)
        if match is not None:
            name = match.view_name or "<unnamed view>"
            metric_writes.add(self._children_of("view", name, self._transport(request), self._method(request)))

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        method = self._method(request)
        view = self._get_view_name(request)
        streaming = "1" if getattr(response, "streaming", False) else ""
        counters = self._children_of("response", str(response.status_code), view, method, response.charset, streaming)
        observations: list[tuple[Any, float]] = []
        if not streaming:
            observations.append((self.metrics.responses_body_bytes, len(response.content)))
        started = getattr(request, "prometheus_after_middleware_event", None)
        if started is None:
            counters += (self.metrics.requests_unknown_latency,)
        else:
            latency = labelled(self.metrics.requests_latency_by_view_method, view=view, method=method)
            observations.append((latency, TimeSince(started)))
        metric_writes.add(counters, observations)
        return response


class ApiCallLogMiddleware:
    """One ``ApiCall`` row (buffered, see ``monitoring.calllog``) and one latency observation per API request.

    The decision views put the model version in the ``X-Model-Version`` response header;
    this is how monitoring learns it without the scoring app importing monitoring.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.process_response(request, self.get_response(request))

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if is_api_path(request.path):
            self._record(request, response)
        return response

    def _record(self, request: HttpRequest, response: HttpResponse) -> None:
        started = getattr(request, "_started_at", None)
        latency_ms = (time.perf_counter() - started) * 1000 if started else 0.0
        match = getattr(request, "resolver_match", None)
        endpoint = route_label(match.route) if match and match.route else "unmatched"
        child = labelled(
            api_request_latency_seconds,
            endpoint=endpoint,
            method=http_method_label(request.method),
            status=str(response.status_code),
        )
        metric_writes.add((), ((child, latency_ms / 1000),))
        if not hot_settings.API_CALL_LOG_ENABLED or endpoint.endswith("health"):
            return
        try:
            api_call_record(  # every column of ApiCall but its id, in the same order for every call
                request_id=getattr(request, "request_id", "")[:64],
                method=(request.method or "")[:10],
                endpoint=endpoint[:200],
                status_code=response.status_code,
                latency_ms=max(latency_ms, 0.0),
                model_version=response.get("X-Model-Version", "")[:60],
                caller=caller_label(getattr(request, "user", None))[:100],
                created_at=timezone.now(),  # when the call was answered, not when the batch is written
            )
        except Exception:  # the log must never break the answer already computed
            logger.exception("could not record API call")
