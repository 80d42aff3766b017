"""DRF throttling per caller: one bucket per API key, per user or token subject, per address.

Rates come from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` (``apikey``, ``user``, ``anon``;
env ``THROTTLE_RATE_*``). A view with ``throttle_scope = "score"`` gets its own buckets and,
if configured, its own rates ``score_apikey``/``score_user``/``score_anon``.

A fixed-window counter, not DRF's sliding log: DRF keeps every request's timestamp in one
cache entry and rewrites it on each request (at 100 000/min that is a list of tens of
thousands of floats per call, on the hot path), and its read-modify-write lets concurrent
requests overshoot. Here each request is one atomic ``incr`` (Redis ``INCR``); the price is
that a caller may send up to twice the rate across a window boundary.

On Redis the counter costs one round trip, an ``INCR`` on a client kept for the process
(Django's ``RedisCache.incr`` makes two, an ``EXISTS`` then the ``INCR``, and builds a new
client object for each call); the first request of a window also sets the key's expiry.

When the cache cannot be reached the request is **let through** (the throttle fails open):
decisions matter more than a rate that is not a security control, and a hard quota belongs
in the proxy. Every Redis call is bounded by the cache's socket timeouts (1 s); after a
failure the process stops asking Redis for ``outage_pause`` seconds, so a hung Redis costs
one timeout per process per pause, not one per request, and the outage is logged once per
pause instead of once per request.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache import cache as default_cache
from django.core.cache.backends.redis import RedisCache
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from accounts.principals import PrincipalKind, ServicePrincipal

logger = logging.getLogger(__name__)


class PrincipalRateThrottle(BaseThrottle):
    """Bucket by who is calling; over the rate DRF answers 429 with ``Retry-After``."""

    cache = default_cache
    timer = staticmethod(time.time)
    clock = staticmethod(time.monotonic)
    outage_pause = 5.0  # seconds without asking a cache that just failed

    def allow_request(self, request: Request, view: Any) -> bool:
        kind, ident = self.caller(request)
        view_scope = getattr(view, "throttle_scope", None)
        rates = api_settings.DEFAULT_THROTTLE_RATES
        scope = f"{view_scope}_{kind}" if view_scope and f"{view_scope}_{kind}" in rates else kind
        rate = rates.get(scope)
        if not rate:
            return True
        limit, duration = SimpleRateThrottle.parse_rate(self, rate)  # type: ignore[arg-type]
        assert limit is not None and duration is not None  # a non-empty rate parses to both
        now = self.timer()
        window = int(now // duration)
        key = f"throttle:{view_scope or 'default'}:{kind}:{ident}:{window}"
        if _outage.down and self.clock() < _outage.until:  # failed a moment ago: do not wait on it again
            return True
        try:
            count = self._hit(key, duration)
        except Exception as exc:  # the cache is down or hung: serve (throttling is not a security control)
            _outage.failed(self.clock(), self.outage_pause, exc)
            return True
        _outage.recovered()
        if count > limit:
            self._wait = (window + 1) * duration - now
            return False
        return True

    def _hit(self, key: str, duration: int) -> int:
        client = _redis_client(self.cache)
        if client is not None:
            physical = self.cache.make_and_validate_key(key)  # the key Django's API would use
            count = int(client.incr(physical))
            if count == 1:
                client.expire(physical, duration + 1)
            return count
        try:
            return int(self.cache.incr(key))
        except ValueError:  # first request of the window
            if self.cache.add(key, 1, timeout=duration + 1):
                return 1
            return int(self.cache.incr(key))  # another request created it meanwhile

    def wait(self) -> float | None:
        return getattr(self, "_wait", None)

    def caller(self, request: Request) -> tuple[str, str]:
        user = request.user
        if isinstance(user, ServicePrincipal):
            return ("apikey" if user.kind == PrincipalKind.API_KEY else "user"), user.label
        if getattr(user, "is_authenticated", False):
            return "user", f"user:{user.pk}"
        return "anon", self.get_ident(request) or "unknown"


class _Outage:
    """This process's view of the throttle cache: reachable, or failed and paused until a time."""

    def __init__(self) -> None:
        self.until = float("-inf")
        self.down = False

    def failed(self, now: float, pause: float, exc: Exception) -> None:
        if not self.down:
            logger.warning(
                "throttle cache unavailable: requests are let through unthrottled",
                extra={"error": type(exc).__name__, "retry_in_seconds": pause},
            )
        self.down, self.until = True, now + pause

    def recovered(self) -> None:
        if self.down:
            self.down = False
            logger.warning("throttle cache reachable again: requests are throttled again")


_outage = _Outage()
_clients: dict[int, Any] = {}


def _redis_client(cache: Any) -> Any:
    """A redis-py client on the cache's own connection pool, made once per cache (thread-safe)."""
    if cache is default_cache:  # a proxy to this thread's default cache
        cache = caches[DEFAULT_CACHE_ALIAS]
    if not isinstance(cache, RedisCache):
        return None
    client = _clients.get(id(cache))
    if client is None:
        client = _clients[id(cache)] = cache._cache.get_client(None, write=True)
    return client
