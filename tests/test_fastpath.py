"""The decision fast path answers as the full stack does (creditplatform.fastpath).

Every case is sent twice through WSGI, as gunicorn sends it: once to Django's own handler
(the full middleware chain and DRF), once to the platform's application (the fast path in
front of the same handler). The two answers must agree on the status, every header (in
order), the body (ids and instants aside), and on what the request leaves behind: stored
decisions and checks, the call log, every Prometheus series the request moves. Each case
also states who answered it in the platform's application: the fast path, or Django
because the request is not the usual one (and then nothing may have been counted twice).
"""

from __future__ import annotations

import io
import json
import re
import sys
from collections.abc import Callable
from typing import Any

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import OperationalError
from prometheus_client.registry import REGISTRY

from accounts.models import ApiKey
from accounts.roles import Role
from creditplatform.fastpath import FastPathApplication
from fraud.models import FraudCheck, Transaction
from monitoring.metrics import metric_writes
from monitoring.models import ApiCall
from scoring.choices import ModelStatus
from scoring.models import Decision, ModelVersion

pytestmark = pytest.mark.django_db

SEED = {"age": 35, "revenu": 50000, "historique_impaye": 1}
# Values that differ between two identical requests: ids, instants, request ids.
_VARYING = re.compile(r'"(id|created_at|decided_at|alert_id|check_id|transaction_id|request_id)":\s*("[^"]*"|\d+|null)')
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}")


class Counting:
    """Django's handler, counting the requests the fast path handed over to it."""

    def __init__(self) -> None:
        self.handler = WSGIHandler()
        self.calls = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        self.calls += 1
        return self.handler(environ, start_response)


@pytest.fixture
def apps(keep_test_connection: None) -> tuple[Counting, FastPathApplication, Counting]:
    """(Django alone, the platform's application, the Django handler behind it)."""
    behind = Counting()
    return Counting(), FastPathApplication(behind), behind  # type: ignore[arg-type]


def call(
    app: Any, path: str, body: bytes | str | dict[str, Any] | list[Any], key: str | None, **extra: str
) -> tuple[int, list[tuple[str, str]], bytes]:
    raw = body if isinstance(body, bytes) else (body if isinstance(body, str) else json.dumps(body)).encode()
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "testserver",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(raw)),
        "wsgi.input": io.BytesIO(raw),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        **({"HTTP_X_API_KEY": key} if key else {}),
        **extra,
    }
    seen: dict[str, Any] = {}
    result = app(environ, lambda status, headers, exc_info=None: seen.update(status=status, headers=headers))
    try:
        content = b"".join(result)
    finally:
        result.close()
    return int(seen["status"].split()[0]), seen["headers"], content


