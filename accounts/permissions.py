"""DRF permission classes by role and API-key scope. Deny by default."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from accounts.authentication import refuse_unchecked_bearer
from accounts.principals import ServicePrincipal, request_roles
from accounts.roles import DECIDE_ROLES, READ_ROLES, Role
from accounts.signals import report_forbidden


class DenyAll(BasePermission):
    """The default: a view that forgets to declare its permissions serves nobody."""

    message = "This endpoint declares no access policy."

    def has_permission(self, request: Request, view: Any) -> bool:
        return False


class _RolePermission(BasePermission):
    roles: frozenset[Role] = frozenset()
    scope: str | None = None  # API keys need this scope as well as the role
    message = "Your role does not allow this action."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not getattr(user, "is_authenticated", False):
            refuse_unchecked_bearer(request)  # a Bearer token while they are off: a 401 saying so
            return False  # DRF then answers 401 with WWW-Authenticate
        allowed = self.allows(user)
        if not allowed:
            if request_roles(user) & self.roles:  # the role is right: the key lacks the scope
                self.message = f"This API key lacks the '{self.scope}' scope."
            report_forbidden(request, reason=type(self).__name__, sender=type(self))
        return allowed

    @classmethod
    def allows(cls, user: Any) -> bool:
        """The rule alone, nothing reported: an authenticated caller with one of the roles
        (and, for an API key, the scope). The decision fast path asks it before answering."""
        if not getattr(user, "is_authenticated", False):
            return False
        allowed = bool(request_roles(user) & cls.roles)
        if allowed and isinstance(user, ServicePrincipal) and user.enforce_scopes and cls.scope:
            allowed = cls.scope in user.scopes
        return allowed


def role_permission(name: str, roles: Iterable[Role], scope: str | None = None) -> type[_RolePermission]:
    """Build a permission class letting ``roles`` in (API keys also need ``scope``)."""
    return type(name, (_RolePermission,), {"roles": frozenset(roles), "scope": scope})


CanScore = role_permission("CanScore", DECIDE_ROLES, scope="score")
CanCheckFraud = role_permission("CanCheckFraud", DECIDE_ROLES, scope="fraud")
CanRead = role_permission("CanRead", READ_ROLES, scope="read")
CanWriteRecords = role_permission("CanWriteRecords", DECIDE_ROLES, scope="score")
# Model activation; an admin-role API key needs the score scope as well (a read-only key changes nothing).
IsAdmin = role_permission("IsAdmin", {Role.ADMIN}, scope="score")


class ReadOrWrite(BasePermission):
    """Safe methods need ``CanRead``; writes need ``CanWriteRecords``."""

    def has_permission(self, request: Request, view: Any) -> bool:
        checker = CanRead() if request.method in SAFE_METHODS else CanWriteRecords()
        allowed = checker.has_permission(request, view)
        if not allowed:
            self.message = checker.message
        return allowed
