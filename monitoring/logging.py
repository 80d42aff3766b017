"""Logging filters: request ids on every record, and no personal data or secrets in clear."""

from __future__ import annotations

import hashlib
import logging
import re

from monitoring.context import request_id_var

# Keys whose values are secrets or personal data, wherever they appear in a record.
SENSITIVE_KEYS = frozenset(
    {
        "authorization",
        "x-api-key",
        "http_authorization",
        "http_x_api_key",
        "cookie",
        "http_cookie",
        "password",
        "token",
        "access_token",
        "id_token",
        "refresh_token",
        "secret",
        "api_key",
        "first_name",
        "last_name",
        "email",
        "phone",
        "birth_date",
        "address",
        "beneficiary",
        "iban",
        "device_id",
    }
)
_PATTERNS = [
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+"), r"\1 [REDACTED]"),
    (re.compile(r"\bcpk_[A-Za-z0-9]+_[A-Za-z0-9_-]+"), "cpk_[REDACTED]"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "[JWT REDACTED]"),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "[EMAIL REDACTED]"),
]


def pseudonym(value: str) -> str:
    """A short stable fingerprint, to correlate log lines without the value itself."""
    return "h:" + hashlib.sha256(value.encode()).hexdigest()[:12]


def redact_text(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(key: str, value: object) -> object:
    if key.lower() in SENSITIVE_KEYS and value not in (None, ""):
        return "[REDACTED]"
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, str):
        return redact_text(value)
    return value


class RedactingFilter(logging.Filter):
    """Scrub tokens, API keys, e-mails and identity fields from messages and extras."""

    _standard = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime", "request_id"}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            try:
                record.msg = record.getMessage()
            except (TypeError, ValueError):
                record.msg = str(record.msg)
            record.args = None
        record.msg = redact_text(str(record.msg))
        for key, value in list(vars(record).items()):
            if key not in self._standard:
                setattr(record, key, _redact_value(key, value))
        return True


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True
