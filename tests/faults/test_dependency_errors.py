"""How an outage of the database, Redis or the broker reaches an API caller: a JSON 503, never a 500.

In-process checks of the mapping and of the throttle's behaviour; the same outages under
real traffic are ``test_postgres_restart.py`` and ``test_redis_outage.py``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from django.db import InterfaceError, OperationalError
from django.test import RequestFactory
from kombu.exceptions import OperationalError as BrokerError
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView

from accounts import throttling
from accounts.principals import ServicePrincipal
from accounts.roles import Role
from accounts.throttling import PrincipalRateThrottle
from creditplatform.api.exceptions import DATABASE_UNAVAILABLE, SUPPORT_SERVICE_UNAVAILABLE
from creditplatform.middleware import JsonErrorsMiddleware

pytestmark = pytest.mark.django_db

DRIVER_MESSAGE = 'connection to server at "10.20.30.40", port 5432 failed: Connection refused'


def failing(exc: Exception) -> Callable[..., Any]:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise exc

    return fail


@pytest.mark.parametrize(
    ("exc", "detail"),
    [
        (OperationalError(DRIVER_MESSAGE), DATABASE_UNAVAILABLE),
        (InterfaceError("connection already closed"), DATABASE_UNAVAILABLE),
        (
            redis.ConnectionError("Error 111 connecting to 10.20.30.40:6379. Connection refused."),
            SUPPORT_SERVICE_UNAVAILABLE,
        ),
        (redis.TimeoutError("Timeout reading from 10.20.30.40:6379"), SUPPORT_SERVICE_UNAVAILABLE),
        (BrokerError("[Errno 111] Connection refused"), SUPPORT_SERVICE_UNAVAILABLE),
    ],
    ids=["database-down", "connection-lost", "redis-down", "redis-hung", "broker-down"],
)
def test_an_outage_during_an_api_call_is_a_json_503_with_retry_after_and_no_internals(
    exc: Exception, detail: str, key_client: Callable[..., APIClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    from scoring.api import views

    monkeypatch.setattr(views, "client_list", failing(exc))
    api = key_client("viewer", ["read"])
    api.raise_request_exception = False
    response = api.get("/api/v1/clients/")
    assert response.status_code == 503
    assert response.json() == {"error": "service_unavailable", "detail": detail}
    assert response["Retry-After"] == "5"
    assert b"10.20.30.40" not in response.content and b"Error" not in response.content


def test_an_outage_outside_the_api_views_is_a_json_503_too() -> None:
    request = RequestFactory().get("/api/v1/anything")
    response = JsonErrorsMiddleware(lambda r: None).process_exception(request, OperationalError(DRIVER_MESSAGE))  # type: ignore[arg-type, return-value]
    assert response is not None and response.status_code == 503
    assert response["Retry-After"] == "5"
    assert b"10.20.30.40" not in response.content


def test_a_real_bug_is_still_a_500_not_disguised_as_an_outage(
    key_client: Callable[..., APIClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    from scoring.api import views

    monkeypatch.setattr(views, "client_list", failing(KeyError("age")))
    api = key_client("viewer", ["read"])
    api.raise_request_exception = False
    assert api.get("/api/v1/clients/").status_code == 500


# --- The throttle when its cache fails -----------------------------------------------------


class BrokenCache:
    """A cache whose every call fails, as Redis does when it is down; counts the attempts."""

    def __init__(self, exc: Exception) -> None:
        self.exc, self.calls = exc, 0

    def incr(self, *args: Any, **kwargs: Any) -> int:
        self.calls += 1
        raise self.exc

    add = incr


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """The throttle's monotonic clock, moved by the test; the outage state is reset around it."""
    now = [1000.0]
    window_start = (time.time() // 60) * 60 + 1  # one throttle window throughout
    monkeypatch.setattr(PrincipalRateThrottle, "timer", staticmethod(lambda: window_start))
    monkeypatch.setattr(PrincipalRateThrottle, "clock", staticmethod(lambda: now[0]))
    monkeypatch.setattr(throttling, "_outage", throttling._Outage())
    yield now


def _allowed(throttle: PrincipalRateThrottle, principal: ServicePrincipal) -> bool:
    request = APIRequestFactory().get("/x")
    request.user = principal
    return throttle.allow_request(request, APIView())


def test_while_the_throttle_cache_is_down_requests_pass_and_it_is_not_asked_again_for_a_few_seconds(
    clock: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    broken = BrokenCache(redis.TimeoutError("Timeout reading from socket"))
    throttle = PrincipalRateThrottle()
    throttle.cache = broken  # type: ignore[assignment]
    principal = ServicePrincipal(label=f"apikey:{uuid.uuid4().hex[:12]}", role=Role.ANALYST)

    assert all(_allowed(throttle, principal) for _ in range(50))
    assert broken.calls == 1, "a hung Redis costs one timeout, not one per request"
    clock[0] += throttle.outage_pause + 0.1
    assert _allowed(throttle, principal)
    assert broken.calls == 2, "asked again once the pause is over"
    warnings = [r for r in caplog.records if r.name == "accounts.throttling"]
    assert len(warnings) == 1, "the outage is logged once, not per request"


def test_the_throttle_counts_again_once_its_cache_answers(clock: list[float], settings: Any) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"apikey": "2/min"}}
    throttle = PrincipalRateThrottle()
    healthy = throttle.cache
    throttle.cache = BrokenCache(redis.ConnectionError("refused"))  # type: ignore[assignment]
    principal = ServicePrincipal(label=f"apikey:{uuid.uuid4().hex[:12]}", role=Role.ANALYST)
    assert all(_allowed(throttle, principal) for _ in range(5)), "fails open while down"

    throttle.cache = healthy
    clock[0] += throttle.outage_pause + 0.1
    assert [_allowed(throttle, principal) for _ in range(3)] == [True, True, False]
