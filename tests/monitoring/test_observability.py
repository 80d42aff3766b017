"""API calls are logged, metrics are exposed to scrapers only, logs carry no secrets or PII."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest
from django.test import Client
from rest_framework.test import APIClient

from monitoring.logging import RedactingFilter, pseudonym
from monitoring.models import ApiCall

pytestmark = pytest.mark.django_db


def test_each_api_call_is_recorded_with_route_status_and_caller(key_client: Callable[..., APIClient]) -> None:
    api = key_client("viewer")
    api.get("/api/v1/clients/")
    api.get("/api/v1/clients/NOPE/")
    calls = list(ApiCall.objects.order_by("created_at"))
    assert [(c.endpoint, c.status_code) for c in calls] == [
        ("/api/v1/clients/", 200),
        ("/api/v1/clients/<client_id>/", 404),
    ]
    assert calls[0].caller.startswith("apikey:")
    assert calls[0].latency_ms > 0
    assert len(calls[0].request_id) >= 8


def test_a_request_id_is_echoed_back(key_client: Callable[..., APIClient]) -> None:
    response = key_client("viewer").get("/api/v1/clients/", HTTP_X_REQUEST_ID="abc-123-def-456")
    assert response["X-Request-ID"] == "abc-123-def-456"
    assert ApiCall.objects.get().request_id == "abc-123-def-456"


@pytest.mark.parametrize(
    "sent",
    [
        "0f8c2d4e-1b3a-4c5d-9e6f-7a8b9c0d1e2f",  # a UUID
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # a W3C traceparent
        "gateway:7f3a9c.span-12",
    ],
    ids=["uuid", "traceparent", "service-span"],
)
def test_a_token_request_id_is_kept_as_sent(key_client: Callable[..., APIClient], sent: str) -> None:
    response = key_client("viewer").get("/api/v1/clients/", HTTP_X_REQUEST_ID=sent)
    assert response.status_code == 200
    assert response["X-Request-ID"] == sent
    assert ApiCall.objects.get().request_id == sent


@pytest.mark.parametrize(
    "sent",
    [
        "Jürgen-Müller-19850312",  # letters of another alphabet: str.isalnum took them
        "jean.dupont@example.com",
        "client C1001 loan 2024",
        "a" * 65,
        "short",
    ],
    ids=["non-ascii", "e-mail", "spaces", "too-long", "too-short"],
)
def test_a_request_id_that_is_not_a_token_is_replaced_never_stored_or_logged(
    key_client: Callable[..., APIClient], sent: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        response = key_client("viewer").get("/api/v1/clients/", HTTP_X_REQUEST_ID=sent)
    assert response.status_code == 200  # not refused
    generated = response["X-Request-ID"]
    assert generated != sent and len(generated) == 32 and generated.isalnum() and generated.isascii()
    assert ApiCall.objects.get().request_id == generated
    assert not ApiCall.objects.filter(request_id=sent[:64]).exists()
    logged = [r.getMessage() + json.dumps({k: str(v) for k, v in vars(r).items()}) for r in caplog.records]
    assert any(f"replaced by {generated}" in line for line in logged)
    assert not any(sent in line for line in logged)


def test_metrics_are_served_to_allowed_addresses_only(settings) -> None:
    api = APIClient()
    api.get("/api/v1/clients/")  # a 401, counted
    body = api.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert "auth_failures_count" in body
    assert "api_request_latency_seconds_bucket" in body
    assert api.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403


def test_failed_authentication_is_counted(key_client: Callable[..., APIClient]) -> None:
    def failures() -> float:
        text = APIClient().get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
        return sum(
            float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("auth_failures_count_total{")
        )

    before = failures()
    api = APIClient()
    api.credentials(HTTP_X_API_KEY="cpk_deadbeef_nope")
    api.get("/api/v1/clients/")
    assert failures() == before + 1


def _format(record: logging.LogRecord) -> str:
    RedactingFilter().filter(record)
    from pythonjsonlogger.json import JsonFormatter

    return JsonFormatter().format(record)


def test_logs_never_carry_tokens_keys_or_emails() -> None:
    record = logging.makeLogRecord(
        {
            "msg": "login for %s with Bearer %s and key %s",
            "args": ("ada@example.test", "eyJhbGciOi.eyJzdWIiOiJ4In0.c2ln", "cpk_abc123_SECRETSECRET"),
            "email": "ada@example.test",
            "client": {"first_name": "Ada", "client_id": "C1"},
        }
    )
    line = _format(record)
    for secret in ("ada@example.test", "eyJhbGciOi", "SECRETSECRET", "Ada", '"C1"'):
        assert secret not in line
    # A client id is a keyed pseudonym: lines about one client still match, the id does not show.
    assert json.loads(line)["client"]["client_id"] == pseudonym("C1") != pseudonym("C2")


def test_a_stack_trace_is_never_returned_to_api_callers(key_client: Callable[..., APIClient], monkeypatch) -> None:
    from scoring.api import views

    def boom(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(views, "client_list", boom)
    api = key_client("viewer")
    api.raise_request_exception = False
    response = api.get("/api/v1/clients/")
    assert response.status_code == 500
    assert response.json() == {"error": "server_error", "detail": "Internal error. It has been logged."}
    assert b"secret internals" not in response.content


def test_metrics_need_the_token_once_it_is_set_even_from_the_machine_itself(settings) -> None:
    settings.METRICS_TOKEN = "a-token-long-enough-for-the-check-123"
    api = APIClient()
    refused = api.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert refused.status_code == 401 and refused["WWW-Authenticate"].startswith("Bearer")
    assert api.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong-token-of-some-length").status_code == 401
    served = api.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {settings.METRICS_TOKEN}", REMOTE_ADDR="203.0.113.9")
    assert served.status_code == 200 and b"auth_failures_count" in served.content


def test_without_a_token_production_serves_metrics_to_nobody(settings) -> None:
    settings.METRICS_TOKEN, settings.PRODUCTION = "", True
    assert APIClient().get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403


@pytest.mark.parametrize("method", ["post", "put", "delete", "options"])
def test_a_method_metrics_does_not_take_is_a_json_405_not_a_csrf_page(settings, method: str) -> None:
    """A POST to /metrics was Django's HTML "CSRF verification failed" 403, and OPTIONS answered
    the whole metrics text: /metrics is read-only, and says so in JSON like the API."""
    settings.METRICS_TOKEN = "a-token-long-enough-for-the-check-123"
    scraper = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {settings.METRICS_TOKEN}")
    response = getattr(scraper, method)("/metrics")
    assert response.status_code == 405, response.content[:200]
    assert response.json()["error"] == "method_not_allowed"
    assert response["Allow"] == "GET, HEAD"
    assert b"auth_failures_count" not in response.content
    # Credentials are still checked first: without the token it is the 401 it was.
    assert getattr(Client(enforce_csrf_checks=True), method)("/metrics").status_code == 401
