"""DRF throttling per caller: one bucket per API key, per user or token subject, per address.

Rates come from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` (``apikey``, ``user``, ``anon``;
env ``THROTTLE_RATE_*``). A view with ``throttle_scope = "score"`` gets its own buckets and,
if configured, its own rates ``score_apikey``/``score_user``/``score_anon``.
"""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from accounts.principals import PrincipalKind, ServicePrincipal


class PrincipalRateThrottle(SimpleRateThrottle):
    """Bucket by who is calling; answer 429 with ``Retry-After`` (see the JSON error handler)."""

    def allow_request(self, request: Request, view: Any) -> bool:
        self.kind, self.ident = self._caller(request)
        view_scope = getattr(view, "throttle_scope", None)
        self.scope = self.kind
        if view_scope and f"{view_scope}_{self.kind}" in self.rates():
            self.scope = f"{view_scope}_{self.kind}"
        self.bucket = f"{view_scope or 'default'}:{self.kind}:{self.ident}"
        self.rate = self.rates().get(self.scope)
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    @staticmethod
    def rates() -> dict[str, str | None]:
        """Read at each request (not frozen at import like DRF's class attribute)."""
        return api_settings.DEFAULT_THROTTLE_RATES  # type: ignore[no-any-return]

    def get_rate(self) -> str | None:  # the rate is chosen per request in allow_request
        return None

    def get_cache_key(self, request: Request, view: Any) -> str:
        return f"throttle:{self.bucket}"

    def _caller(self, request: Request) -> tuple[str, str]:
        user = request.user
        if isinstance(user, ServicePrincipal):
            return ("apikey" if user.kind == PrincipalKind.API_KEY else "user"), user.label
        if getattr(user, "is_authenticated", False):
            return "user", f"user:{user.pk}"
        return "anon", self.get_ident(request)
