"""One JSON error shape for the whole API.

Every error body looks like::

    {"error": "validation_error", "detail": "Invalid input.",
     "fields": {"age": ["Ensure this value is greater than or equal to 17."]}}

``fields`` names each offending field (nested fields are joined with dots, list items
by index), so a client can show the message next to the right input.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.http import Http404
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

logger = logging.getLogger(__name__)

_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.ParseError: "malformed_request",
    exceptions.ValidationError: "validation_error",
}


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body is too large."
    default_code = "payload_too_large"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


DATABASE_UNAVAILABLE = (
    "The database is unavailable. Retry shortly: a retry with the same Idempotency-Key (/score) or "
    "transaction_id (/fraude) never decides twice."
)
SUPPORT_SERVICE_UNAVAILABLE = "A supporting service (cache or task queue) is unavailable. Retry shortly."


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The service is temporarily unavailable."
    default_code = "service_unavailable"


class DependencyUnavailable(ServiceUnavailable):
    """The database, Redis or the broker is down or hung: retry shortly (``Retry-After``)."""

    wait = 5


def dependency_unavailable(exc: BaseException) -> DependencyUnavailable | None:
    """The 503 for an outage of the database, Redis or the broker; None for any other error.

    The driver's message (host, port, sometimes SQL) never reaches the caller; the log line
    names the error class and keeps the request id, so the two can be matched.
    """
    if isinstance(exc, DatabaseOperationalError | DatabaseInterfaceError):
        detail = DATABASE_UNAVAILABLE
    elif isinstance(exc, RedisError | BrokerError):
        detail = SUPPORT_SERVICE_UNAVAILABLE
    else:
        return None
    logger.warning("dependency unavailable: answered 503", extra={"error": type(exc).__name__})
    return DependencyUnavailable(detail)


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Flatten DRF's nested error structure into ``{"a.b.0.c": [messages]}``."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = "non_field_errors" if key in ("non_field_errors", "__all__") and not prefix else key
            path = f"{prefix}.{name}" if prefix else str(name)
            for k, v in flatten_errors(value, path).items():
                out.setdefault(k, []).extend(v)
    elif isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            out.setdefault(prefix or "non_field_errors", []).extend(str(item) for item in detail)
        else:
            for index, item in enumerate(detail):
                path = f"{prefix}.{index}" if prefix else str(index)
                for k, v in flatten_errors(item, path).items():
                    out.setdefault(k, []).extend(v)
    elif detail is not None:
        out.setdefault(prefix or "non_field_errors", []).append(str(detail))
    return out


MAX_FIELD_NAME = 100  # an unknown key is echoed back, so its length is bounded too


def _capped(fields: dict[str, list[str]]) -> tuple[str, dict[str, list[str]]]:
    """The detail line and at most ``API_MAX_ERRORS`` fields, names and messages shortened."""
    limit = settings.API_MAX_ERRORS
    shown: dict[str, list[str]] = {}
    for name, messages in list(fields.items())[:limit]:
        short = name if len(name) <= MAX_FIELD_NAME else name[:MAX_FIELD_NAME] + "…"
        shown.setdefault(short, []).extend(message[:500] for message in messages[:5])
    if len(fields) > limit:
        return f"Invalid input: {len(fields)} fields have errors; the first {limit} are listed.", shown
    return "Invalid input.", shown


def error_body(code: str, detail: str, fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": code, "detail": detail}
    if fields:
        body["fields"] = fields
    return body


def json_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler: every error becomes the JSON shape above."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, TooManyFieldsSent):
        exc = PayloadTooLarge("Too many fields in the request.")
    elif isinstance(exc, TooManyFilesSent):
        exc = PayloadTooLarge("Too many files in the request.")
    elif isinstance(exc, DjangoValidationError):
        # Services validate with Django's ValidationError (they know nothing of DRF).
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    elif isinstance(exc, RecursionError):
        exc = exceptions.ParseError("Malformed JSON: nested too deeply.")
    elif (unavailable := dependency_unavailable(exc)) is not None:
        exc = unavailable

    if not isinstance(exc, exceptions.APIException):
        return None  # a real bug: Django's handler logs it and JsonErrorsMiddleware answers

    headers: dict[str, str] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))  # type: ignore[attr-defined]

    code = next((c for cls, c in _CODES.items() if isinstance(exc, cls)), None)
    if code is None:
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "error"

    if isinstance(exc, exceptions.ValidationError):
        body = error_body(code, *_capped(flatten_errors(exc.detail)))
    else:
        body = error_body(code, str(exc.detail))

    set_rollback()
    return Response(body, status=exc.status_code, headers=headers)
