"""Staff login through OpenID Connect (mozilla-django-oidc, hardened).

mozilla-django-oidc alone checks only the ID token's signature and nonce, matches users by
e-mail and defaults to HS256 (RELIABILITY.md §0). This subclass:

- verifies the ID token with ``accounts.tokens`` (RS256/ES256 from the JWKS, ``iss``,
  ``aud`` = our client id, ``exp``/``iat``/``nbf``, the nonce of this login);
- identifies the person by (``iss``, ``sub``) through ``OidcIdentity``, never by e-mail,
  and checks that the userinfo ``sub`` is the ID token's (OIDC Core §5.3.2);
- syncs the role groups from ``OIDC_ROLES_CLAIM`` at every login and silent refresh,
  adding and removing; a person with no role is refused with a 403 page and, if a
  session existed, logged out.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.contrib import admin, auth
from django.contrib.auth import BACKEND_SESSION_KEY
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from accounts.services import oidc_user_sync
from accounts.signals import report_auth_failure, report_forbidden
from accounts.tokens import JwksUnavailable, TokenPolicy, TokenRejected, roles_from_claims, validate_token

logger = logging.getLogger(__name__)

REFUSAL_ATTR = "_credit_oidc_refusal"
# Answers to a silent (prompt=none) refresh meaning "the person must log in again".
INTERACTIVE_LOGIN_ERRORS = frozenset({"login_required", "interaction_required", "consent_required"})


def id_token_policy() -> TokenPolicy:
    return TokenPolicy(
        issuer=settings.OIDC_OP_ISSUER,
        audience=settings.OIDC_RP_CLIENT_ID,
        algorithms=frozenset({settings.OIDC_RP_SIGN_ALGO}),
        leeway=settings.OIDC_LEEWAY_SECONDS,
    )


class CreditOIDCBackend(OIDCAuthenticationBackend):
    """Authorization-code login with the checks mozilla-django-oidc leaves out."""

    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> AbstractBaseUser | None:
        if not settings.OIDC_ENABLED:
            return None
        return super().authenticate(request, **kwargs)

    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        """Full ID-token validation; replaces the library's signature-and-nonce-only check."""
        try:
            payload = validate_token(token or "", id_token_policy())
        except TokenRejected as exc:
            self._refuse("id_token_" + exc.reason)
            raise SuspiciousOperation(f"ID token refused: {exc.reason}") from None
        except JwksUnavailable:
            self._refuse("jwks_unavailable")
            raise SuspiciousOperation("ID token not checked: the provider's keys are unavailable") from None
        if settings.OIDC_USE_NONCE and kwargs.get("nonce") != payload.get("nonce"):
            self._refuse("id_token_nonce")
            raise SuspiciousOperation("ID token refused: nonce mismatch")
        azp = payload.get("azp")
        if isinstance(payload.get("aud"), list) and len(payload["aud"]) > 1 and azp != settings.OIDC_RP_CLIENT_ID:
            self._refuse("id_token_azp")
            raise SuspiciousOperation("ID token refused: issued to another party")
        return payload

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict[str, Any]) -> AbstractBaseUser | None:
        """The user of (iss, sub), created or updated, with its role groups synced."""
        user_info = self.get_userinfo(access_token, id_token, payload)
        if user_info.get("sub") != payload["sub"]:
            self._refuse("userinfo_sub_mismatch")
            raise SuspiciousOperation("userinfo is about another subject")
        claims = {**payload, **user_info}
        roles = roles_from_claims(claims)
        if settings.OIDC_ROLES_CLAIM.split(".")[0] not in user_info:
            roles = roles_from_claims(payload)  # the provider puts the roles in the ID token only
        user = oidc_user_sync(
            issuer=str(payload["iss"]),
            subject=str(payload["sub"]),
            roles=roles,
            email=str(claims.get("email") or ""),
            first_name=str(claims.get("given_name") or ""),
            last_name=str(claims.get("family_name") or ""),
            preferred_username=str(claims.get("preferred_username") or ""),
        )
        if not roles:
            self._refuse("no_role")
            return None
        return user

    def _refuse(self, reason: str) -> None:
        request = getattr(self, "request", None)
        if request is not None:
            setattr(request, REFUSAL_ATTR, reason)


