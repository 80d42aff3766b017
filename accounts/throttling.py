"""DRF throttling per caller: one bucket per API key, per user or token subject, per address.

Rates come from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` (``apikey``, ``user``, ``anon``;
env ``THROTTLE_RATE_*``). A view with ``throttle_scope = "score"`` gets its own buckets and,
if configured, its own rates ``score_apikey``/``score_user``/``score_anon``.

A fixed-window counter, not DRF's sliding log: DRF keeps every request's timestamp in one
cache entry and rewrites it on each request (at 100 000/min that is a list of tens of
thousands of floats per call, on the hot path), and its read-modify-write lets concurrent
requests overshoot. Here the count is an atomic ``incr`` (Redis ``INCR``/``INCRBY``); the
price is that a caller may send up to twice the rate across a window boundary.

On Redis a process does not ask for every request: it takes a **lease** of tokens from the
shared counter in one round trip (``INCRBY key n``, on a client kept for the process; the
first lease of a window also sets the key's expiry) and spends them locally, going back to
Redis only when its lease for the window is spent. ``n`` is ``limit // THROTTLE_LEASE_DIVISOR``
(100), at most ``THROTTLE_LEASE_MAX`` (64), at least 1. Redis never grants past the limit: a
lease that crosses it (``c - n < limit < c`` for the count ``c`` it returns) brings only
``limit - (c - n)`` tokens, and once Redis has said the window is exhausted the process
refuses the rest of it locally (``Retry-After`` as before), without another round trip.

The tolerance is one way only. Across processes no more than the limit is ever admitted in
a window; tokens other processes leased and have not spent yet can make a caller be refused
early, by at most ``(P - 1) x (n - 1)`` requests for ``P`` processes (a process never holds
more than ``n - 1`` unspent tokens of a key; threads that find its lease being renewed take
one token each from Redis instead of waiting). A lease of 1 (small limits: below
``THROTTLE_LEASE_DIVISOR x 2``; or ``THROTTLE_LEASE_MAX=1``) is the plain count, exactly as
before leases: one ``INCR`` per request, refused requests included, nothing kept in the
process. Without Redis (local-memory cache, local runs) the count is per process anyway
and there is no lease. A process keeps leases of current windows only (a table guarded by
a lock, pruned of ended windows as new entries are made, capped at ``LeaseTable.max_entries``
buckets, beyond which a bucket is counted one request at a time). A counter deleted in
Redis mid-window (a reset by hand) is seen by a process that already found it exhausted
only at the next window.

Django's ``RedisCache.incr`` is not used: it makes two round trips, an ``EXISTS`` then the
``INCR``, and builds a new client object for each call.

When the cache cannot be reached the request is **let through** (the throttle fails open):
decisions matter more than a rate that is not a security control, and a hard quota belongs
in the proxy. Every Redis call is bounded by the cache's socket timeouts (1 s); after a
failure the process stops asking Redis for ``outage_pause`` seconds, so a hung Redis costs
one timeout per process per pause, not one per request, and the outage is logged once per
pause instead of once per request. Tokens a process already holds are spent first, Redis
or not: an outage is noticed when a lease has to be renewed.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache import cache as default_cache
from django.core.cache.backends.redis import RedisCache
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from accounts.principals import PrincipalKind, ServicePrincipal
from creditplatform.hot_settings import hot_settings

logger = logging.getLogger(__name__)


class PrincipalRateThrottle(BaseThrottle):
    """Bucket by who is calling; over the rate DRF answers 429 with ``Retry-After``."""

    cache = default_cache
    timer = staticmethod(time.time)
    clock = staticmethod(time.monotonic)
    outage_pause = 5.0  # seconds without asking a cache that just failed
    leases: LeaseTable  # this process's (set below the class); a test gives an instance its own

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
        size = lease_size(limit)
        client = _redis_client(self.cache) if size > 1 else None
        if client is not None:
            allowed = self._leased(client, key, limit, size, duration, (window + 1) * duration, now)
        else:
            allowed = self._counted(key, limit, duration)
        if not allowed:
            self._wait = (window + 1) * duration - now
        return allowed

    def _counted(self, key: str, limit: int, duration: int) -> bool:
        """One round trip per request (a lease of 1, or a cache that is not Redis)."""
        if _outage.down and self.clock() < _outage.until:  # failed a moment ago: do not wait on it again
            return True
        try:
            count = self._hit(key, duration)
        except Exception as exc:  # the cache is down or hung: serve (throttling is not a security control)
            _outage.failed(self.clock(), self.outage_pause, exc)
            return True
        _outage.recovered()
        return count <= limit

    def _leased(self, client: Any, key: str, limit: int, size: int, duration: int, end: float, now: float) -> bool:
        """Spend this process's lease for ``key``; take a new one from Redis only when it is spent."""
        claim = self.leases.take(key, size, end, now)
        if claim is True or claim is False:  # spent from the lease, or the window is known exhausted
            return claim
        asked, fetcher = claim
        if _outage.down and self.clock() < _outage.until:
            self.leases.settle(key, fetcher, 0, exhausted=False)
            return True
        try:
            physical = self.cache.make_and_validate_key(key)  # the key Django's API would use
            count = int(client.incrby(physical, asked))
            if count == asked:  # this call created the window's counter
                client.expire(physical, duration + 1)
        except Exception as exc:  # fail open, as for a single count
            self.leases.settle(key, fetcher, 0, exhausted=False)
            _outage.failed(self.clock(), self.outage_pause, exc)
            return True
        _outage.recovered()
        granted = max(0, min(asked, limit - (count - asked)))  # never more than the window has left
        return self.leases.settle(key, fetcher, granted, exhausted=count >= limit)

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


