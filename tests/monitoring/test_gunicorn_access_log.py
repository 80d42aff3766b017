"""gunicorn's access line through the platform's logger (``creditplatform.gunicorn_logging``).

The default format prints the client's address, the basic-auth user, the request line, the
status, the size, the referer and the user agent: the address and the user come out as keyed
pseudonyms, the rest as gunicorn prints it. A custom format may print any request header,
response header or environ value ({name}i, {name}o, {name}e): credentials come out redacted,
addresses as pseudonyms, other values as sent. (A real gunicorn session's output is scanned in ``test_log_scan``.)
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.test import override_settings
from gunicorn.config import Config

from creditplatform.gunicorn_logging import RedactingLogger
from monitoring.logging import REDACTED, pseudonym

API_KEY = "cpk_live_0123456789abcdef"
PSEUDONYM_OF = "pseudonym of "
BASIC = "Basic " + base64.b64encode(b"ada.lovelace:hunter2").decode()


@pytest.fixture(autouse=True)
def _gunicorn_loggers_restored() -> Iterator[None]:
    """gunicorn's ``Logger`` configures the process-wide ``gunicorn.*`` loggers: put them back."""
    loggers = [logging.getLogger(name) for name in ("gunicorn.error", "gunicorn.access")]
    saved = [(log, list(log.handlers), list(log.filters), log.level, log.propagate) for log in loggers]
    yield
    for log, handlers, filters, level, propagate in saved:
        for handler in log.handlers:
            if handler not in handlers:
                handler.close()
        log.handlers, log.filters, log.level, log.propagate = handlers, filters, level, propagate


def _request() -> tuple[Any, Any, dict[str, Any]]:
    headers = [
        ("HOST", "bank.test"),
        ("USER-AGENT", "core-banking/4.2"),
        ("CONTENT-TYPE", "application/json"),
        ("X-API-KEY", API_KEY),
        ("AUTHORIZATION", BASIC),
        ("X-REQUEST-ID", "req-7"),
        ("X-FORWARDED-FOR", "203.0.113.9, 10.20.30.40"),
    ]
    environ = {
        "REQUEST_METHOD": "POST",
        "RAW_URI": "/score?debug=1",
        "PATH_INFO": "/score",
        "QUERY_STRING": "debug=1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.20.30.40",
        "HTTP_HOST": "bank.test",
        "HTTP_USER_AGENT": "core-banking/4.2",
        "HTTP_REFERER": "https://back-office.bank.test/",
        "HTTP_X_API_KEY": API_KEY,
        "HTTP_AUTHORIZATION": BASIC,
        "HTTP_X_FORWARDED_FOR": "203.0.113.9, 10.20.30.40",
        "CONTENT_TYPE": "application/json",
        "wsgi.url_scheme": "https",
    }
    response = SimpleNamespace(
        status="201 Created",
        sent=612,
        headers=[("Content-Type", "application/json"), ("X-Request-ID", "req-7")],
    )
    return response, SimpleNamespace(headers=headers), environ


def _access_line(tmp_path: Path, access_format: str | None = None) -> str:
    cfg = Config()
    log_file = tmp_path / "access.log"
    cfg.set("accesslog", str(log_file))
    if access_format is not None:
        cfg.set("access_log_format", access_format)
    logger = RedactingLogger(cfg)
    response, request, environ = _request()
    logger.access(response, request, environ, dt.timedelta(microseconds=1_234))
    for handler in logger.access_log.handlers:
        handler.flush()
    return log_file.read_text().strip()


def test_the_default_line_keeps_the_request_and_pseudonymises_who_sent_it(tmp_path: Path) -> None:
    line = _access_line(tmp_path)

    assert line.startswith(f"{pseudonym('10.20.30.40')} - {pseudonym('ada.lovelace')} [")
    assert '"POST /score?debug=[REDACTED] HTTP/1.1" 201 612 "https://back-office.bank.test/" "core-banking/4.2"' in line
    for secret in ("10.20.30.40", "203.0.113.9", "ada.lovelace", "hunter2", API_KEY):
        assert secret not in line


@pytest.mark.parametrize(
    ("atom", "expected"),
    [
        ("{x-api-key}i", REDACTED),
        ("{authorization}i", REDACTED),
        ("{http_x_api_key}e", REDACTED),
        ("{http_authorization}e", REDACTED),
        ("{content-type}i", "application/json"),
        ("{x-request-id}o", "req-7"),
        ("{wsgi.url_scheme}e", "https"),
        ("{remote_addr}e", PSEUDONYM_OF + "10.20.30.40"),
        ("{x-forwarded-for}i", PSEUDONYM_OF + "203.0.113.9, 10.20.30.40"),
        ("{http_x_forwarded_for}e", PSEUDONYM_OF + "203.0.113.9, 10.20.30.40"),
    ],
)
def test_a_custom_format_prints_headers_and_environ_without_credentials(
    tmp_path: Path, atom: str, expected: str
) -> None:
    if expected.startswith(PSEUDONYM_OF):  # computed here, with the settings' key
        expected = pseudonym(expected.removeprefix(PSEUDONYM_OF))

    line = _access_line(tmp_path, f'%(s)s %(b)s "%({atom})s"')

    assert line == f'201 612 "{expected}"'


def test_pseudonyms_follow_the_secret_key(tmp_path: Path) -> None:
    before = pseudonym("10.20.30.40")
    with override_settings(SECRET_KEY="another-deployment-" + "x" * 40):
        other = pseudonym("10.20.30.40")
        assert _access_line(tmp_path).startswith(other + " ")
    assert other != before
    assert pseudonym("10.20.30.40") == before  # back to this deployment's key
