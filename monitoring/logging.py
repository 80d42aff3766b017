"""Logging filters: request ids on every record, and no secrets or personal data in clear.

``RedactingFilter`` runs on the stdout handler, so it sees every record of every logger
(ours, Django's, the libraries'), and changes the record itself before any formatter runs:

- **structured extras** are walked: values under a sensitive key (credentials, identity
  fields, device and account identifiers) become ``[REDACTED]``; a ``client_id`` (and a
  caller's ``transaction_id`` or ``application_id``, erased with the person too) becomes
  a keyed pseudonym (``h:…``), so lines about one client can still be matched;
- **text** (the message, string extras, objects such as a request, exception messages
  and tracebacks) goes through ``redact_text``: bearer tokens, JWTs, API keys, passwords
  in URLs, session cookies, e-mail addresses, phone numbers and IBANs are removed; so are
  the values of every query-string parameter, the external ids in API paths
  (``/clients/<id>``, ``/transactions/<id>``) and the row values PostgreSQL quotes in its
  error messages (``DETAIL: Key (email)=(…)``, ``Failing row contains (…)``).

Free text that names a person without any of these shapes (a name inside an exception
message) cannot be recognised: code must not build log or exception messages from
personal fields, and ``tests/monitoring/test_log_scan.py`` checks a whole session's logs.
gunicorn's own access and error lines go through the same ``redact_text``
(``creditplatform.gunicorn_logging``).
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import hashlib
import hmac
import logging
import re
import secrets
import uuid
from typing import Any

from monitoring.context import request_id_var

REDACTED = "[REDACTED]"

# Keys whose values are secrets or personal data, wherever they appear in a record.
SENSITIVE_KEYS = frozenset(
    {
        # credentials
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "http_authorization",
        "http_x_api_key",
        "cookie",
        "http_cookie",
        "set-cookie",
        "sessionid",
        "csrftoken",
        "csrfmiddlewaretoken",
        "password",
        "token",
        "access_token",
        "id_token",
        "refresh_token",
        "secret",
        "client_secret",
        "api_key",
        # identity and contact
        "username",
        "first_name",
        "last_name",
        "full_name",
        "email",
        "phone",
        "birth_date",
        "address",
        # accounts and devices
        "beneficiary",
        "iban",
        "account",
        "device_id",
    }
)
# Keys whose values identify a person indirectly: replaced by a keyed pseudonym (correlatable).
PSEUDONYMISED_KEYS = frozenset({"client_id", "external_id", "transaction_id", "application_id"})

_QUERY_VALUE = re.compile(r"([?&][^=&\s?#'\"<>]+)=([^&\s#'\"<>]*)")
_API_ID = re.compile(r"(?i)(/(?:clients|transactions)/)([^/?#\s'\"<>]+)")  # any case: a mistyped path is logged too
_PHONE_LIKE = re.compile(r"\d(?:[ .-]?\d){7}")  # eight digits, maybe spaced: a phone number may follow
# (needle, pattern, replacement): a pattern runs only on text whose lower-cased form holds its
# needle (or, for a compiled needle, where it matches), so an ordinary message costs a few
# substring tests instead of a dozen regular-expression scans.
_PATTERNS: list[tuple[str | re.Pattern[str], re.Pattern[str], str]] = [
    ("bearer", re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+"), r"\1 [REDACTED]"),
    ("cpk_", re.compile(r"\bcpk_[A-Za-z0-9]+_[A-Za-z0-9_-]+"), "cpk_[REDACTED]"),
    ("eyj", re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "[JWT REDACTED]"),
    ("://", re.compile(r"(://[^:/@\s]+:)[^@\s/]+@"), r"\1[REDACTED]@"),  # scheme://user:password@host
    ("=", re.compile(r"(?i)\b(sessionid|csrftoken|messages)=[^;\s,'\"]+"), r"\1=[REDACTED]"),
    ("@", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "[EMAIL REDACTED]"),
    # PostgreSQL quotes row values in its errors (unique keys, foreign keys, checks, casts).
    ("detail:", re.compile(r"DETAIL:[^\n]*"), "DETAIL: [REDACTED]"),
    ("key (", re.compile(r"(Key \([^)]*\)=\().*?(\) (?:already exists|is not present|is still referenced))"), r"\1…\2"),
    ("failing row", re.compile(r"(Failing row contains \().*\)"), r"\1…)"),
    ("invalid input", re.compile(r"(?i)(invalid input (?:syntax|value)[^:\n]*:\s*)\"[^\"\n]*\""), r'\1"[REDACTED]"'),
    (_PHONE_LIKE, re.compile(r"(?<![\w.:/+-])(?:\+|00)\d{1,3}(?:[ .-]?\d){7,12}(?![\w:-])"), "[PHONE REDACTED]"),
    (_PHONE_LIKE, re.compile(r"(?<![\w.:/+-])0\d(?:[ .-]?\d\d){4}(?![\w:-])"), "[PHONE REDACTED]"),
]

_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_IBAN_LIKE = re.compile(r"[A-Z]{2}\d\d")

_process_key = secrets.token_bytes(32)


def _is_iban(candidate: str) -> bool:
    """ISO 13616 check digits (mod 97): only real account numbers, not any code of that shape."""
    if not 15 <= len(candidate) <= 34:
        return False
    rearranged = candidate[4:] + candidate[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def _redact_iban(match: re.Match[str]) -> str:
    return "[IBAN REDACTED]" if _is_iban(match.group(0).replace(" ", "")) else match.group(0)


def _pseudonym_key() -> bytes:
    """The project's SECRET_KEY (stable across processes); a per-process key before settings load."""
    from django.conf import settings

    if settings.configured and settings.SECRET_KEY:
        return _derived_key(settings.SECRET_KEY)
    return _process_key


