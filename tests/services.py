"""Access to the real services (PostgreSQL, Redis) the integration tests need.

Without ``REQUIRE_SERVICES`` a test whose service is missing is skipped; with
``REQUIRE_SERVICES=1`` (CI) it fails instead, so a broken environment cannot pass green.
"""

from __future__ import annotations

import os

import pytest
from django.conf import settings
from django.db import connection


def require(condition: bool, what: str) -> None:
    if condition:
        return
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"required service missing: {what}")
    pytest.skip(f"service not available: {what}")


def redis_url() -> str:
    url = settings.REDIS_URL or (settings.CELERY_BROKER_URL if settings.CELERY_BROKER_URL.startswith("redis") else "")
    ok = False
    if url:
        import redis

        try:
            redis.Redis.from_url(url, socket_connect_timeout=1).ping()
            ok = True
        except redis.RedisError:
            ok = False
    require(ok, "Redis (set REDIS_URL)")
    return url


def require_postgresql() -> None:
    require(connection.vendor == "postgresql", "PostgreSQL (set DATABASE_URL=postgres://...)")


def broker_url() -> str:
    url = os.environ.get("CELERY_BROKER_URL", "")
    require(url.startswith("redis"), "a Celery broker (set CELERY_BROKER_URL=redis://...)")
    return url
