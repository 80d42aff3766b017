"""Every Prometheus metric of the product, declared in one place."""

from prometheus_client import Counter, Histogram

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
