"""The health endpoint tells a load balancer whether the platform can decide."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from scoring.models import ModelVersion

pytestmark = pytest.mark.django_db

URL = "/api/v1/health"


def test_health_needs_no_credentials_and_reports_each_part() -> None:
    response = APIClient().get(URL)
    assert response.status_code == 200
    checks = response.json()["checks"]
    assert checks["database"]["status"] == "ok"
    assert checks["broker"]["status"] == "ok"
    assert set(checks["models"]["purposes"]) == {"credit", "fraud"}


def test_health_is_degraded_but_serving_without_models() -> None:
    ModelVersion.objects.all().delete()
    body = APIClient().get(URL).json()
    assert body["status"] == "degraded"
    assert body["checks"]["models"]["missing"] == ["credit", "fraud"]


def test_health_names_the_champions(credit_model: ModelVersion, fraud_model: ModelVersion) -> None:
    body = APIClient().get(URL).json()
    assert body["status"] == "ok"
    assert body["checks"]["models"]["purposes"]["credit"]["champion"] == credit_model.version
    assert body["checks"]["models"]["unusable"] == []


def test_health_is_degraded_but_serving_when_the_broker_is_unreachable(settings) -> None:
    """Decisions need no broker: a broker outage must not take every web process out of the load balancer."""
    settings.EMBEDDED_TASKS = False
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = APIClient().get(URL)
    assert response.status_code == 200
    assert response.json()["checks"]["broker"]["status"] == "down"
    assert response.json()["status"] == "degraded"


def test_health_is_degraded_but_serving_when_the_cache_is_unreachable(settings) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = APIClient().get(URL)
    assert response.status_code == 200
    assert response.json()["checks"]["cache"]["status"] == "down"
    assert response.json()["status"] == "degraded"
