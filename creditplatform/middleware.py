"""Project-wide middleware: JSON errors outside DRF, no caching of private pages, and the
Content-Security-Policy."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from http import HTTPStatus
from urllib.parse import urlsplit

from csp.constants import UNSAFE_EVAL
from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.messages.storage import default_storage
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.urls import is_valid_path, reverse
from django.utils.functional import SimpleLazyObject, empty
from django.utils.http import escape_leading_slashes

from creditplatform.api.exceptions import dependency_unavailable, error_body
from creditplatform.hot_settings import hot_settings

logger = logging.getLogger(__name__)

API_PREFIXES = ("/api/", "/score", "/fraude")


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES)


# Error codes of answers Django makes itself (no DRF view ran), in the API's error shape.
_STATUS_CODES = {
    400: "bad_request",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    500: "server_error",
}
_STATUS_DETAILS = {
    404: "No API endpoint at this path.",
    405: "This method is not allowed on this path.",
    500: "Internal error. It has been logged.",
}


class JsonErrorsMiddleware:
    """Answer API paths in JSON even when the error happens outside a DRF view.

    Covers paths no view matches (Django's HTML 404, also the debug page), methods a plain
    Django view refuses (405), oversized bodies read by Django itself (413 instead of a
    plain-text 400), outages of the database, Redis or the broker (a JSON 503 with
    ``Retry-After``) and, as a last resort, unexpected exceptions: a 500 JSON body without a
    stack trace. DRF's own answers are left alone (they are JSON already).

    A body sent with ``Transfer-Encoding: chunked`` and no ``Content-Length`` is refused with
    a 411 before any view: Django reads ``Content-Length`` bytes of a body, so it would read
    none and the view would name every required field as missing. A body with a
    ``Content-Encoding`` (gzip...) is refused with a 415 naming the header (RFC 7694).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_api_path(request.path):
            if _chunked_without_length(request.META):
                return JsonResponse(
                    error_body(
                        "length_required",
                        "Send the body with a Content-Length header: a chunked body (Transfer-Encoding) is not read.",
                    ),
                    status=411,
                )
            if (coding := _content_coding(request.META)) is not None:
                refused = JsonResponse(
                    error_body(
                        "unsupported_content_encoding",
                        "The API reads request bodies as sent: drop the Content-Encoding header and compress nothing.",
                        {"Content-Encoding": [f"Send the body uncompressed, not {coding}."]},
                    ),
                    status=415,
                )
                refused["Accept-Encoding"] = "identity"  # RFC 7694 §3: the codings a request may use
                return refused
            if (moved := _slash_redirect(request)) is not None:
                return moved
        return self.process_response(request, self.get_response(request))

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if (
            response.status_code >= 400
            and is_api_path(request.path)
            and not hasattr(response, "accepted_renderer")  # a DRF answer
            and not response.get("Content-Type", "").startswith("application/json")
            and not getattr(response, "streaming", False)
        ):
            return _json_error(response)
        return response

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


def _slash_redirect(request: HttpRequest) -> HttpResponse | None:
    """The redirect for an API path sent without the trailing slash it has (``/api/v1/clients``),
    or with one it has not (``/score/``), in JSON.

    ``CommonMiddleware`` (``APPEND_SLASH``) answered 301 with an empty HTML body: HTTP clients that
    follow it turn a POST into a GET (RFC 9110 allows it, curl, requests and browsers do it), so the
    write became a listing answered 200, nothing written and nothing said; with DEBUG on it was a
    500. The other way round, ``POST /score/`` was a 404, where the FastAPI service the seed
    clients called redirected it. A write gets a 308, which keeps the method and the body; a read
    keeps its 301. Both say in JSON where to go, for the clients that do not follow redirects.
    """
    if not settings.APPEND_SLASH:
        return None
    urlconf = getattr(request, "urlconf", None)
    path_info = request.path_info
    if is_valid_path(path_info, urlconf):
        return None
    if path_info.endswith("/"):
        if len(path_info) < 2 or not is_valid_path(path_info[:-1], urlconf):
            return None
        path, mark, query = request.get_full_path().partition("?")
        location = escape_leading_slashes(path[:-1] + mark + query)
    else:
        if not is_valid_path(f"{path_info}/", urlconf):
            return None
        location = escape_leading_slashes(request.get_full_path(force_append_slash=True))
    read = request.method in ("GET", "HEAD", "OPTIONS")
    target = location.split("?")[0]
    response = JsonResponse(
        error_body(
            "trailing_slash",
            f"This path {'ends with a slash' if target.endswith('/') else 'has no trailing slash'}: "
            f"send the {request.method} to {target}" + ("." if read else " (308 keeps the method and the body)."),
        ),
        status=301 if read else 308,
    )
    response["Location"] = location
    return response


def _content_coding(meta: dict[str, object]) -> str | None:
    """The content coding of a request body (``gzip``...), shortened; None for a body as sent.

    No coding is decoded: a gzip body was read as JSON (a 400 "not valid UTF-8"), and a plain
    body labelled ``br`` was read as if it were not labelled.
    """
    coding = str(meta.get("HTTP_CONTENT_ENCODING", "")).strip()
    if coding.lower() in ("", "identity"):
        return None
    return coding if len(coding) <= 40 else f"{coding[:40]}…"


def _chunked_without_length(meta: dict[str, object]) -> bool:
    """A body coming in chunks, its length unknown (gunicorn passes such a body on as it comes)."""
    chunked = "chunked" in str(meta.get("HTTP_TRANSFER_ENCODING", "")).lower()
    return chunked and not str(meta.get("CONTENT_LENGTH") or "").strip("0")


def _json_error(response: HttpResponse) -> HttpResponse:
    status = response.status_code
    code = _STATUS_CODES.get(status, "error")
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:  # a status code Python does not name
        phrase = "Error"
    detail = _STATUS_DETAILS.get(status) or f"{phrase}."
    converted = JsonResponse(error_body(code, detail), status=status)
    for header in ("Allow", "Retry-After", "WWW-Authenticate"):
        if header in response:
            converted[header] = response[header]
    return converted


# What a multipart body adds to the file it carries (boundaries, part headers, the form's other fields).
MULTIPART_OVERHEAD = 64 * 1024


def request_body_max_bytes() -> int:
    """The largest body any page or endpoint accepts: the largest file a form may carry, with its
    envelope, or the largest JSON body (``/score``'s fast path takes those, never more)."""
    return max(
        int(hot_settings.BATCH_UPLOAD_MAX_BYTES) + MULTIPART_OVERHEAD, int(hot_settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    )


class RequestBodyLimitMiddleware:
    """Refuse a body longer than any upload may be (413), on its ``Content-Length``, before it is read.

    Django streams a multipart body to a temporary file before a form can look at the file's
    size, so each upload form's own, smaller limit (a model file, an outcomes CSV, a batch file)
    came only after the whole body was on disk: one request could fill it. Django reads no
    more than ``Content-Length`` bytes of a body (a chunked one without it is refused by
    ``JsonErrorsMiddleware`` on the API and read as empty elsewhere), so the header bounds what
    a request costs. The decision fast path (``/score``, ``/fraude``) has its own, smaller limit.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        declared = str(request.META.get("CONTENT_LENGTH") or "")
        if declared.isascii() and declared.isdigit() and int(declared) > (limit := request_body_max_bytes()):
            message = f"The request body is larger than {limit:,} bytes, the most any upload may be."
            if is_api_path(request.path):
                return JsonResponse(error_body("payload_too_large", message), status=413)
            return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


class NoStoreMiddleware:
    """``Cache-Control: no-store`` on API and admin responses: they carry personal data."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.process_response(request, self.get_response(request))

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if is_api_path(request.path) or request.path.startswith("/admin/"):
            response.setdefault("Cache-Control", "no-store")
        return response


# What a JSON (or any non-HTML) answer may load: nothing (OWASP's advice for APIs).
NON_HTML_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


@functools.cache
def admin_prefix() -> str:
    return reverse("admin:index")


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware (policy: ``CONTENT_SECURITY_POLICY``), plus the OIDC provider.

    The admin's logout is a form whose answer redirects to the provider's end-session page,
    and browsers check ``form-action`` on that redirect too: the provider's origin is added
    while OIDC login is on (read per request, as the OIDC settings are).

    Answers that are not HTML (the API's JSON, the schema) get a fixed policy that allows
    nothing, without django-csp building one per request: on ``/score`` that costs more
    than a hundred microseconds on a busy 2-core machine.
    """

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if not response.get("Content-Type", "").startswith("text/html"):
            response.headers.setdefault("Content-Security-Policy", NON_HTML_POLICY)
            return response
        return super().process_response(request, response)

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if request.path.startswith(admin_prefix()):
            # The admin's theme (django-unfold) drives its pages with Alpine.js, which
            # evaluates the expressions written in the templates' attributes: the admin
            # alone may eval. Scripts still come only from this site (no inline <script>),
            # and Django escapes every value a template prints, so no one can write those
            # attributes but the templates.
            update = dict(parts.update or {})
            update["script-src"] = [*update.get("script-src", []), UNSAFE_EVAL]
            parts.update = update
        if settings.OIDC_ENABLED and not report_only:
            endpoints = (settings.OIDC_OP_AUTHORIZATION_ENDPOINT, settings.OIDC_OP_LOGOUT_ENDPOINT)
            origins = sorted(
                {
                    f"{url.scheme}://{url.netloc}"
                    for url in map(urlsplit, endpoints)
                    if url.scheme in ("http", "https") and url.netloc
                }
            )
            if origins:
                update = dict(parts.update or {})
                update["form-action"] = [*update.get("form-action", []), *origins]
                parts.update = update
        return parts


class LazyMessageMiddleware(MessageMiddleware):
    """Django's ``MessageMiddleware``, with the message storage built on first use.

    Django builds the storage (a cookie signer and a session storage) for every request;
    API requests never use it, and admin pages only when they show or add a message. Here
    ``request._messages`` is a lazy object: ``messages.success`` and the template context
    use it as before, and a response whose request never touched it is left alone.
    """

    def process_request(self, request: HttpRequest) -> None:
        request._messages = SimpleLazyObject(lambda: default_storage(request))  # type: ignore[attr-defined]

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        messages = getattr(request, "_messages", None)
        if isinstance(messages, SimpleLazyObject) and messages._wrapped is empty:
            return response  # never used: nothing to store, nothing to clear
        return super().process_response(request, response)
