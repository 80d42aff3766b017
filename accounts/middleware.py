"""Session refresh for OIDC logins, and counting of every refused request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin
from mozilla_django_oidc.middleware import SessionRefresh

from accounts.signals import already_reported, report_auth_failure, report_forbidden


class OidcSessionRefresh(SessionRefresh):
    """mozilla-django-oidc's ``SessionRefresh``, reading its settings at request time.

    After ``OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS`` a GET by an OIDC-logged-in user goes
    through the provider again with ``prompt=none``: roles are re-synced and a person whose
    roles were all removed is logged out (``accounts.oidc.CallbackView``). Does nothing
    while OIDC is off or for password (break-glass) sessions.
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
        return super().process_request(request)


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