class AuthenticateView(OIDCAuthenticationRequestView):
    """Start of the login at the provider; absent (404) while OIDC is not configured."""

    def get(self, request: HttpRequest) -> HttpResponse:
        if not settings.OIDC_ENABLED:
            raise Http404("OpenID Connect is not configured.")
        return super().get(request)


class CallbackView(OIDCAuthenticationCallbackView):
    """The provider's redirect back: a failed login gets a clear page, never a silent loop."""

    def get(self, request: HttpRequest) -> HttpResponse:
        if not settings.OIDC_ENABLED:
            raise Http404("OpenID Connect is not configured.")
        self.next_url = request.session.get("oidc_login_next") or settings.LOGIN_REDIRECT_URL
        try:
            return super().get(request)
        except SuspiciousOperation as exc:
            # State not found, bad ID token...: refuse the login, never answer a 500/400 page.
            logger.warning("OIDC login refused", extra={"reason": str(exc)[:120]})
            if not getattr(request, REFUSAL_ATTR, None):
                setattr(request, REFUSAL_ATTR, "invalid_callback")
            return self.login_failure()
        except requests.RequestException as exc:
            logger.error("OIDC provider unreachable during login", extra={"error": type(exc).__name__})
            setattr(request, REFUSAL_ATTR, "provider_unreachable")
            return self.login_failure()

    def login_failure(self) -> HttpResponse:
        request = self.request
        if request.GET.get("error") in INTERACTIVE_LOGIN_ERRORS:
            # The provider's session ended: the silent refresh cannot succeed, so log out
            # here (the library has) and start a normal login back to the same page.
            start = reverse("oidc_authentication_init")
            return HttpResponseRedirect(f"{start}?{urlencode({'next': getattr(self, 'next_url', '/admin/')})}")
        reason = getattr(request, REFUSAL_ATTR, None) or ("provider_error" if request.GET.get("error") else "failed")
        if request.user.is_authenticated:
            # A silent refresh that fails (role removed, account disabled) ends the session.
            auth.logout(request)
        if reason == "no_role":
            report_forbidden(request, reason="oidc_no_role")
            status = 403
        else:
            report_auth_failure(request, reason=f"oidc_{reason}")
            status = 401
        context = {
            **admin.site.each_context(request),
            "title": "Access refused",
            "reason": reason,
            "roles": ["admin", "analyst", "viewer", "compliance"],
        }
        return render(request, "accounts/login_refused.html", context, status=status)


def provider_logout_url(request: HttpRequest) -> str:
    """The provider's end-session URL (RP-initiated logout), back to the admin afterwards."""
    endpoint = settings.OIDC_OP_LOGOUT_ENDPOINT
    back = getattr(settings, "LOGOUT_REDIRECT_URL", None) or "/admin/"
    if not endpoint:
        return str(back)
    params = {"client_id": settings.OIDC_RP_CLIENT_ID, "post_logout_redirect_uri": request.build_absolute_uri(back)}
    id_token = request.session.get("oidc_id_token")
    if id_token:
        params["id_token_hint"] = id_token
    return f"{endpoint}?{urlencode(params)}"


@require_POST
def admin_logout(request: HttpRequest) -> HttpResponse:
    """The admin's "Log out": for an OIDC login, also end the session at the provider.

    Otherwise the next "Log in with single sign-on" would sign the same person straight
    back in from the provider's still-open session.
    """
    oidc_session = request.session.get(BACKEND_SESSION_KEY) == f"{__name__}.CreditOIDCBackend"
    if settings.OIDC_ENABLED and oidc_session and settings.OIDC_OP_LOGOUT_ENDPOINT:
        url = provider_logout_url(request)  # before logout() flushes the ID token
        auth.logout(request)
        return HttpResponseRedirect(url)
    return admin.site.logout(request)
