"""Signed outgoing webhooks, shared by the apps that notify other systems.

Each request is a JSON POST with two headers:

- ``X-Credit-Event``: the event name (``drift_alert``...);
- ``X-Credit-Signature``: ``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the shared secret>``.

The receiver recomputes the HMAC over the raw body with the same secret, compares in
constant time and refuses a timestamp older than a few minutes (replays). ``verify_signature``
below is the reference implementation.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import requests

SIGNATURE_HEADER = "X-Credit-Signature"
EVENT_HEADER = "X-Credit-Event"


class WebhookError(Exception):
    """A delivery that may succeed if tried again (connection refused, timeout, 5xx)."""


def sign(secret: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(secret: str, body: bytes, header: str, *, tolerance: int = 300, now: float | None = None) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` and is at most ``tolerance`` seconds old."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, body, timestamp), f"t={timestamp},v1={parts.get('v1', '')}")


def webhook_post(*, url: str, secret: str, payload: dict[str, Any], timeout: float, event: str | None = None) -> str:
    """Deliver one event; returns a short outcome ("delivered: HTTP 200", "refused: HTTP 400").

    Raises ``WebhookError`` when trying again may help. Redirects are not followed: a
    signed payload goes where it was configured to go, nowhere else.
    """
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str).encode()
    headers = {
        "Content-Type": "application/json",
        EVENT_HEADER: event or str(payload.get("event", "")),
        SIGNATURE_HEADER: sign(secret, body, int(time.time())),
    }
    try:
        response = requests.post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False)
    except requests.RequestException as exc:
        raise WebhookError(f"not delivered: {type(exc).__name__}") from exc
    if response.status_code >= 500:
        raise WebhookError(f"not delivered: HTTP {response.status_code}")
    if response.status_code >= 300:
        return f"refused: HTTP {response.status_code}"
    return f"delivered: HTTP {response.status_code}"