def _samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every Prometheus sample but latencies and creation times (they differ by nature)."""
    metric_writes.flush()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for metric in REGISTRY.collect()
        if "latency" not in metric.name
        and "seconds" not in metric.name
        and not metric.name.startswith(("process_", "python_"))  # the test process's own
        for sample in metric.samples
        if not sample.name.endswith("_created")
    }


def _delta(before: dict[Any, float], after: dict[Any, float]) -> dict[Any, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}


def _trace() -> dict[str, Any]:
    return {
        "decisions": Decision.objects.count(),
        "transactions": Transaction.objects.count(),
        "checks": FraudCheck.objects.count(),
        "calls": list(
            ApiCall.objects.order_by("created_at", "pk").values_list(
                "method", "endpoint", "status_code", "model_version", "caller"
            )
        ),
    }


def _normal(run: str, status: int, headers: list[tuple[str, str]], content: bytes) -> tuple[Any, ...]:
    text = _UUID.sub("<uuid>", _VARYING.sub(r'"\1": "<varies>"', content.decode())).replace(f"-{run}", "-<run>")
    shown = [(name, "<id>" if name == "X-Request-ID" else value) for name, value in headers]
    shown = [(n, "<length>" if n == "Content-Length" else v) for n, v in shown]
    assert dict(headers).get("Content-Length", str(len(content))) == str(len(content))
    return status, shown, text


def both(
    apps: tuple[Counting, FastPathApplication, Counting],
    path: str,
    body: Any,
    key: str | None,
    *,
    fast: bool,
    vary: Callable[[Any, str], Any] = lambda body, _: body,
    **extra: str,
) -> tuple[int, dict[str, str], dict[str, Any]]:
    """The case through Django alone, then through the platform's application; both answers
    and both traces compared. ``fast``: whether the fast path must answer it. ``vary`` makes
    the body unique per run where the domain needs it (a transaction id, an idempotency key)."""
    django_alone, platform, behind = apps
    answers, traces, series = [], [], []
    for name, app in (("full", django_alone), ("fast", platform)):  # names of one length: same body sizes
        before_trace, before_samples, handed = _trace(), _samples(), behind.calls
        answers.append(
            _normal(
                name, *call(app, path, vary(body, name), key, **{k: v.replace("{run}", name) for k, v in extra.items()})
            )
        )
        after = _trace()
        traces.append(
            {k: (after[k][len(before_trace[k]) :] if k == "calls" else after[k] - before_trace[k]) for k in after}
        )
        series.append(_delta(before_samples, _samples()))
        if name == "fast":
            assert (behind.calls == handed) is fast, (
                f"{path}: {'handed to Django' if fast else 'answered by the fast path'}"
            )
    assert answers[0] == answers[1]
    assert traces[0] == traces[1]
    assert series[0] == series[1]
    status, headers, text = answers[1]
    return status, dict(headers), json.loads(text) if text else {}


@pytest.fixture
def scorer(api_key_for: Callable[..., str], credit_model: ModelVersion) -> str:
    return api_key_for(Role.ANALYST, ["score", "read"])


@pytest.mark.parametrize("path", ["/score", "/api/v1/score"])
def test_a_decision_is_the_same_answer_and_the_same_record(apps: Any, scorer: str, path: str) -> None:
    status, headers, body = both(apps, path, SEED, scorer, fast=True)
    assert status == 201
    assert headers["X-Model-Version"] == body["model_version"]
    assert ("score" in body) is (path == "/score")  # the seed's fields at the root path only


def test_full_payloads_of_every_feature_are_the_same(apps: Any, scorer: str, credit_model: ModelVersion) -> None:
    from tests.scoring.test_score_api import CONTRACT  # noqa: PLC0415  (the contract's fields)

    full = {"age": 52, "revenu": 180, "historique_impaye": 0, "job": "fixed", "montant_credit": 20000}
    status, _, body = both(apps, "/api/v1/score", full, scorer, fast=True)
    assert status == 201 and set(body) >= CONTRACT


def test_idempotency_new_replayed_and_conflicting(apps: Any, scorer: str) -> None:
    key = {"HTTP_IDEMPOTENCY_KEY": "order-{run}-1"}
    assert both(apps, "/score", SEED, scorer, fast=True, **key)[0] == 201
    status, headers, _ = both(apps, "/score", SEED, scorer, fast=True, **key)
    assert status == 200 and headers["Idempotent-Replayed"] == "true"
    status, _, body = both(apps, "/score", {**SEED, "age": 36}, scorer, fast=True, **key)
    assert status == 409 and body["error"] == "conflict"


@pytest.mark.parametrize(
    ("body", "extra", "field"),
    [
        ({**SEED, "age": 3}, {}, "age"),
        ({**SEED, "unknown": 1}, {}, "unknown"),
        ([SEED], {}, "non_field_errors"),
        ("42", {}, "non_field_errors"),
        (SEED, {"HTTP_IDEMPOTENCY_KEY": "x" * 201}, "Idempotency-Key"),
    ],
)
def test_invalid_input_is_the_same_400_naming_the_field(
    apps: Any, scorer: str, body: Any, extra: dict[str, str], field: str
) -> None:
    status, _, answer = both(apps, "/score", body, scorer, fast=True, **extra)
    assert status == 400 and field in answer["fields"]


def test_a_key_sent_twice_is_the_same_400_naming_the_field(apps: Any, scorer: str) -> None:
    """The fast path's reading refuses it: Django answers it, naming the field as for any wrong value."""
    body = '{"age": 35, "revenu": 1000, "historique_impaye": 1, "revenu": 90000}'
    status, _, answer = both(apps, "/score", body, scorer, fast=False)
    assert status == 400
    assert answer["fields"] == {"revenu": ["Sent more than once in one object: send this field once."]}


def test_an_integer_too_long_to_read_is_the_same_400_naming_the_field(apps: Any, scorer: str) -> None:
    """The fast path's reading fails: Django answers it, naming the field as for any wrong value."""
    body = '{"age": ' + "9" * 5000 + ', "revenu": 50000, "historique_impaye": 1}'
    status, _, answer = both(apps, "/score", body, scorer, fast=False)
    assert status == 400 and answer["fields"] == {"age": ["A number of at most 4,300 digits is required."]}


