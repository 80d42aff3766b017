"""/metrics stays bounded: nothing a caller sends becomes a new label value."""

from __future__ import annotations

import pytest
from django.test import Client

from monitoring.metrics import http_method_label

pytestmark = pytest.mark.django_db

# Paths of every kind: API (our own latency histogram), the health check, an admin page, a 404.
PATHS = ("/api/v1/clients/", "/api/v1/health", "/admin/", "/no-such-page", "/score")


def _metrics() -> str:
    return Client().get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()


def _series(text: str) -> set[str]:
    """Metric name and labels of every sample line (the value dropped)."""
    return {line.rsplit(" ", 1)[0] for line in text.splitlines() if not line.startswith("#")}


def _send_made_up_methods(count: int, start: int = 0) -> None:
    client = Client()
    for n in range(start, start + count):
        client.generic(f"BREW{n:05d}", PATHS[n % len(PATHS)])


def test_made_up_http_methods_keep_the_metrics_page_flat() -> None:
    _send_made_up_methods(len(PATHS))  # every path once: the "other" series now exist
    _metrics()  # and those of /metrics itself
    before = _metrics()
    _send_made_up_methods(500, start=len(PATHS))
    after = _metrics()
    assert "BREW" not in after
    assert _series(after) == _series(before)
    # Counters gain digits, nothing else: a few hundred bytes, not a line per method.
    assert len(after) - len(before) < 1_000, f"/metrics grew by {len(after) - len(before)} bytes"
    assert 'method="other"' in after


@pytest.mark.parametrize(
    ("method", "label"),
    [("GET", "GET"), ("post", "POST"), ("PATCH", "PATCH"), ("OPTIONS", "OPTIONS"), ("HEAD", "HEAD")]
    + [("TRACE", "other"), ("PROPFIND", "other"), ("", "other"), ("G\u00c9T", "other"), ("GET " * 50, "other")],
)
def test_http_methods_map_to_a_fixed_set(method: str, label: str) -> None:
    assert http_method_label(method) == label