def lease_size(limit: int) -> int:
    """Tokens a process takes from Redis at once for a bucket of ``limit`` per window.

    ``limit // THROTTLE_LEASE_DIVISOR``, at most ``THROTTLE_LEASE_MAX``, at least 1 (a lease of
    1 is the plain count: one round trip per request, no state kept in the process).
    """
    return max(1, min(hot_settings.THROTTLE_LEASE_MAX, limit // hot_settings.THROTTLE_LEASE_DIVISOR))


class _Lease:
    __slots__ = ("end", "exhausted", "fetching", "left")

    def __init__(self, end: float) -> None:
        self.end = end  # when its window ends (the throttle's timer)
        self.left = 0  # tokens taken from Redis, not yet spent
        self.exhausted = False  # Redis said the window has no tokens left: refuse without asking
        self.fetching = False  # a thread is taking a new lease for this key


class LeaseTable:
    """One process's leases, per bucket of a current window; thread-safe, bounded.

    Entries of windows that have ended are dropped as new ones are made; past ``max_entries``
    a bucket gets no entry and counts in Redis one request at a time (no tokens are lost).
    """

    max_entries = 10_000

    # How long a request waits for another thread's lease to come back from Redis before it
    # asks Redis alone (the fetch itself is bounded by the cache's socket timeout).
    fetch_wait = 2.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fetched = threading.Condition(self._lock)  # a fetch settled
        self._leases: dict[str, _Lease] = {}
        self._prune_at = float("inf")

    def __len__(self) -> int:
        return len(self._leases)

    def take(self, key: str, size: int, end: float, now: float) -> bool | tuple[int, bool]:
        """``True``: admitted from the lease; ``False``: refused, the window is exhausted;
        else ``(tokens to ask Redis for, whether this caller holds the key's one fetch)``
        (to be answered with :meth:`settle`)."""
        waited = False
        with self._lock:
            while True:
                lease = self._leases.get(key)
                if lease is None:
                    if now >= self._prune_at or len(self._leases) >= self.max_entries:
                        self._prune(now)
                    if len(self._leases) >= self.max_entries:
                        return 1, False
                    lease = self._leases[key] = _Lease(end)
                    self._prune_at = min(self._prune_at, end)
                if lease.left > 0:
                    lease.left -= 1
                    return True
                if lease.exhausted and lease.fetching and not waited:
                    # Redis's counter is spent, but a lease this process was granted is on its
                    # way back: its tokens are for requests like this one. Refusing now would
                    # leave them unspent (the window's last requests refused under the limit).
                    waited = True
                    self._fetched.wait(timeout=self.fetch_wait)
                    continue
                if lease.exhausted and not lease.fetching:
                    return False
                if lease.fetching:  # another thread is taking the lease: count this request alone
                    return 1, False
                lease.fetching = True
                return size, True

    def settle(self, key: str, fetcher: bool, granted: int, *, exhausted: bool) -> bool:
        """Add the ``granted`` tokens Redis gave; spend one on this request if there is one."""
        with self._lock:
            if fetcher:
                self._fetched.notify_all()  # requests waiting for this lease look again
            lease = self._leases.get(key)
            if lease is None:  # no room in the table, or the window ended meanwhile
                return granted > 0
            if fetcher:
                lease.fetching = False
            lease.left += granted
            lease.exhausted = lease.exhausted or exhausted
            if lease.left > 0:
                lease.left -= 1
                return True
            return False

    def _prune(self, now: float) -> None:
        self._leases = {key: lease for key, lease in self._leases.items() if lease.end > now}
        self._prune_at = min((lease.end for lease in self._leases.values()), default=float("inf"))


PrincipalRateThrottle.leases = LeaseTable()
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
