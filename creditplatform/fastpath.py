"""The decision fast path: ``POST /score`` and ``POST /fraude`` with the same answer, for less.

A decision request through Django's handler, its 19 middlewares and DRF's request cycle
costs about 1.5 M CPU instructions before the decision starts (``make bench``, the "DRF
floor"), as much as the decision itself. Most of it is machinery that does nothing for the
one request a bank's systems send all day: a POST with a JSON body and an API key. This
module answers that request with the same code the full stack runs where it matters, and
hands every other request to Django untouched.

**Which requests** (``DecisionFastPath.eligible``, read from the WSGI environ): ``POST`` to
one of the decision paths (``/score``, ``/api/v1/score``, ``/fraude``, ``/api/v1/fraude``:
whatever the URLconf routes there to a DRF view with a ``decide`` method), a JSON
``Content-Type``, a body of 1 byte to ``DATA_UPLOAD_MAX_MEMORY_SIZE``, no query string,
``Accept`` absent, ``*/*`` or ``application/json``, an ``X-API-Key`` header, and no
``Authorization``, ``Cookie`` or ``Content-Encoding`` header; and ``MIDDLEWARE`` exactly the list this module was
written against (``COVERED_MIDDLEWARE``): a settings change that adds or removes a
middleware turns the fast path off, with a warning, rather than skip the new one.

**Checked first, nothing reported**: the HTTPS redirect and the host
(``SecurityMiddleware``, ``CommonMiddleware``), the API key (``ApiKeyAuthentication.usable``),
the view's permissions (``allows``), the body (``SafeJSONParser``), then the throttle. A
request that fails any of them goes to Django from the start, which refuses it exactly as
before, reported and counted once (the fast path has reported nothing, and a throttle that
refused once refuses again: the window is spent).

**Answered by the same code**: the view's ``decide`` (what the DRF view's ``post`` calls),
its first renderer, DRF's default headers (``Allow``, ``Vary``); an exception from
``decide`` goes through DRF's own exception handling on a DRF request built then (same
body, status and headers, ``Retry-After`` included). Then the middlewares whose work shows
on such a request run their own code on it, in the stack's order: django-prometheus (both),
the call log, ``Cache-Control: no-store``, ``X-Frame-Options``, the count of refusals,
``Content-Length``, the JSON error bodies, the Content-Security-Policy, the security
headers, the request id. The others do nothing for a POST with an API key and no cookie:
sessions and CSRF (no cookie; the views are CSRF-exempt), authentication (DRF's does it),
the OIDC session refresh (GET only), messages (never used), WhiteNoise (static files) and
django-axes (password logins). ``request_started`` and ``request_finished`` are sent as
Django's handler sends them (the database connections' housekeeping).

``tests/test_fastpath.py`` sends the same requests through both and compares status, body,
headers, stored rows, the call log and the Prometheus series; ``FAST_DECISION_PATH=0`` turns
the fast path off.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.core import signals
from django.core.exceptions import DisallowedHost, PermissionDenied
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest, get_script_name
from django.http import HttpRequest, HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import Resolver404, ResolverMatch, resolve, set_script_prefix, set_urlconf
from django.utils.cache import patch_vary_headers
from django.utils.log import log_response
from rest_framework.exceptions import ParseError
from rest_framework.renderers import BaseRenderer
from rest_framework.views import APIView

from accounts.authentication import ApiKeyAuthentication
from accounts.middleware import AccessCountingMiddleware
from creditplatform.api.parsers import SafeJSONParser
from creditplatform.hot_settings import hot_settings
from creditplatform.middleware import ContentSecurityPolicyMiddleware, JsonErrorsMiddleware, NoStoreMiddleware
from monitoring.context import request_id_var
from monitoring.middleware import (
    ApiCallLogMiddleware,
    PrometheusAfterMiddleware,
    PrometheusBeforeMiddleware,
    request_id_of,
)

logger = logging.getLogger(__name__)

DECISION_PATHS = ("/score", "/api/v1/score", "/fraude", "/api/v1/fraude")

# The stack this module stands in for, in its order, and what each middleware does on the
# fast path's request; any other MIDDLEWARE turns the fast path off.
COVERED_MIDDLEWARE: dict[str, str] = {
    "monitoring.middleware.RequestIdMiddleware": "runs: the request id, in the logs and the answer",
    "monitoring.middleware.PrometheusBeforeMiddleware": "runs: totals and latency",
    "django.middleware.security.SecurityMiddleware": "runs: HTTPS redirect (to Django), security headers",
    "creditplatform.middleware.ContentSecurityPolicyMiddleware": "runs: the policy of a non-HTML answer",
    "whitenoise.middleware.WhiteNoiseMiddleware": "nothing: static files only",
    "creditplatform.middleware.JsonErrorsMiddleware": "runs: JSON bodies for errors and exceptions",
    "creditplatform.middleware.RequestBodyLimitMiddleware": "nothing: bodies at most DATA_UPLOAD_MAX_MEMORY_SIZE",
    "django.contrib.sessions.middleware.SessionMiddleware": "nothing: no cookie, the session is never read",
    "django.middleware.common.CommonMiddleware": "runs: host and user agent (to Django), Content-Length",
    "django.middleware.csrf.CsrfViewMiddleware": "nothing: the decision views are CSRF-exempt, no cookie",
    "django.contrib.auth.middleware.AuthenticationMiddleware": "nothing: the API key is the caller",
    "accounts.middleware.OidcSessionRefresh": "nothing: GET with a session only",
    "accounts.middleware.AccessCountingMiddleware": "runs: counts a 401 or 403",
    "creditplatform.middleware.LazyMessageMiddleware": "nothing: messages are never used",
    "django.middleware.clickjacking.XFrameOptionsMiddleware": "runs: X-Frame-Options",
    "creditplatform.middleware.NoStoreMiddleware": "runs: Cache-Control: no-store",
    "monitoring.middleware.ApiCallLogMiddleware": "runs: the call-log row and its latency",
    "monitoring.middleware.PrometheusAfterMiddleware": "runs: per-view series",
    "axes.middleware.AxesMiddleware": "nothing: password logins only",
}

_JSON_TYPES = frozenset({"application/json", "application/json;charset=utf-8"})
_USUAL_ACCEPT = frozenset({"*/*", "application/json"})


@dataclass(frozen=True)
class Route:
    """A decision path: its URL match, its DRF view, the renderer DRF would pick for the usual
    ``Accept``, and the headers DRF's ``finalize_response`` adds (``Vary`` is patched, the rest set)."""

    match: ResolverMatch
    view: type[APIView]
    renderer: BaseRenderer
    vary: str | None
    headers: tuple[tuple[str, str], ...]