@functools.lru_cache(maxsize=4)
def _derived_key(secret: str) -> bytes:
    return hashlib.sha256(b"log-pseudonym:" + secret.encode()).digest()


@functools.lru_cache(maxsize=4)
def _keyed_mac(key: bytes) -> hmac.HMAC:
    """An HMAC with ``key`` and nothing hashed yet: copied for each value, the key is prepared once."""
    return hmac.new(key, digestmod=hashlib.sha256)


def pseudonym(value: str) -> str:
    """A short stable fingerprint, to correlate log lines without the value itself.

    Keyed (HMAC with a key derived from ``SECRET_KEY``): short identifiers such as client
    ids or IPv4 addresses cannot be recovered by hashing every candidate.
    """
    mac = _keyed_mac(_pseudonym_key()).copy()
    mac.update(value.encode())
    return "h:" + mac.hexdigest()[:12]


def redact_text(text: str) -> str:
    lowered = text.lower()
    if "=" in text:
        text = _QUERY_VALUE.sub(lambda m: f"{m.group(1)}=[REDACTED]" if m.group(2) else m.group(0), text)
    if "/clients/" in lowered or "/transactions/" in lowered:
        text = _API_ID.sub(lambda m: m.group(1) + pseudonym(m.group(2)), text)
    for needle, pattern, replacement in _PATTERNS:
        if needle in lowered if isinstance(needle, str) else needle.search(text):
            text = pattern.sub(replacement, text)
    return _IBAN.sub(_redact_iban, text) if _IBAN_LIKE.search(text) else text


_PLAIN = (bool, int, float, dt.date, dt.time, dt.timedelta, decimal.Decimal, uuid.UUID)


def redact_value(key: str, value: Any) -> Any:
    """``value`` as found under ``key`` in a record, with secrets and personal data removed."""
    name = key.lower()
    if value is None or isinstance(value, _PLAIN):
        return value
    if name in SENSITIVE_KEYS:
        return REDACTED if value != "" else value
    if name in PSEUDONYMISED_KEYS and isinstance(value, str | int):
        return pseudonym(str(value)) if value != "" else value
    if isinstance(value, dict):
        return {k: redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(key, item) for item in value]
    # Text, and any other object (a request, a model instance): what the formatter would print.
    return redact_text(value if isinstance(value, str) else str(value))


class RedactingFilter(logging.Filter):
    """Scrub credentials and personal data from messages, extras, exceptions and stacks."""

    _standard = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime", "request_id"}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            try:
                record.msg = record.getMessage()
            except (TypeError, ValueError):
                record.msg = str(record.msg)
            record.args = None
        record.msg = redact_value("msg", record.msg) if isinstance(record.msg, dict) else redact_text(str(record.msg))
        if record.exc_info:
            # Exception messages carry data (driver errors quote rows); the frames are code.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in self._standard:
                setattr(record, key, redact_value(key, value))
        return True


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True
