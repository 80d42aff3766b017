"""Request ids and the API call log."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django_prometheus.middleware import PrometheusAfterMiddleware as _PrometheusAfterMiddleware

from accounts.principals import caller_label
from creditplatform.middleware import is_api_path
from monitoring.calllog import api_call_record
from monitoring.context import request_id_var
from monitoring.metrics import api_request_latency_seconds, http_method_label

logger = logging.getLogger(__name__)

_NAMED_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")


def route_label(route: str) -> str:
    """A readable route pattern: regex routes from DRF routers become ``/clients/<client_id>/``."""
    return "/" + _NAMED_GROUP.sub(r"<\1>", route).replace("^", "").replace("$", "").replace("\\.", ".")


class RequestIdMiddleware:
    """Take ``X-Request-ID`` from the caller (if sane) or make one; echo it back."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if 8 <= len(incoming) <= 64 and incoming.replace("-", "").isalnum() else uuid.uuid4().hex
        request.request_id = rid  # type: ignore[attr-defined]
        token = request_id_var.set(rid)
        request._started_at = time.perf_counter()  # type: ignore[attr-defined]
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = rid
        return response


class PrometheusAfterMiddleware(_PrometheusAfterMiddleware):
    """django-prometheus's per-view metrics, with the method label taken from a fixed set.

    The library labels one latency histogram with the raw ``request.method``: every made-up
    method a client sends would become a new series, kept until the process ends.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        super().__init__(get_response)
        self._children: dict[tuple[Any, ...], Any] = {}

    def _method(self, request: HttpRequest) -> str:
        return http_method_label(request.method)

    def label_metric(
        self, metric: Any, request: HttpRequest, response: HttpResponse | None = None, **labels: str
    ) -> Any:
        if not labels:
            return metric
        if "method" in labels:
            labels["method"] = http_method_label(labels["method"])
        # ``labels()`` checks and sorts its arguments and takes a lock on every call; the
        # children are few (views, fixed methods, statuses) and live as long as the process.
        key = (metric, *labels.items())
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(**labels)
        return child


class ApiCallLogMiddleware:
    """One ``ApiCall`` row (buffered, see ``monitoring.calllog``) and one latency observation per API request.

    The decision views put the model version in the ``X-Model-Version`` response header;
    this is how monitoring learns it without the scoring app importing monitoring.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if is_api_path(request.path):
            self._record(request, response)
        return response

    def _record(self, request: HttpRequest, response: HttpResponse) -> None:
        from monitoring.models import ApiCall

        started = getattr(request, "_started_at", None)
        latency_ms = (time.perf_counter() - started) * 1000 if started else 0.0
        match = getattr(request, "resolver_match", None)
        endpoint = route_label(match.route) if match and match.route else "unmatched"
        api_request_latency_seconds.labels(
            endpoint=endpoint, method=http_method_label(request.method), status=str(response.status_code)
        ).observe(latency_ms / 1000)
        if not settings.API_CALL_LOG_ENABLED or endpoint.endswith("health"):
            return
        try:
            api_call_record(
                ApiCall(
                    request_id=getattr(request, "request_id", "")[:64],
                    method=(request.method or "")[:10],
                    endpoint=endpoint[:200],
                    status_code=response.status_code,
                    latency_ms=max(latency_ms, 0.0),
                    model_version=response.get("X-Model-Version", "")[:60],
                    caller=caller_label(getattr(request, "user", None))[:100],
                    created_at=timezone.now(),
                )
            )
        except Exception:  # the log must never break the answer already computed
            logger.exception("could not record API call")