def _unused(request: HttpRequest) -> HttpResponse:  # the middlewares below are called piecewise
    raise AssertionError("not called")


class DecisionFastPath:
    """The fast path's checks and answer; ``application`` wraps it around Django's handler."""

    def __init__(self) -> None:
        self.prometheus_before = PrometheusBeforeMiddleware(_unused)
        self.security = SecurityMiddleware(_unused)
        self.csp = ContentSecurityPolicyMiddleware(_unused)
        self.json_errors = JsonErrorsMiddleware(_unused)
        self.common = CommonMiddleware(_unused)
        self.access_counting = AccessCountingMiddleware(_unused)
        self.xframe = XFrameOptionsMiddleware(_unused)
        self.no_store = NoStoreMiddleware(_unused)
        self.call_log = ApiCallLogMiddleware(_unused)
        self.prometheus_after = PrometheusAfterMiddleware(_unused)
        self.parser = SafeJSONParser()
        self._routes: dict[str, dict[str, Route]] = {}
        self._middleware_checked: object = None
        self._warned = False

    # -- which requests ---------------------------------------------------------------

    def eligible(self, environ: dict[str, Any]) -> Route | None:
        """The route of the usual decision request (module docstring), read from the environ alone; else None."""
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") not in DECISION_PATHS:
            return None
        if (
            environ.get("QUERY_STRING")
            or "HTTP_X_API_KEY" not in environ
            or "HTTP_AUTHORIZATION" in environ
            or "HTTP_COOKIE" in environ
            or "HTTP_CONTENT_ENCODING" in environ
            or environ.get("HTTP_ACCEPT", "*/*") not in _USUAL_ACCEPT
            or environ.get("CONTENT_TYPE", "").replace(" ", "").lower() not in _JSON_TYPES
        ):
            return None
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None
        limit = hot_settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if length < 1 or (limit is not None and length > limit) or not self._enabled():
            return None
        return self.route(environ["PATH_INFO"])

    def _enabled(self) -> bool:
        if not hot_settings.FAST_DECISION_PATH:
            return False
        middleware = hot_settings.MIDDLEWARE
        if middleware is self._middleware_checked:
            return True
        if tuple(middleware) != tuple(COVERED_MIDDLEWARE):
            if not self._warned:
                logger.warning("decision fast path off: MIDDLEWARE differs from the stack it reproduces")
                self._warned = True
            return False
        self._middleware_checked = middleware
        return True

    def route(self, path: str) -> Route | None:
        urlconf = hot_settings.ROOT_URLCONF
        routes = self._routes.get(urlconf)
        if routes is None:
            routes = self._routes[urlconf] = {}
            for decision_path in DECISION_PATHS:
                found = _route(decision_path, urlconf)
                if found is not None:
                    routes[decision_path] = found
        return routes.get(path)

    # -- the answer ---------------------------------------------------------------------

    def answer(self, request: WSGIRequest, route: Route) -> HttpResponse | None:
        """The answer to an eligible request (``route``: what ``eligible`` found), or None: Django
        answers it (nothing was reported)."""
        started = time.perf_counter()
        try:
            checked = self._checks(route, request)
        except Exception:  # the database down for the key's look-up...: Django meets it again and answers
            return None
        if checked is None:
            return None
        principal, api_key, data = checked
        # Answered here from now on: what RequestIdMiddleware, the URL resolver and the
        # middlewares' request halves do, then the decision, then the response halves.
        rid = request_id_of(request.META)
        request.request_id = rid  # type: ignore[attr-defined]
        request._started_at = started  # type: ignore[attr-defined]
        request.resolver_match = route.match
        token = request_id_var.set(rid)
        try:
            set_urlconf(hot_settings.ROOT_URLCONF)
            self.prometheus_before.process_request(request)
            self.prometheus_after.process_request(request)
            self.prometheus_after.process_view(request, route.match.func, (), {})
            response = self._decide(route, request, data, principal, api_key)
            response = self._respond(request, response)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = rid
        response._resource_closers.append(request.close)  # type: ignore[attr-defined]
        if response.status_code >= 400:
            log_response("%s: %s", response.reason_phrase, request.path, response=response, request=request)
        return response

    def _checks(self, route: Route, request: WSGIRequest) -> tuple[Any, Any, Any] | None:
        """(caller, API key, parsed body) when every check passes; None at the first that fails.

        The same checks as the full stack's, in its order, none reporting a refusal.
        """
        if self.security.process_request(request) is not None:
            return None
        try:
            if self.common.process_request(request) is not None:
                return None
        except (DisallowedHost, PermissionDenied):  # Django answers 400/403 and logs it
            return None
        view = route.view
        api_key = ApiKeyAuthentication.usable(request.META["HTTP_X_API_KEY"])
        if api_key is None:
            return None
        principal = ApiKeyAuthentication.principal_of(api_key)
        if not all(permission.allows(principal) for permission in view.permission_classes):  # type: ignore[union-attr]
            return None
        try:
            data = self.parser.parse(io.BytesIO(request.body))
        except ParseError:
            return None
        request.user = principal  # type: ignore[assignment]  # as DRF sets it: the caller
        if not all(throttle().allow_request(request, view) for throttle in view.throttle_classes):  # type: ignore[arg-type]
            return None
        return principal, api_key, data

    def _decide(self, route: Route, request: HttpRequest, data: Any, principal: Any, api_key: Any) -> HttpResponse:
        view = route.view
        try:
            answer = view.decide(data, principal, request.META)  # type: ignore[attr-defined]
        except Exception as exc:
            return self._error(route, request, principal, api_key, exc)
        renderer = route.renderer
        response = HttpResponse(renderer.render(answer.body, renderer.media_type, {}), status=answer.status)
        response["Content-Type"] = renderer.media_type
        for name, value in answer.headers.items():
            response[name] = value
        if route.vary is not None:  # as DRF's finalize_response adds its default headers
            patch_vary_headers(response, [route.vary])
        for name, value in route.headers:
            response[name] = value
        response.template_name = None  # type: ignore[attr-defined]  # as DRF's Response (a template response)
        return self.prometheus_after.process_template_response(request, response)

    def _error(self, route: Route, request: HttpRequest, principal: Any, api_key: Any, exc: Exception) -> HttpResponse:
        """What DRF answers when its view raises ``exc``: its handler, on a DRF request made now."""
        view = route.view()
        view.args, view.kwargs = (), {}
        drf_request = view.initialize_request(request)
        drf_request.user, drf_request.auth = principal, api_key
        drf_request._authenticator = ApiKeyAuthentication()  # type: ignore[attr-defined]
        view.request = drf_request
        view.format_kwarg = None
        view.headers = view.default_response_headers
        try:
            response = view.handle_exception(exc)
            response = view.finalize_response(drf_request, response)
            response = self.prometheus_after.process_template_response(request, response)  # as Django's handler
            response.render()
        except Exception as uncaught:  # as Django's handler (rendering included): the middlewares' process_exception
            self.prometheus_after.process_exception(request, uncaught)
            answered = self.json_errors.process_exception(request, uncaught)
            if answered is None:  # not an API path: cannot happen here, but never a traceback
                raise
            return answered
        return response

    def _respond(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        """The middlewares' response halves that act on a decision answer, innermost first."""
        self.prometheus_after.process_response(request, response)
        self.call_log.process_response(request, response)
        self.no_store.process_response(request, response)
        self.xframe.process_response(request, response)
        self.access_counting.process_response(request, response)
        response = self.common.process_response(request, response)  # type: ignore[assignment]
        response = self.json_errors.process_response(request, response)
        response = self.csp.process_response(request, response)  # type: ignore[assignment]
        response = self.security.process_response(request, response)
        return self.prometheus_before.process_response(request, response)


def _route(path: str, urlconf: str) -> Route | None:
    """The decision view the URLconf serves at ``path``, if the fast path can stand in for it."""
    try:
        match = resolve(path, urlconf)
    except Resolver404:
        return None
    view = getattr(match.func, "view_class", None)
    if (
        view is None
        or not issubclass(view, APIView)
        or not callable(getattr(view, "decide", None))
        or not getattr(match.func, "csrf_exempt", False)
        or not all(callable(getattr(p, "allows", None)) for p in view.permission_classes)
        or not view.renderer_classes
        or view.renderer_classes[0].media_type != "application/json"
    ):
        return None
    headers = view().default_response_headers
    vary = headers.pop("Vary", None)
    return Route(match=match, view=view, renderer=view.renderer_classes[0](), vary=vary, headers=tuple(headers.items()))


def read_body(environ: dict[str, Any]) -> bytes:
    """The request body (at most ``CONTENT_LENGTH`` bytes), read once; the environ gets a fresh copy."""
    body: bytes = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
    environ["wsgi.input"] = io.BytesIO(body)
    return body


class FastPathApplication:
    """The WSGI application: the fast path for the usual decision request, Django for the rest."""

    def __init__(self, django: WSGIHandler) -> None:
        self.django = django
        self.fast = DecisionFastPath()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        route = self.fast.eligible(environ)
        if route is None:
            return self.django(environ, start_response)
        body = read_body(environ)
        set_script_prefix(get_script_name(environ))
        signals.request_started.send(sender=WSGIHandler, environ=environ)
        response = self.fast.answer(WSGIRequest(environ), route)
        if response is None:
            environ["wsgi.input"] = io.BytesIO(body)
            return self.django(environ, start_response)
        response._handler_class = WSGIHandler  # type: ignore[attr-defined]  # request_finished is sent when the server closes it
        status = f"{response.status_code} {response.reason_phrase}"
        start_response(
            status, [*response.items(), *(("Set-Cookie", c.output(header="")) for c in response.cookies.values())]
        )
        return response
