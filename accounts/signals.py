"""Events other apps listen to (monitoring counts them); accounts never imports monitoring.

Send them through :func:`report_auth_failure` and :func:`report_forbidden`: these mark the
request as counted, so ``AccessCountingMiddleware`` (the catch-all for 401/403 answers
nobody reported, e.g. a missing credential or an admin page) never counts it twice.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import Signal

# Sent with request=..., reason=<short code>. Never carries the credential itself.
auth_failed = Signal()
# Sent with request=..., reason=<short code> when an authenticated caller lacks a role/scope.
access_forbidden = Signal()

# Sent with uri=..., ok=<bool> at every fetch attempt of the provider's JWKS (for a counter).
jwks_fetched = Signal()

# Sent with api_key=..., by=<acting user> inside the transaction that revokes a key (once): what
# other apps gave the key's caller (scoring: its decision webhooks) is withdrawn with it.
api_key_revoked = Signal()

COUNTED_ATTR = "_credit_access_counted"


def _http_request(request: Any) -> Any:
    """The Django request under a DRF ``Request`` (attributes set on the wrapper are lost)."""
    return getattr(request, "_request", request)


def report_auth_failure(request: Any, reason: str, sender: Any = None) -> None:
    """Announce a refused credential (401) once per request."""
    http_request = _http_request(request)
    if getattr(http_request, COUNTED_ATTR, False):
        return
    setattr(http_request, COUNTED_ATTR, True)
    auth_failed.send(sender=sender, request=http_request, reason=reason)


def report_forbidden(request: Any, reason: str, sender: Any = None) -> None:
    """Announce an authenticated caller refused for lack of role or scope (403) once per request."""
    http_request = _http_request(request)
    if getattr(http_request, COUNTED_ATTR, False):
        return
    setattr(http_request, COUNTED_ATTR, True)
    access_forbidden.send(sender=sender, request=http_request, reason=reason)


def already_reported(request: Any) -> bool:
    return bool(getattr(_http_request(request), COUNTED_ATTR, False))
