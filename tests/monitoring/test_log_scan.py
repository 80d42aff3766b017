"""A whole session's logs, scanned: no credential and no personal value in clear.

The session does what staff and API callers do: password login to the admin (one wrong
password first) and an admin search by name; API keys and bearer tokens (good, wrong,
tampered, one sent in a query string); a client created, changed, searched and read with
identity data; ``/score`` and ``/fraude`` with a client id, an account and a device; a
replay conflict, validation errors quoting personal values, unknown ids. Then every line
of the output is searched for each secret and personal value of the session, as written
and URL-encoded.

- ``test_a_gunicorn_sessions_output_holds_no_secret_or_personal_value``: a real gunicorn
  started as ``bin/run`` starts it (access log on stdout, ``gunicorn.conf.py``), at
  ``LOG_LEVEL=DEBUG``; its stdout and stderr are scanned.
- ``test_in_process_log_records_hold_no_secret_or_personal_value``: the same requests in
  this process, plus server errors carrying personal data (a PostgreSQL unique violation
  quoting the row, an exception message with an e-mail) and SQL debug logging switched
  on; what the configured stdout handler writes is scanned.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
import requests
from django.db import connection
from rest_framework.test import APIClient

from accounts.services import api_key_create
from monitoring.logging import RedactingFilter
from scoring.models import Client
from tests.accounts.idp import Provider
from tests.factories import UserFactory
from tests.faults.servers import fault_environment, gunicorn
from tests.integration.worker import test_database_url as database_url
from tests.services import require_postgresql

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Corr3ct-horse-battery-staple-91"
PERSON = {
    "client_id": "CLT-QX7731",
    "first_name": "Gwenaelle",
    "last_name": "Quillivic-Marzin",
    "email": "gwenaelle.quillivic@mail.example",
    "phone": "+33 6 71 82 93 04",
    "address": "17 rue des Glycines, 29200 Brest",
    "birth_date": "1984-07-19",
}
DEVICE = "dev-a9f3c2e1-kq"
ACCOUNT = "FR5517569000703984562172095"  # an IBAN with valid check digits
UNKNOWN_ID = "CLT-ZZ9904"
SCORE = {"age": 39, "revenu": 41000, "historique_impaye": 0, "client_id": PERSON["client_id"]}


def fraude(transaction_id: str, amount: int = 640) -> dict[str, Any]:
    return {
        "transaction_id": transaction_id,
        "montant": amount,
        "type": "virement",
        "client_id": PERSON["client_id"],
        "beneficiary": ACCOUNT,
        "device_id": DEVICE,
    }


def personal_values() -> list[str]:
    return [*PERSON.values(), DEVICE, ACCOUNT, UNKNOWN_ID]


def leaks(text: str, secrets: dict[str, str]) -> list[str]:
    """``name: line`` for every line holding a secret, as written or URL-encoded."""
    found = []
    for name, value in secrets.items():
        forms = {value, quote(value, safe=""), quote_plus(value), value.replace(" ", "")}
        for number, line in enumerate(text.splitlines(), 1):
            if any(form in line for form in forms):
                found.append(f"{name} on line {number}: {line[:300]}")
    return found


def session_secrets(api_key: str, password: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    # cpk_<prefix>_<secret>: the secret (token_urlsafe) may itself hold "_", so split from the left.
    _, _, secret = api_key.split("_", 2)
    assert len(secret) >= 40, "the whole secret, never a fragment that any text may hold by chance"
    out = {"API key": api_key, "API key secret": secret, "password": password}
    out.update({f"personal value {v!r}": v for v in personal_values()})
    out.update(extra or {})
    return out


def api_key_session(call: Callable[..., Any], key: str) -> None:
    """The API calls of the session, through ``call(method, path, key=..., json=..., headers=...)``."""
    created = call("post", "/api/v1/clients/", key=key, json=PERSON)
    assert created == 201, created
    assert call("patch", f"/api/v1/clients/{PERSON['client_id']}/", key=key, json={"address": PERSON["address"]}) == 200
    assert call("get", f"/api/v1/clients/?search={quote(PERSON['last_name'])}", key=key) == 200
    assert call("get", f"/api/v1/clients/{PERSON['client_id']}/", key=key) == 200
    assert call("post", "/score", key=key, json=SCORE) == 201
    transaction_id = f"TX{uuid.uuid4().hex[:12]}"
    assert call("post", "/fraude", key=key, json=fraude(transaction_id)) == 201
    assert call("post", "/fraude", key=key, json=fraude(transaction_id, amount=999)) == 409
    assert call("get", f"/api/v1/transactions/?client_id={PERSON['client_id']}", key=key) == 200
    invalid = {**PERSON, "client_id": "CLT-QX7732", "email": PERSON["email"] + "@", "phone": PERSON["phone"] * 9}
    assert call("post", "/api/v1/clients/", key=key, json={**invalid, "nickname": PERSON["first_name"]}) == 400
    assert (
        call("post", "/score", key=key, json={**SCORE, "client_id": f"{PERSON['client_id']} {PERSON['last_name']}"})
        == 400
    )
    assert call("get", f"/api/v1/clients/{UNKNOWN_ID}/", key=key) == 404
    wrong = key[: key.rindex("_") + 1] + "x" * 43
    assert call("get", "/api/v1/clients/", key=wrong) == 401
    assert call("get", f"/api/v1/clients/?api_key={key}", key=None) == 401


# --- A real server -------------------------------------------------------------------------


@pytest.mark.oidc
@pytest.mark.django_db(transaction=True)
def test_a_gunicorn_sessions_output_holds_no_secret_or_personal_value(
    tmp_path: Path, idp: Provider, credit_model: object, fraud_model: object
) -> None:
    require_postgresql()
    admin = UserFactory(username="breakglass-ops", is_staff=True, is_superuser=True)
    admin.set_password(PASSWORD)
    admin.save()
    key = api_key_create(name="log-scan", role="analyst").plain_key
    oidc = {k: str(v) for k, v in idp.settings().items() if k.startswith("OIDC_") and not k.endswith("ENABLED")}
    env = fault_environment(
        tmp_path,
        DATABASE_URL=database_url(),
        LOG_LEVEL="DEBUG",
        BREAK_GLASS_USERNAME="breakglass-ops",
        **oidc,
    )
    log = tmp_path / "server.log"
    tokens: dict[str, str] = {}
    cookies: dict[str, str] = {}
    with gunicorn(env, log, extra_args=("--access-logfile", "-")) as server:

        def call(method: str, path: str, key: str | None = None, **kwargs: Any) -> int:
            headers = kwargs.pop("headers", {})
            if key:
                headers["X-API-Key"] = key
            return requests.request(method, server.url + path, headers=headers, timeout=30, **kwargs).status_code

        api_key_session(call, key)

        token = idp.client_token("scoring-service")
        header, payload, signature = token.split(".")
        tokens = {"bearer token": token, "token payload": payload, "token signature": signature}
        bearer = {"Authorization": f"Bearer {token}"}
        assert call("post", "/score", json=SCORE, headers=bearer) == 201
        assert call("get", f"/api/v1/clients/{PERSON['client_id']}/", headers=dict(bearer)) == 200
        tampered = {"Authorization": f"Bearer {header}.{payload}.{signature[::-1]}"}
        assert call("get", "/api/v1/clients/", headers=tampered) == 401

        browser = requests.Session()
        browser.get(f"{server.url}/admin/login/", timeout=30)
        form = {"csrfmiddlewaretoken": browser.cookies["csrftoken"], "next": "/admin/"}
        login = f"{server.url}/admin/login/"
        wrong = browser.post(login, data={**form, "username": "breakglass-ops", "password": "not-" + PASSWORD})
        assert "Please enter the correct username and password" in wrong.text
        browser.post(login, data={**form, "username": "breakglass-ops", "password": PASSWORD}, timeout=30)
        assert "sessionid" in browser.cookies
        search = browser.get(f"{server.url}/admin/scoring/client/", params={"q": PERSON["last_name"]}, timeout=30)
        assert search.status_code == 200 and PERSON["client_id"] in search.text
        cookies = {"session cookie": browser.cookies["sessionid"], "CSRF cookie": browser.cookies["csrftoken"]}

    output = log.read_text()
    assert output.count('"POST /score') >= 2 and "/api/v1/clients/h:" in output, "the access log was written"
    assert '"authentication failed"' in output, "refusals were logged"
    found = leaks(output, session_secrets(key, PASSWORD, {**tokens, **cookies}))
    assert not found, "\n".join(found[:30])


# --- This process ----------------------------------------------------------------------------


@pytest.fixture
def stdout_log() -> Iterator[io.StringIO]:
    """What the configured stdout handler (JSON, redacting) writes, at DEBUG, with SQL logging on."""
    root = logging.getLogger()
    handler = next(
        h for h in root.handlers if any(isinstance(f, RedactingFilter) for f in h.filters)
    )  # the settings' "stdout" handler
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    old_stream, old_level = handler.setStream(buffer), root.level
    root.setLevel(logging.DEBUG)
    connection.force_debug_cursor = True  # as DEBUG=True would: SQL with its parameters
    try:
        yield buffer
    finally:
        connection.force_debug_cursor = False
        root.setLevel(old_level)
        handler.setStream(old_stream)


@pytest.mark.django_db(transaction=True)  # each request commits or fails alone, as in a server
def test_in_process_log_records_hold_no_secret_or_personal_value(
    stdout_log: io.StringIO, credit_model: object, fraud_model: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = api_key_create(name="log-scan", role="analyst").plain_key

    def call(method: str, path: str, key: str | None = None, **kwargs: Any) -> int:
        api = APIClient()
        api.raise_request_exception = False
        if key:
            api.credentials(HTTP_X_API_KEY=key)
        headers = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in kwargs.pop("headers", {}).items()}
        return getattr(api, method)(path, kwargs.get("json"), format="json", **headers).status_code

    api_key_session(call, key)

    # Server errors that carry personal data: a unique violation quoting the row, and an
    # exception message built from an e-mail (bugs, but their log lines must stay clean).
    from scoring.api import views

    def duplicate(**fields: Any) -> Client:
        return Client.objects.create(client_id=PERSON["client_id"], email=PERSON["email"])

    monkeypatch.setattr(views, "client_create", duplicate)
    assert call("post", "/api/v1/clients/", key=key, json={**PERSON, "client_id": "CLT-QX7799"}) == 500

    def broken(**fields: Any) -> Client:
        raise ValueError(f"cannot reach {PERSON['email']} at {PERSON['phone']} (account {ACCOUNT})")

    monkeypatch.setattr(views, "client_create", broken)
    assert call("post", "/api/v1/clients/", key=key, json={**PERSON, "client_id": "CLT-QX7798"}) == 500

    output = stdout_log.getvalue()
    assert "IntegrityError" in output and "ValueError: cannot reach" in output, "the errors were logged, with traces"
    assert '"authentication failed"' in output
    found = leaks(output, session_secrets(key, PASSWORD))
    assert not found, "\n".join(found[:30])


def test_every_log_handler_the_settings_configure_redacts() -> None:
    """No second way out: Django's default console and runserver handlers are replaced."""
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in list(logging.root.manager.loggerDict))]
    ours = [
        (logger.name, handler)
        for logger in loggers
        for handler in getattr(logger, "handlers", [])
        if not type(handler).__module__.startswith("_pytest") and not isinstance(handler, logging.NullHandler)
    ]
    assert ours, "the stdout handler is configured"
    unredacted = [name for name, h in ours if not any(isinstance(f, RedactingFilter) for f in h.filters)]
    assert not unredacted, f"handlers without RedactingFilter on: {unredacted}"


WORKER_LOGGING = """
import django, logging
django.setup()
from celery.utils.log import get_multiprocessing_logger, get_task_logger
from creditplatform.celery import app
app.log.setup(loglevel="INFO", redirect_stdouts=True)  # what `celery worker` does at start
get_task_logger("scoring.tasks").warning("task line for %s, %s", {email!r}, {phone!r})
get_multiprocessing_logger().error("pool line for %s", {email!r})
"""


def test_a_celery_workers_own_loggers_write_through_the_redacting_handler() -> None:
    """`celery worker` gives its task logger (``get_task_logger``, Celery's way to log in a task)
    and the pool's logger plain stderr handlers that do not propagate: their lines must leave
    through the redacting stdout handler too, as JSON."""
    script = WORKER_LOGGING.format(email=PERSON["email"], phone=PERSON["phone"])
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "creditplatform.settings", "LOG_FORMAT": "json"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    found = leaks(done.stdout + done.stderr, {"e-mail": PERSON["email"], "phone": PERSON["phone"]})
    assert not found, "\n".join(found)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    messages = {line["message"] for line in lines}
    assert "task line for [EMAIL REDACTED], [PHONE REDACTED]" in messages
    assert "pool line for [EMAIL REDACTED]" in messages
