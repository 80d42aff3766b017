"""What Prometheus reads on ``/metrics``, for tests that check a figure operators alert on."""

from __future__ import annotations

from rest_framework.test import APIClient


def scraped(series: str) -> float:
    """One series' value on ``/metrics`` (a loopback scrape, as Prometheus makes it without a token)."""
    text = APIClient().get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    values = dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return float(values[series])
