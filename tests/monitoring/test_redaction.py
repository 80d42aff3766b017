"""Each redaction rule of the logs, and what it must leave alone (logs stay useful)."""

from __future__ import annotations

import logging
import sys

import pytest

from monitoring.logging import RedactingFilter, pseudonym, redact_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.def-ghi", "Authorization: Bearer [REDACTED]"),
        ("token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", "token [JWT REDACTED]"),
        ("key cpk_0a1b2c_Zm9vYmFy-baz", "key cpk_[REDACTED]"),
        ("postgres://app:hunter2@db:5432/credit", "postgres://app:[REDACTED]@db:5432/credit"),
        ("Cookie: sessionid=abc123; csrftoken=xyz", "Cookie: sessionid=[REDACTED]; csrftoken=[REDACTED]"),
        ("write to ada.lovelace@example.test", "write to [EMAIL REDACTED]"),
        ("GET /api/v1/clients/?search=Lovelace&page=2", "GET /api/v1/clients/?search=[REDACTED]&page=[REDACTED]"),
        (
            'violates unique constraint "c"\nDETAIL:  Key (email)=(ada@example.test) already exists.',
            'violates unique constraint "c"\nDETAIL: [REDACTED]',
        ),
        ("Key (client_id)=(C1001) already exists.", "Key (client_id)=(…) already exists."),
        ("Failing row contains (7, Ada, Lovelace).", "Failing row contains (…)."),
        ('invalid input syntax for type uuid: "C1001"', 'invalid input syntax for type uuid: "[REDACTED]"'),
        ("call +33 6 71 82 93 04 or 06 71 82 93 04", "call [PHONE REDACTED] or [PHONE REDACTED]"),
        ("pay FR76 3000 6000 0112 3456 7890 189 now", "pay [IBAN REDACTED] now"),
    ],
)
def test_secrets_and_personal_values_are_removed_from_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_ids_in_api_paths_become_pseudonyms() -> None:
    assert redact_text("GET /api/v1/clients/C1001/") == f"GET /api/v1/clients/{pseudonym('C1001')}/"
    assert redact_text("/api/v1/transactions/TX9/") == f"/api/v1/transactions/{pseudonym('TX9')}/"


def test_ids_in_api_paths_of_another_case_become_pseudonyms_too() -> None:
    """A caller's mistyped case is a 404, but gunicorn's access line still prints the path it sent."""
    assert redact_text("GET /api/v1/Clients/C1001/ 404") == f"GET /api/v1/Clients/{pseudonym('C1001')}/ 404"
    assert redact_text("GET /API/V1/TRANSACTIONS/TX9") == f"GET /API/V1/TRANSACTIONS/{pseudonym('TX9')}"


@pytest.mark.parametrize(
    "text",
    [
        "took 0.00123456789 s at 2026-12-01T10:00:00+00:00",  # numbers and timestamps
        "transaction TX12345678ABCD refused by rule R7 v2",  # codes shaped like an IBAN, wrong check digits
        "GET /api/v1/predictions/ 200",
        "model credit credit-20261201 loaded (sha256 9f86d081884c7d65)",
    ],
)
def test_operational_facts_are_left_alone(text: str) -> None:
    assert redact_text(text) == text


def test_an_exceptions_message_is_redacted_and_its_frames_kept() -> None:
    try:
        raise ValueError("cannot reach ada@example.test")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, exc_info=sys.exc_info())
    RedactingFilter().filter(record)
    assert record.exc_info is None
    assert "ada@example.test" not in record.exc_text  # type: ignore[operator]
    assert "test_an_exceptions_message_is_redacted_and_its_frames_kept" in record.exc_text  # type: ignore[operator]


def test_objects_in_extras_are_printed_redacted() -> None:
    class Request:
        def __str__(self) -> str:
            return "<WSGIRequest: GET '/api/v1/clients/C1001/?search=Lovelace'>"

    record = logging.makeLogRecord({"msg": "x", "request": Request(), "count": 3, "device_id": "dev-42"})
    RedactingFilter().filter(record)
    assert "C1001" not in record.request and "Lovelace" not in record.request  # type: ignore[attr-defined]
    assert record.count == 3 and record.device_id == "[REDACTED]"  # type: ignore[attr-defined]


@pytest.mark.parametrize("key", ["client_id", "transaction_id", "application_id"])
def test_caller_references_in_extras_become_keyed_pseudonyms(key: str) -> None:
    """Erasure replaces these in the database; the logs keep only a fingerprint to correlate lines."""
    record = logging.makeLogRecord({"msg": "fraud alert opened", key: "TX-ZQX-77", "decision": "block"})
    RedactingFilter().filter(record)
    assert getattr(record, key) == pseudonym("TX-ZQX-77") and record.decision == "block"  # type: ignore[attr-defined]
