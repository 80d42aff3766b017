"""Throttle leases on the real Redis: processes take tokens in chunks, never past the limit.

Each ``PrincipalRateThrottle`` given its own ``LeaseTable`` stands for one process; they
share the Redis counter. Redis commands are observed with ``MONITOR`` (what the server
receives), not by looking inside the throttle.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
import redis
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView

from accounts import throttling
from accounts.principals import ServicePrincipal
from accounts.roles import Role
from accounts.throttling import LeaseTable, PrincipalRateThrottle, lease_size
from tests.services import redis_url

LIMIT = 1000  # per minute
LEASE = 64  # lease_size(LIMIT) with the settings of the `leases` fixture


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The throttle's wall clock, one second into a minute; a test moves it."""
    at = [(time.time() // 60) * 60 + 1]
    monkeypatch.setattr(PrincipalRateThrottle, "timer", staticmethod(lambda: at[0]))
    return at


@pytest.fixture
def leases(settings: Any, now: list[float], monkeypatch: pytest.MonkeyPatch) -> None:
    """Redis as the throttle cache, 1000/min per API key, leases of 64 (1/10 of the limit, at most 64)."""
    redis_url()
    assert isinstance(caches["default"], RedisCache), "REDIS_URL configures the default cache"
    # A reply slower than the 1 s socket timeout (a loaded machine) fails open: the request is
    # served and the lease Redis counted is lost. That path has its own test; here it would
    # only blur the counts, so these tests wait as long as Redis needs.
    default = settings.CACHES["default"]
    settings.CACHES = {"default": {**default, "OPTIONS": {**default.get("OPTIONS", {}), "socket_timeout": 30}}}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"apikey": f"{LIMIT}/min"}}
    settings.THROTTLE_LEASE_MAX, settings.THROTTLE_LEASE_DIVISOR = 64, 10
    monkeypatch.setattr(throttling, "_outage", throttling._Outage())
    monkeypatch.setattr(throttling, "_clients", {})  # no client of a test's own cache outlives it
    assert lease_size(LIMIT) == LEASE


def principal() -> ServicePrincipal:
    return ServicePrincipal(label=f"apikey:{uuid.uuid4().hex[:12]}", role=Role.ANALYST)


def process() -> PrincipalRateThrottle:
    """A throttle with its own lease table, as in another process."""
    throttle = PrincipalRateThrottle()
    throttle.leases = LeaseTable()
    return throttle


def allowed(throttle: PrincipalRateThrottle, caller: ServicePrincipal) -> bool:
    request = APIRequestFactory().get("/x")
    request.user = caller
    return throttle.allow_request(request, APIView())


@contextmanager
def redis_commands(marker: str) -> Iterator[list[str]]:
    """The names of the commands Redis receives inside the block on a key holding ``marker``.

    The list is filled when the block ends (``MONITOR`` up to a closing ``ECHO``).
    """
    url = redis_url()
    names: list[str] = []
    with redis.Redis.from_url(url).monitor() as monitor:
        yield names
        end = f"monitor-end-{uuid.uuid4().hex}"
        redis.Redis.from_url(url).echo(end)
        while end not in (command := monitor.next_command()["command"]):
            if marker in command:
                names.append(command.split()[0].upper())


def test_lease_size_follows_the_limit_and_small_limits_count_each_request(settings: Any) -> None:
    settings.THROTTLE_LEASE_MAX, settings.THROTTLE_LEASE_DIVISOR = 64, 100  # the defaults
    assert [lease_size(n) for n in (2, 20, 199, 600, 6000, 100_000)] == [1, 1, 1, 6, 60, 64]
    settings.THROTTLE_LEASE_MAX = 1
    assert lease_size(100_000) == 1


def test_processes_sharing_redis_never_admit_more_than_the_limit_and_at_most_a_lease_each_less(
    leases: None,
) -> None:
    caller, processes = principal(), [process() for _ in range(3)]
    rng = random.Random(7)
    admitted = sum(allowed(rng.choice(processes), caller) for _ in range(3 * LIMIT))
    assert LIMIT - (len(processes) - 1) * LEASE <= admitted <= LIMIT
    assert not any(allowed(p, caller) for p in processes for _ in range(50)), "the window stays closed"


def test_one_process_admits_exactly_the_limit_from_concurrent_threads(leases: None) -> None:
    caller, throttle = principal(), process()
    with ThreadPoolExecutor(max_workers=8) as pool:
        admitted = sum(pool.map(lambda _: allowed(throttle, caller), range(2 * LIMIT)))
    assert admitted == LIMIT, "tokens taken by one process are spent by it, and never past the limit"


def test_redis_is_asked_once_per_lease_not_once_per_request(leases: None) -> None:
    caller, throttle = principal(), process()
    with redis_commands(caller.label) as commands:
        assert all(allowed(throttle, caller) for _ in range(200))
    assert commands.count("INCRBY") == math.ceil(200 / LEASE)
    assert commands.count("EXPIRE") == 1, "the first lease of the window sets the key's expiry"
    assert len(commands) == math.ceil(200 / LEASE) + 1


