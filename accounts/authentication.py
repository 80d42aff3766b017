"""DRF authentication: ``Authorization: Bearer <JWT>`` from the OIDC provider, and
``X-API-Key: cpk_<prefix>_<secret>`` for service accounts."""

from __future__ import annotations

import logging

from django.conf import settings
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.keycache import TTLCache
from accounts.models import ApiKey
from accounts.principals import PrincipalKind, ServicePrincipal, oidc_label
from accounts.roles import Role
from accounts.services import KEY_PREFIX, api_key_touch
from accounts.signals import report_auth_failure
from accounts.tokens import (
    ACCESS_TOKEN_TYPES,
    RFC9068_CLAIMS,
    JwksUnavailable,
    TokenPolicy,
    TokenRejected,
    roles_from_claims,
    validate_token,
)
from creditplatform.hot_settings import hot_settings

logger = logging.getLogger(__name__)

# Rows by prefix, for API_KEY_CACHE_SECONDS (see accounts.keycache; dropped on save/delete).
api_key_rows: TTLCache[ApiKey | None] = TTLCache(ttl=lambda: hot_settings.API_KEY_CACHE_SECONDS)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Authenticate ``X-API-Key``. Keys are looked up by prefix and compared by hash.

    Only the header is read: a key in a query string would end up in proxy logs.
    """

    header = "HTTP_X_API_KEY"

    def authenticate(self, request: Request) -> tuple[ServicePrincipal, ApiKey] | None:
        plain = request.META.get(self.header)
        if plain is None:
            return None
        api_key = self._lookup(plain)
        if api_key is None:
            report_auth_failure(request, reason="invalid_api_key", sender=type(self))
            raise exceptions.AuthenticationFailed("Invalid API key.")
        if not api_key.is_active():
            reason = "revoked" if api_key.revoked_at else "expired"
            report_auth_failure(request, reason=f"api_key_{reason}", sender=type(self))
            raise exceptions.AuthenticationFailed(f"API key {reason}.")
        return self.principal_of(api_key), api_key

    @classmethod
    def usable(cls, plain: str) -> ApiKey | None:
        """The active key ``plain`` names, or None; nothing reported (the decision fast path
        asks first, and leaves every refusal to this class's ``authenticate``)."""
        api_key = cls._lookup(plain)
        return api_key if api_key is not None and api_key.is_active() else None

    @staticmethod
    def principal_of(api_key: ApiKey) -> ServicePrincipal:
        """The caller an accepted key stands for; its use is recorded (``api_key_touch``)."""
        api_key_touch(api_key=api_key, resolution_seconds=hot_settings.API_KEY_LAST_USED_RESOLUTION_SECONDS)
        return ServicePrincipal(
            label=api_key.label,
            role=Role(api_key.role),
            scopes=frozenset(api_key.scopes or []),
            kind=PrincipalKind.API_KEY,
        )

    @staticmethod
    def _lookup(plain: str) -> ApiKey | None:
        parts = plain.strip().split("_", 2)
        if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1].isalnum() or len(parts[1]) > 16:
            return None
        prefix = parts[1]
        api_key = api_key_rows.get_or_load(prefix, lambda: ApiKey.objects.filter(prefix=prefix).first())
        if api_key is None or not api_key.matches(plain.strip()):
            return None
        return api_key

    def authenticate_header(self, request: Request) -> str:
        return 'ApiKey realm="credit-platform", header="X-API-Key"'


REJECTED_ATTR = "_credit_bearer_rejected"
UNCHECKED_ATTR = "_credit_bearer_unchecked"  # a Bearer token came while bearer tokens are off
BEARER_OFF_DETAIL = (
    "Bearer tokens are not accepted on this deployment (no OIDC provider is configured for the API): "
    "send an API key in the X-API-Key header."
)


class ProviderUnavailable(exceptions.APIException):
    """503: the provider's keys have never been reachable, so no token can be checked."""

    status_code = 503
    default_detail = "Tokens cannot be checked right now; try again shortly."
    default_code = "service_unavailable"


