"""Session refresh for OIDC logins, and counting of every refused request."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import BACKEND_SESSION_KEY
from django.contrib.messages.storage import default_storage
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.utils.deprecation import MiddlewareMixin
from django.utils.http import url_has_allowed_host_and_scheme
from mozilla_django_oidc.middleware import SessionRefresh

from accounts.signals import already_reported, report_auth_failure, report_forbidden
from creditplatform.api.exceptions import error_body
from creditplatform.middleware import is_api_path

OIDC_BACKEND = "accounts.oidc.CreditOIDCBackend"  # as settings.AUTHENTICATION_BACKENDS names it
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
STALE_SESSION_DETAIL = (
    "Your single sign-on session is overdue for its check at the identity provider, which only a page load "
    "makes: load a page of the platform, then send this request again."
)


class OidcSessionRefresh(SessionRefresh):
    """mozilla-django-oidc's ``SessionRefresh``, reading its settings at request time.

    After ``OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS`` a GET by an OIDC-logged-in user goes
    through the provider again with ``prompt=none``: roles are re-synced and a person whose
    roles were all removed is logged out (``accounts.oidc.CallbackView``). Does nothing
    while OIDC is off or for password (break-glass) sessions.

    The library re-checks on GETs only (a POST cannot be redirected to the provider and back),
    so a person whose roles were removed could go on writing with POSTs alone for the whole
    session (``SESSION_COOKIE_AGE``). A write (any other method) whose session is overdue
    for its check by more than one more period is refused instead: a JSON 403 on the API, a
    redirect to a page (where the refresh runs) in the admin. API requests that carry an API
    key or a bearer token are authenticated by those, never by the session, and are left
    alone; the admin reads neither header, so there they change nothing.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        MiddlewareMixin.__init__(self, get_response)  # skips SessionRefresh's reading of settings

    def __getattr__(self, name: str) -> Any:
        # The parent reads self.OIDC_* attributes; serve them from the current settings.
        if name.startswith("OIDC_"):
            defaults = {"OIDC_EXEMPT_URLS": [], "OIDC_STATE_SIZE": 32, "OIDC_NONCE_SIZE": 32}
            if name == "OIDC_AUTHENTICATION_CALLBACK_URL":
                return getattr(settings, name, "oidc_authentication_callback")
            return getattr(settings, name, defaults.get(name))
        raise AttributeError(name)

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        if not settings.OIDC_ENABLED:
            return None
        if request.method not in SAFE_METHODS and self._check_long_overdue(request):
            return self._refuse_stale_write(request)
        return super().process_request(request)

    def _check_long_overdue(self, request: HttpRequest) -> bool:
        """An OIDC session whose last check at the provider fell due more than a period ago."""
        if not request.user.is_authenticated or request.path in self.exempt_urls:
            return False
        if request.session.get(BACKEND_SESSION_KEY) != OIDC_BACKEND:
            return False  # a password (break-glass) session: nothing to re-check
        if is_api_path(request.path):
            # Only the API reads these headers (its authentication classes come before the
            # session's); the admin never does, so there a header sent along excuses nothing.
            if "HTTP_X_API_KEY" in request.META:
                return False  # the key authenticates (or is refused), never the session
            scheme = request.META.get("HTTP_AUTHORIZATION", "").strip().partition(" ")[0]
            if scheme.lower() == "bearer" and settings.OIDC_API_ENABLED:
                return False  # the token authenticates (or is refused), never the session
        due = float(request.session.get("oidc_id_token_expiration", 0))
        return time.time() > due + settings.OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS

    @staticmethod
    def _refuse_stale_write(request: HttpRequest) -> HttpResponse:
        report_forbidden(request, reason="oidc_refresh_overdue")
        if is_api_path(request.path):
            return JsonResponse(error_body("session_refresh_required", STALE_SESSION_DETAIL), status=403)
        # The admin: back to the page the form came from; that GET runs the silent refresh.
        referer = request.META.get("HTTP_REFERER", "")
        allowed = url_has_allowed_host_and_scheme(referer, {request.get_host()}, request.is_secure())
        response = HttpResponseRedirect(referer if referer and allowed else "/admin/")
        # The messages middleware comes after this one and does not run: store the note here.
        storage = default_storage(request)
        storage.add(messages.WARNING, "Your session had to be checked again with single sign-on: send the form again.")
        storage.update(response)
        return response


class AccessCountingMiddleware:
    """The catch-all behind ``auth_failures_count``/``forbidden_count``.

    Authentication classes and permissions report their own refusals with a precise
    reason; any other 401 (a missing credential) or 403 (an admin page, CSRF) is counted
    here, so no refusal goes uncounted and none is counted twice.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.process_response(request, self.get_response(request))

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if response.status_code in (401, 403) and not already_reported(request):
            area = "api" if request.path.startswith(("/api/", "/score", "/fraude")) else "web"
            if response.status_code == 401:
                report_auth_failure(request, reason=f"{area}_missing_credentials")
            else:
                report_forbidden(request, reason=f"{area}_forbidden")
        return response