def test_an_exhausted_window_is_refused_without_asking_redis_until_the_next_window(
    leases: None, now: list[float]
) -> None:
    caller, throttle = principal(), process()
    assert sum(allowed(throttle, caller) for _ in range(LIMIT)) == LIMIT
    assert not allowed(throttle, caller), "Redis says the window is exhausted"
    with redis_commands(caller.label) as commands:
        refused = [allowed(throttle, caller) for _ in range(500)]
    assert not any(refused)
    assert commands == [], "a flood of refused requests costs no round trip"
    assert throttle.wait() == 59, "Retry-After: the rest of the minute"

    now[0] += 60  # the next window
    assert sum(allowed(throttle, caller) for _ in range(LIMIT + 10)) == LIMIT
    assert len(throttle.leases) == 1, "the past window's lease was dropped"


def test_the_lease_table_keeps_only_current_windows(leases: None, now: list[float]) -> None:
    throttle = process()
    for _ in range(3):
        for _ in range(20):
            allowed(throttle, principal())
        assert len(throttle.leases) == 20
        now[0] += 60


def test_the_api_answers_429_with_retry_after_once_the_leased_window_is_spent(
    leases: None, settings: Any, key_client: Callable[..., APIClient]
) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"apikey": "30/min"}}
    settings.THROTTLE_LEASE_DIVISOR = 10  # leases of 3
    api = key_client("viewer", ["read"])
    statuses = [api.get("/api/v1/clients/").status_code for _ in range(31)]
    assert statuses == [200] * 30 + [429]
    refused = api.get("/api/v1/clients/")
    assert refused.status_code == 429 and int(refused["Retry-After"]) == 59


def test_a_lease_of_one_counts_every_request_in_redis_as_before(leases: None, settings: Any) -> None:
    settings.THROTTLE_LEASE_MAX = 1
    caller, throttle = principal(), process()
    with redis_commands(caller.label) as commands:
        decisions = [allowed(throttle, caller) for _ in range(LIMIT + 5)]
    assert decisions == [True] * LIMIT + [False] * 5
    assert commands.count("INCRBY") == LIMIT + 5, "one round trip per request, refused ones too"
    assert commands.count("EXPIRE") == 1
    assert len(throttle.leases) == 0, "nothing is kept in the process"


def test_a_redis_outage_lets_requests_through_then_leases_resume(
    leases: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(PrincipalRateThrottle, "clock", staticmethod(lambda: clock[0]))
    caller, throttle = principal(), process()
    healthy = throttle.cache
    down = RedisCache("redis://127.0.0.1:1/0", {"OPTIONS": {"socket_connect_timeout": 1}})  # nothing listens
    throttle.cache = down  # type: ignore[assignment]
    with caplog.at_level(logging.WARNING, logger="accounts.throttling"):
        assert all(allowed(throttle, caller) for _ in range(2 * LIMIT)), "fails open while Redis is down"
    assert len([r for r in caplog.records if r.name == "accounts.throttling"]) == 1, "logged once"

    throttle.cache = healthy
    clock[0] += throttle.outage_pause + 0.1
    assert sum(allowed(throttle, caller) for _ in range(LIMIT + 10)) == LIMIT, "counted again, to the limit"


def test_a_request_waits_for_the_lease_in_flight_instead_of_being_refused_under_the_limit() -> None:
    """The race behind an old flaky count: another thread's single count comes back first and
    says Redis is exhausted, while this process's lease fetch is still on its way with the
    tokens it was granted. A request arriving then waits for those tokens, not a refusal."""
    table, key, end = LeaseTable(), "throttle:default:apikey:x:1", 120.0
    assert table.take(key, LEASE, end, now=61.0) == (LEASE, True)  # A fetches a lease
    assert table.take(key, LEASE, end, now=61.0) == (1, False)  # B counts alone meanwhile
    assert table.settle(key, False, 0, exhausted=True) is False  # B: nothing left for it

    answer: list[bool | tuple[int, bool]] = []
    waiting = threading.Thread(target=lambda: answer.append(table.take(key, LEASE, end, now=61.0)))
    waiting.start()
    waiting.join(timeout=0.3)
    assert waiting.is_alive(), "C waits for A's lease rather than being refused"
    assert table.settle(key, True, 59, exhausted=True) is True  # A's lease: 59 tokens, one for A
    waiting.join(timeout=5)
    assert answer == [True], "C is admitted from A's lease"
    admitted = sum(table.take(key, LEASE, end, now=61.0) is True for _ in range(100))
    assert admitted == 57, "every granted token is spent, then requests are refused"
    assert table.take(key, LEASE, end, now=61.0) is False
