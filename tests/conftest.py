"""Fixtures shared by the whole suite: API clients per role, API keys, Celery mode."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.test import APIClient

from accounts.roles import Role
from accounts.services import api_key_create
from accounts.throttling import LeaseTable, PrincipalRateThrottle
from creditplatform.celery import app as celery_app
from fraud.config import reset_fraud_config
from scoring.ml.predictor import reset_models
from tests.factories import UserFactory
from tests.models import TrainedModel, credit_training, fraud_training, register_trained

# Browser fixtures (live server, provider, Chromium) for every test module that asks for them.
pytest_plugins = ["tests.browser"]

# Property tests (hypothesis, schemathesis) are derandomised: every machine, CI included, runs
# the same examples, so a failure reproduces as it was seen; no example database is kept.
# Each test bounds its own max_examples. `pytest --hypothesis-profile=explore` searches
# further, with fresh random examples each run.
settings.register_profile(
    "ci", derandomize=True, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("explore", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _eager_celery(request: pytest.FixtureRequest) -> Iterator[None]:
    """Unit tests run tasks in-process; tests marked ``integration`` use real workers."""
    if request.node.get_closest_marker("integration"):
        yield
        return
    old = (celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates)
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = old


@pytest.fixture(autouse=True)
def _promotion_without_four_eyes(request: pytest.FixtureRequest, settings: object) -> None:
    """Tests activate model versions and rules directly; four-eyes promotion (the default
    outside tests) is tested by the tests marked ``four_eyes`` (tests/governance)."""
    settings.PROMOTION_FOUR_EYES = bool(request.node.get_closest_marker("four_eyes"))  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _api_call_log_in_request(settings: object) -> None:
    """Tests read the API call log right after a request: write it in the request.

    The buffered path (the default outside tests) has its own tests in
    ``tests/monitoring/test_call_log_buffer.py``.
    """
    settings.API_CALL_LOG_FLUSH_SECONDS = 0  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _audit_checkpoints_of_this_test(settings: object, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Each test's audit chain starts empty: its checkpoints go to a file of its own, never var/'s."""
    folder = tmp_path_factory.getbasetemp() / "audit-checkpoints"
    folder.mkdir(exist_ok=True)
    settings.AUDIT_CHECKPOINT_FILE = folder / f"{uuid.uuid4().hex}.jsonl"  # type: ignore[attr-defined]


@pytest.fixture
def keep_test_connection() -> Iterator[None]:
    """For tests that call a WSGI application: Django's handler closes the database connection
    around each request, and the test's transaction lives on it, so (as Django's test client
    does) it is kept open."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def user_with_role(db: None) -> Callable[[str], object]:
    def make(role: str) -> object:
        return UserFactory(username=f"{role}-user", roles=[role])

    return make


@pytest.fixture
def client_as(user_with_role: Callable[[str], object]) -> Callable[[str | None], APIClient]:
    """An API client logged in (session) as a staff user with ``role``; None = anonymous."""

    def make(role: str | None) -> APIClient:
        api = APIClient()
        if role is not None:
            api.force_login(user_with_role(role))  # type: ignore[arg-type]
        return api

    return make


@pytest.fixture
def api_key_for(db: None) -> Callable[..., str]:
    """The plain value of a fresh API key with ``role`` (and optional ``scopes``)."""

    def make(role: str = Role.ANALYST, scopes: list[str] | None = None, **kwargs: object) -> str:
        return api_key_create(name=f"test-{role}", role=role, scopes=scopes, **kwargs).plain_key  # type: ignore[arg-type]

    return make


@pytest.fixture
def key_client(api_key_for: Callable[..., str]) -> Callable[..., APIClient]:
    """An API client sending ``X-API-Key`` for a fresh key."""

    def make(role: str = Role.ANALYST, scopes: list[str] | None = None) -> APIClient:
        api = APIClient()
        api.credentials(HTTP_X_API_KEY=api_key_for(role, scopes))
        return api

    return make


@pytest.fixture(autouse=True)
def _fresh_models() -> Iterator[None]:
    """Each test starts with no model loaded in this process (the registry rolls back)."""
    reset_models()
    yield
    reset_models()


@pytest.fixture(autouse=True)
def _fresh_throttle_leases(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no throttle tokens leased by this process (Redis keys outlive tests)."""
    monkeypatch.setattr(PrincipalRateThrottle, "leases", LeaseTable())


@pytest.fixture(autouse=True)
def _fresh_fraud_config() -> Iterator[None]:
    """Each test reads the fraud rules and thresholds of its own database."""
    reset_fraud_config()
    yield
    reset_fraud_config()


@pytest.fixture(scope="session")
def trained_credit() -> TrainedModel:
    """The default credit model, trained once per test session by the project's own code."""
    return credit_training(seed=42)


@pytest.fixture
def credit_model(db: None, trained_credit: TrainedModel) -> object:
    """The default credit model registered and serving as champion; returns its ModelVersion."""
    return register_trained(trained_credit, status="champion")


@pytest.fixture(scope="session")
def trained_fraud() -> TrainedModel:
    """A fraud model trained once per session by ``fraud.training`` on a small generated set."""
    return fraud_training(seed=7)


@pytest.fixture
def fraud_model(db: None, trained_fraud: TrainedModel) -> object:
    """That fraud model registered and serving as champion; returns its ModelVersion."""
    return register_trained(trained_fraud, status="champion")