def test_no_champion_is_the_same_503(apps: Any, scorer: str, credit_model: ModelVersion) -> None:
    ModelVersion.objects.filter(pk=credit_model.pk).update(status=ModelStatus.RETIRED)
    from scoring.ml.predictor import reset_models  # noqa: PLC0415

    reset_models()
    status, _, body = both(apps, "/score", SEED, scorer, fast=True)
    assert status == 503 and body["error"] == "service_unavailable"


def test_a_body_with_a_byte_order_mark_is_the_same_decision(apps: Any, scorer: str) -> None:
    status, _, body = both(apps, "/score", b"\xef\xbb\xbf" + json.dumps(SEED).encode(), scorer, fast=True)
    assert status == 201 and body["decision"] in ("approve", "refuse")


@pytest.mark.parametrize(
    ("case", "extra", "body", "expected"),
    [
        ("malformed JSON", {}, b'{"age": ', 400),
        ("empty object key check: NaN", {}, b'{"age": NaN}', 400),
        ("a lone surrogate in a key", {}, b'{"age": 35, "revenu": 50000, "historique_impaye": 1, "\\ud800": 1}', 400),
        ("a lone surrogate in a value", {}, b'{"age": 35, "revenu": 50000, "job": "\\udfff"}', 400),
        ("a form, not JSON", {"CONTENT_TYPE": "application/x-www-form-urlencoded"}, b"age=35", 415),
        ("XML asked for", {"HTTP_ACCEPT": "application/xml"}, SEED, 406),
        ("a query string", {"QUERY_STRING": "format=json"}, SEED, 201),
        ("a session cookie", {"HTTP_COOKIE": "sessionid=nothing"}, SEED, 201),
        ("a host not allowed", {"HTTP_HOST": "evil.example"}, SEED, 400),
        ("a Content-Encoding (the body read as sent)", {"HTTP_CONTENT_ENCODING": "br"}, SEED, 415),
    ],
)
def test_unusual_requests_are_answered_by_django_alone(
    apps: Any, scorer: str, case: str, extra: dict[str, str], body: Any, expected: int
) -> None:
    status, _, _ = both(apps, "/score", body, scorer, fast=False, **extra)
    assert status == expected, case


def test_refused_callers_are_refused_by_django_and_counted_once(
    apps: Any, api_key_for: Callable[..., str], credit_model: ModelVersion
) -> None:
    assert both(apps, "/score", SEED, "cpk_nothing_wrong", fast=False)[0] == 401
    assert both(apps, "/score", SEED, None, fast=False)[0] == 401
    reader = api_key_for(Role.ANALYST, ["read"])  # the role may score, the key may not
    status, _, body = both(apps, "/score", SEED, reader, fast=False)
    assert status == 403 and "'score' scope" in body["detail"]
    revoked = api_key_for(Role.ANALYST, ["score"])
    ApiKey.objects.filter(prefix=revoked.split("_")[1]).update(revoked_at="2026-01-01T00:00:00Z")
    from accounts.authentication import api_key_rows  # noqa: PLC0415

    api_key_rows.invalidate()
    assert both(apps, "/score", SEED, revoked, fast=False)[0] == 401


def test_a_throttled_caller_gets_the_same_429(apps: Any, scorer: str, settings: Any) -> None:
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "apikey": "2/hour"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    django_alone, platform, behind = apps
    answers = []
    for app in (django_alone, platform):
        answers.append([call(app, "/score", SEED, scorer)[0] for _ in range(2)])
    # The two paths share one bucket (one key): Django spent it, the platform is refused.
    assert answers == [[201, 201], [429, 429]]
    assert behind.calls == 2


def test_off_when_turned_off_or_when_the_middleware_differs(apps: Any, scorer: str, settings: Any) -> None:
    _, platform, behind = apps
    settings.FAST_DECISION_PATH = False
    assert call(platform, "/score", SEED, scorer)[0] == 201 and behind.calls == 1
    settings.FAST_DECISION_PATH = True
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "XFrame" not in m]
    assert call(platform, "/score", SEED, scorer)[0] == 201 and behind.calls == 2


@pytest.fixture
def fraud_caller(api_key_for: Callable[..., str], fraud_model: ModelVersion) -> str:
    return api_key_for(Role.ANALYST, ["fraud", "read"])


