"""DRF authentication for service accounts: ``X-API-Key: cpk_<prefix>_<secret>``."""

from __future__ import annotations

import logging

from django.conf import settings
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.models import ApiKey
from accounts.principals import ServicePrincipal
from accounts.roles import Role
from accounts.services import KEY_PREFIX, api_key_touch
from accounts.signals import auth_failed

logger = logging.getLogger(__name__)


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
            auth_failed.send(sender=type(self), request=request, reason="invalid_api_key")
            raise exceptions.AuthenticationFailed("Invalid API key.")
        if not api_key.is_active():
            reason = "revoked" if api_key.revoked_at else "expired"
            auth_failed.send(sender=type(self), request=request, reason=f"api_key_{reason}")
            raise exceptions.AuthenticationFailed(f"API key {reason}.")
        api_key_touch(api_key=api_key, resolution_seconds=settings.API_KEY_LAST_USED_RESOLUTION_SECONDS)
        principal = ServicePrincipal(
            label=api_key.label, role=Role(api_key.role), scopes=frozenset(api_key.scopes or [])
        )
        return principal, api_key

    @staticmethod
    def _lookup(plain: str) -> ApiKey | None:
        parts = plain.strip().split("_", 2)
        if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1].isalnum() or len(parts[1]) > 16:
            return None
        api_key = ApiKey.objects.filter(prefix=parts[1]).first()
        if api_key is None or not api_key.matches(plain.strip()):
            return None
        return api_key

    def authenticate_header(self, request: Request) -> str:
        return 'ApiKey realm="credit-platform", header="X-API-Key"'
