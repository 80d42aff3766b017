"""Every refusal is counted once in /metrics; API keys and users are throttled separately."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from accounts.principals import ServicePrincipal
from accounts.roles import Role
from accounts.throttling import PrincipalRateThrottle
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
CLIENTS = "/api/v1/clients/"


def metric(name: str, reason: str) -> float:
    text = Client().get("/metrics").content.decode()
    match = re.search(rf'^{name}_total{{reason="{reason}"}} (\S+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


def counted(name: str, reason: str, action: Callable[[], Any]) -> float:
    """How much ``action`` moved the counter ``name{reason=...}``."""
    before = metric(name, reason)
    action()
    return metric(name, reason) - before


def test_missing_credentials_are_counted_once() -> None:
    assert counted("auth_failures_count", "api_missing_credentials", lambda: APIClient().get(CLIENTS)) == 1


def test_invalid_api_key_is_counted_once() -> None:
    api = APIClient()
    api.credentials(HTTP_X_API_KEY="cpk_abc_wrong")
    assert counted("auth_failures_count", "invalid_api_key", lambda: api.get(CLIENTS)) == 1


def test_missing_role_is_counted_once(client_as: Callable[[str | None], APIClient]) -> None:
    compliance = client_as("compliance")
    assert counted("forbidden_count", "CanRead", lambda: compliance.get(CLIENTS)) == 1


def test_missing_api_key_scope_is_counted_once(key_client: Callable[..., APIClient]) -> None:
    fraud_only = key_client("analyst", ["fraud"])
    response_holder: list[Any] = []
    assert counted("forbidden_count", "CanRead", lambda: response_holder.append(fraud_only.get(CLIENTS))) == 1
    assert response_holder[0].status_code == 403


def test_forbidden_admin_page_is_counted(client_as: Callable[[str | None], APIClient]) -> None:
    viewer = client_as("viewer")
    assert counted("forbidden_count", "web_forbidden", lambda: viewer.get("/admin/scoring/client/add/")) == 1


@pytest.mark.oidc
def test_rejected_bearer_token_is_counted_with_its_reason(oidc_settings: Any) -> None:
    from tests.accounts.forge import FORGERIES

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {FORGERIES['expired'][0](oidc_settings)}")
    assert counted("auth_failures_count", "jwt_expired", lambda: api.get(CLIENTS)) == 1


@pytest.mark.oidc
def test_login_without_a_role_is_counted_as_forbidden(oidc_settings: Any) -> None:
    from tests.accounts.test_oidc_login import oidc_login

    assert counted("forbidden_count", "oidc_no_role", lambda: oidc_login(Client(), "norole")) == 1


@pytest.fixture
def frozen_window(monkeypatch: pytest.MonkeyPatch) -> float:
    """Time stands still inside one throttle window (no test straddles a minute boundary)."""
    start = (time.time() // 60) * 60 + 1
    monkeypatch.setattr(PrincipalRateThrottle, "timer", staticmethod(lambda: start))
    return start


@pytest.fixture
def low_rates(settings: Any, frozen_window: float) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"apikey": "2/min", "user": "2/min", "anon": "2/min"},
    }


def test_api_key_is_throttled_per_key_with_retry_after(low_rates: None, key_client: Callable[..., APIClient]) -> None:
    first, second = key_client("viewer", ["read"]), key_client("viewer", ["read"])
    statuses = [first.get(CLIENTS).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    refused = first.get(CLIENTS)
    assert refused.json()["error"] == "throttled"
    assert int(refused["Retry-After"]) == 59  # the rest of the minute
    assert second.get(CLIENTS).status_code == 200


def test_user_is_throttled_per_user(low_rates: None) -> None:
    users = [UserFactory(username=f"throttled-{n}", roles=["viewer"]) for n in range(2)]
    clients = []
    for user in users:
        window = int(PrincipalRateThrottle.timer() // 60)
        cache.delete(f"throttle:default:user:user:{user.pk}:{window}")  # ids may be reused between tests
        api = APIClient()
        api.force_login(user)
        clients.append(api)
    assert [clients[0].get(CLIENTS).status_code for _ in range(3)] == [200, 200, 429]
    assert clients[1].get(CLIENTS).status_code == 200


class ScoreLikeApi(APIView):
    """A view with its own throttle scope, as /score may declare."""

    permission_classes = [AllowAny]
    throttle_scope = "score"

    def get(self, request: Any) -> Response:
        return Response({"ok": True})


def test_view_scope_gets_its_own_rate_per_key(settings: Any, frozen_window: float) -> None:
    rates = {"apikey": "100/min", "user": "100/min", "anon": "100/min", "score_apikey": "1/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    principal = ServicePrincipal(label=f"apikey:{uuid.uuid4().hex[:12]}", role=Role.ANALYST)
    statuses = []
    for _ in range(2):
        request = APIRequestFactory().get("/score-like")
        force_authenticate(request, user=principal)
        statuses.append(ScoreLikeApi.as_view()(request).status_code)
    assert statuses == [200, 429]


def test_concurrent_requests_cannot_overshoot_the_rate(settings: Any, frozen_window: float) -> None:
    from concurrent.futures import ThreadPoolExecutor

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"apikey": "20/min"}}
    principal = ServicePrincipal(label=f"apikey:{uuid.uuid4().hex[:12]}", role=Role.ANALYST)
    throttle, view = PrincipalRateThrottle(), ScoreLikeApi()
    view.throttle_scope = None  # type: ignore[assignment]

    def attempt(_: int) -> bool:
        request = APIRequestFactory().get("/x")
        request.user = principal
        return throttle.allow_request(request, view)

    with ThreadPoolExecutor(max_workers=8) as pool:
        allowed = sum(pool.map(attempt, range(100)))
    assert allowed == 20
