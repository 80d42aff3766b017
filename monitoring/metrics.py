"""Every Prometheus metric of the product, declared in one place.

Label values never come straight from a request: each distinct value is a new series kept
in memory until the process ends, so a caller who could choose one could grow ``/metrics``
without bound. Methods go through :func:`http_method_label`; endpoints are URL patterns
(``monitoring.middleware.route_label``), never raw paths; statuses and reasons are chosen
by the code.
"""

from prometheus_client import Counter, Histogram

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