def api_token_policy() -> TokenPolicy | None:
    """The policy for API access tokens, or None when bearer tokens are not configured."""
    if not settings.OIDC_API_ENABLED:
        return None
    rfc9068 = settings.OIDC_API_REQUIRE_AT_JWT
    return TokenPolicy(
        issuer=settings.OIDC_OP_ISSUER,
        audience=settings.OIDC_API_AUDIENCE,
        algorithms=frozenset(settings.OIDC_API_ALGORITHMS),
        leeway=settings.OIDC_LEEWAY_SECONDS,
        required_claims=RFC9068_CLAIMS if rfc9068 else TokenPolicy.required_claims,
        token_types=ACCESS_TOKEN_TYPES if rfc9068 else frozenset(),
        max_lifetime=settings.OIDC_API_MAX_TOKEN_LIFETIME_SECONDS,
        extra_audiences=frozenset(settings.OIDC_API_EXTRA_AUDIENCES),
    )


# Claims only an ID token carries (OIDC Core §2, §3.1.3.6; RFC 9068 access tokens have none),
# and Keycloak's own marker.
_ID_TOKEN_CLAIMS = ("nonce", "at_hash", "c_hash")


def looks_like_id_token(claims: dict[str, object], policy: TokenPolicy) -> bool:
    """An ID token sent as an access token (replayed from a login).

    Only matters when the API audience is the web client's id (the default): both token
    kinds then pass the ``aud`` check. A distinct ``OIDC_API_AUDIENCE`` rules it out anyway.
    """
    if policy.audience != settings.OIDC_RP_CLIENT_ID:
        return False
    return claims.get("typ") == "ID" or any(name in claims for name in _ID_TOKEN_CLAIMS)


class JWTBearerAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <access token>``, checked locally against the provider's JWKS.

    The caller becomes a ``ServicePrincipal`` (no database user per token): its roles come
    from the roles claim at every request, so a role removed at the provider is gone as
    soon as the token expires. The principal's label is ``oidc:<hash of iss and sub>``.

    First in ``DEFAULT_AUTHENTICATION_CLASSES``, so a 401 carries ``WWW-Authenticate: Bearer``.
    The token itself is never logged, echoed or stored.
    """

    keyword = "bearer"

    def authenticate(self, request: Request) -> tuple[ServicePrincipal, dict[str, object]] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != self.keyword:
            return None  # Basic, ApiKey...: not ours
        policy = api_token_policy()
        if policy is None:
            # No provider configured: the token cannot be checked, and another credential (an
            # API key, a session) may still authenticate the request. Noted, so that a refusal
            # says why the token did not count (``refuse_unchecked_bearer``).
            setattr(getattr(request, "_request", request), UNCHECKED_ATTR, True)
            return None
        try:
            claims = validate_token(token.strip(), policy)
        except TokenRejected as exc:
            self._reject(request, f"jwt_{exc.reason}", exc.detail)
        except JwksUnavailable:
            logger.error("bearer token not checked: the provider's keys are unavailable")
            raise ProviderUnavailable() from None
        if looks_like_id_token(claims, policy):
            self._reject(request, "jwt_id_token_replayed", "An ID token is not an access token.")
        principal = ServicePrincipal(
            label=oidc_label(str(claims["iss"]), str(claims["sub"])),
            roles=frozenset(Role(r) for r in roles_from_claims(claims)),
            kind=PrincipalKind.BEARER,
            enforce_scopes=False,
        )
        return principal, claims

    def _reject(self, request: Request, reason: str, detail: str) -> None:
        setattr(getattr(request, "_request", request), REJECTED_ATTR, True)
        # Only the reason code is logged, never the token (see monitoring.receivers).
        report_auth_failure(request, reason=reason, sender=type(self))
        raise exceptions.AuthenticationFailed(detail)

    def authenticate_header(self, request: Request) -> str:
        if not settings.OIDC_API_ENABLED:
            return ApiKeyAuthentication().authenticate_header(request)  # the only scheme on offer
        if getattr(getattr(request, "_request", request), REJECTED_ATTR, False):
            return 'Bearer realm="credit-platform", error="invalid_token"'
        return 'Bearer realm="credit-platform"'


def refuse_unchecked_bearer(request: Request) -> None:
    """The 401 of a caller who sent only a Bearer token while bearer tokens are off.

    Called where access is refused to an unauthenticated caller (``accounts.permissions``):
    DRF would answer "Authentication credentials were not provided.", which is not what
    happened. Does nothing when no Bearer token came; endpoints open to anyone still serve.
    """
    if getattr(getattr(request, "_request", request), UNCHECKED_ATTR, False):
        report_auth_failure(request, reason="jwt_not_enabled", sender=JWTBearerAuthentication)
        raise exceptions.AuthenticationFailed(BEARER_OFF_DETAIL)
