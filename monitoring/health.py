"""Health checks of the parts a decision needs: database, broker, cache, models."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.db import connection


def _timed(check: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        result = check()
    except Exception as exc:  # every failure is reported, none escapes
        result = {"status": "down", "error": type(exc).__name__}
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result


def check_database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"status": "ok", "engine": connection.vendor}


def _ping_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    finally:
        client.close()


def check_broker() -> dict[str, Any]:
    if settings.EMBEDDED_TASKS:
        return {"status": "ok", "mode": "embedded (tasks run in-process)"}
    url = settings.CELERY_BROKER_URL
    if url.startswith(("redis://", "rediss://")):
        _ping_redis(url)
    else:
        from creditplatform.celery import app

        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=1)
    return {"status": "ok", "mode": "workers"}


def check_cache() -> dict[str, Any]:
    if not settings.REDIS_URL:
        return {"status": "ok", "mode": "local memory"}
    _ping_redis(settings.REDIS_URL)
    return {"status": "ok", "mode": "redis"}


def check_models() -> dict[str, Any]:
    from scoring.choices import ModelPurpose, ModelStatus
    from scoring.models import ModelVersion

    champions = dict(ModelVersion.objects.filter(status=ModelStatus.CHAMPION).values_list("purpose", "version"))
    purposes = {p.value: {"champion": champions.get(p.value)} for p in ModelPurpose}
    missing = [p for p, v in purposes.items() if v["champion"] is None]
    return {"status": "ok" if not missing else "degraded", "purposes": purposes, "missing": missing}


def health_report() -> tuple[dict[str, Any], bool]:
    """The report and whether the platform can serve (database and broker up)."""
    checks = {
        "database": _timed(check_database),
        "broker": _timed(check_broker),
        "cache": _timed(check_cache),
    }
    if checks["database"]["status"] == "ok":
        checks["models"] = _timed(check_models)
    else:
        checks["models"] = {"status": "unknown", "error": "database unavailable"}
    serving = all(checks[name]["status"] == "ok" for name in ("database", "broker", "cache"))
    status = "ok" if serving and checks["models"]["status"] == "ok" else ("degraded" if serving else "down")
    return {"status": status, "checks": checks}, serving
