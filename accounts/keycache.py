"""A short-lived, process-local cache of API-key rows, keyed by their public prefix.

Every scored request authenticates; without this cache each one pays a database round
trip for a row that changes a few times a year. Rows are kept ``API_KEY_CACHE_SECONDS``
(default 5): a key revoked in another process stops working within that delay, in this
process at once (``post_save``/``post_delete`` on ``ApiKey`` drop the entry). The secret
is still compared by hash at every request, and expiry is checked against the clock, so
the cache never lets a wrong or expired key in. Unknown prefixes are cached too, so a
flood of made-up keys does not become a flood of queries.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

_MAX_ENTRIES = 10_000


class TTLCache(Generic[T]):
    """Thread-safe ``key -> value`` for ``ttl`` seconds; ``ttl <= 0`` disables it."""

    def __init__(self, ttl: Callable[[], float]) -> None:
        self._ttl = ttl
        self._entries: dict[str, tuple[float, T]] = {}
        self._lock = threading.Lock()

    def get_or_load(self, key: str, load: Callable[[], T]) -> T:
        ttl = self._ttl()
        if ttl <= 0:
            return load()
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            return entry[1]
        value = load()
        with self._lock:
            if len(self._entries) >= _MAX_ENTRIES:
                self._entries.clear()  # bounded: garbage prefixes cannot grow it forever
            self._entries[key] = (now + ttl, value)
        return value

    def invalidate(self, key: str | None = None) -> None:
        with self._lock:
            if key is None:
                self._entries.clear()
            else:
                self._entries.pop(key, None)
