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
    """Each purpose's champion, and whether this process can serve it.

    A champion whose model file is missing, altered (SHA-256) or unreadable is registered
    but cannot decide: it is listed under ``unusable`` (``/score`` answers 503 meanwhile).
    Loading goes through the process's model cache, so this also warms it up.
    """
    from scoring.choices import ModelPurpose, ModelStatus
    from scoring.ml.predictor import get_model
    from scoring.models import ModelVersion

    champions = dict(ModelVersion.objects.filter(status=ModelStatus.CHAMPION).values_list("purpose", "version"))
    purposes: dict[str, dict[str, Any]] = {}
    missing: list[str] = []
    unusable: list[str] = []
    for purpose in ModelPurpose.values:
        version = champions.get(purpose)
        purposes[purpose] = {"champion": version}
        if version is None:
            missing.append(purpose)
        elif get_model(purpose) is None:
            unusable.append(purpose)
            purposes[purpose]["error"] = "The champion's model file is missing or fails its checks."
    status = "ok" if not missing and not unusable else "degraded"
    return {"status": status, "purposes": purposes, "missing": missing, "unusable": unusable}


def health_report() -> tuple[dict[str, Any], bool]:
    """The report and whether the platform can decide (its database answers).

    Redis (cache, broker) and the models are reported but do not take the platform out of
    a load balancer: decisions go on without Redis (the throttle lets requests through),
    and a purpose without a usable model answers its own 503 while the other decides.
    ``status`` is ``ok`` when everything is, ``degraded`` when the database is up but
    something else is not, ``down`` (HTTP 503) when the database is unreachable.
    """
    checks = {
        "database": _timed(check_database),
        "broker": _timed(check_broker),
        "cache": _timed(check_cache),
    }
    if checks["database"]["status"] == "ok":
        checks["models"] = _timed(check_models)
    else:
        checks["models"] = {"status": "unknown", "error": "database unavailable"}
    serving = checks["database"]["status"] == "ok"
    everything = all(check["status"] == "ok" for check in checks.values())
    status = "ok" if everything else ("degraded" if serving else "down")
    return {"status": status, "checks": checks}, serving
