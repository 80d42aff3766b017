"""Project-wide middleware: JSON errors outside DRF, and no caching of private pages."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse

from creditplatform.api.exceptions import dependency_unavailable, error_body

logger = logging.getLogger(__name__)

API_PREFIXES = ("/api/", "/score", "/fraude")


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES)


class JsonErrorsMiddleware:
    """Answer API paths in JSON even when the error happens outside a DRF view.

    Covers oversized bodies read by Django itself (413 instead of a plain-text 400) and,
    outages of the database, Redis or the broker (a JSON 503 with ``Retry-After``) and, as a
    last resort, unexpected exceptions: a 500 JSON body without a stack trace.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api_path(request.path):
            return None
        if isinstance(exception, RequestDataTooBig):
            return JsonResponse(error_body("payload_too_large", "Request body is too large."), status=413)
        if (unavailable := dependency_unavailable(exception)) is not None:
            response = JsonResponse(error_body("service_unavailable", str(unavailable.detail)), status=503)
            response["Retry-After"] = str(unavailable.wait)
            return response
        logger.exception("unhandled error on %s", request.path)
        return JsonResponse(error_body("server_error", "Internal error. It has been logged."), status=500)


class NoStoreMiddleware:
    """``Cache-Control: no-store`` on API and admin responses: they carry personal data."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if is_api_path(request.path) or request.path.startswith("/admin/"):
            response.setdefault("Cache-Control", "no-store")
        return response