def _unique_transaction(body: dict[str, Any], run: str) -> dict[str, Any]:
    """Each run its own transaction and client: the second run's client has no history of the first's."""
    return {**body, "transaction_id": f"{body['transaction_id']}-{run}", "client_id": f"{body['client_id']}-{run}"}


@pytest.mark.parametrize("path", ["/fraude", "/api/v1/fraude"])
def test_a_fraud_check_is_the_same_answer_and_the_same_record(apps: Any, fraud_caller: str, path: str) -> None:
    payload = {"transaction_id": "TX-FP-1", "montant": 2000, "type": "virement", "client_id": "C1001"}
    status, _, body = both(apps, path, payload, fraud_caller, fast=True, vary=_unique_transaction)
    assert status == 201 and body["decision"] in {"allow", "review", "block"}
    replay = both(apps, path, payload, fraud_caller, fast=True, vary=_unique_transaction)
    assert replay[0] == 200 and replay[1]["Idempotent-Replayed"] == "true"
    conflict = both(apps, path, {**payload, "montant": 9}, fraud_caller, fast=True, vary=_unique_transaction)
    assert conflict[0] == 409


def test_an_invalid_transaction_is_the_same_400(apps: Any, fraud_caller: str) -> None:
    status, _, body = both(apps, "/fraude", {"transaction_id": "TX-FP-2", "montant": -5}, fraud_caller, fast=True)
    assert status == 400 and "montant" in body["fields"]


@pytest.mark.parametrize("field", ["timestamp", "date_transaction"])
def test_a_timestamp_offset_beyond_14_hours_is_the_same_400(apps: Any, fraud_caller: str, field: str) -> None:
    payload = {"transaction_id": "TX-FP-4", "montant": 20, "type": "virement", "client_id": "C1001"}
    payload[field] = "2025-10-01T14:00:00+23:59"
    status, _, body = both(apps, "/fraude", payload, fraud_caller, fast=True)
    assert status == 400 and body["fields"] == {field: ["The UTC offset must be between -14:00 and +14:00."]}
    assert not Transaction.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [("currency", "ßp"), ("devise", "ßp"), ("currency", "eu\u017f"), ("country", "ﬅ"), ("country", "ß")],
)
@pytest.mark.parametrize("query", ["", "x=1"])
def test_a_code_of_letters_upper_case_makes_ascii_is_the_same_400(
    apps: Any, fraud_caller: str, field: str, value: str, query: str
) -> None:
    """ "ßp".upper() is "SSP" and "ﬅ".upper() "ST": refused as sent, on the fast path and through DRF alike."""
    payload = {"transaction_id": "TX-FP-3", "montant": 20, "type": "virement", "client_id": "C1001", field: value}
    status, _, body = both(apps, "/fraude", payload, fraud_caller, fast=not query, QUERY_STRING=query)
    assert status == 400 and list(body["fields"]) == [field]
    assert not Transaction.objects.exists()


def failing(exc: Exception) -> Callable[..., Any]:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise exc

    return fail


def test_a_database_outage_in_the_decision_is_the_same_503(
    apps: Any, scorer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scoring.api import views  # noqa: PLC0415

    monkeypatch.setattr(views, "application_score", failing(OperationalError("server closed the connection")))
    status, headers, body = both(apps, "/score", SEED, scorer, fast=True)
    assert status == 503 and headers["Retry-After"] == "5" and "server closed" not in json.dumps(body)


def test_a_database_outage_while_the_key_is_looked_up_is_left_to_django(
    apps: Any, scorer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from accounts.authentication import ApiKeyAuthentication  # noqa: PLC0415

    monkeypatch.setattr(ApiKeyAuthentication, "_lookup", staticmethod(failing(OperationalError("no route to host"))))
    status, headers, _ = both(apps, "/score", SEED, scorer, fast=False)
    assert status == 503 and headers["Retry-After"] == "5"


def test_the_fast_path_covers_the_configured_middleware() -> None:
    """A middleware added to or removed from the settings turns the fast path off (and logs it);
    this test says so at once, so that the fast path is taught about it rather than lost."""
    from django.conf import settings  # noqa: PLC0415

    from creditplatform.fastpath import COVERED_MIDDLEWARE  # noqa: PLC0415

    assert tuple(settings.MIDDLEWARE) == tuple(COVERED_MIDDLEWARE), (
        "update creditplatform/fastpath.py for the new stack"
    )
