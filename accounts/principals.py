"""Who is calling: a uniform view of staff users, API keys and bearer tokens."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from accounts.roles import Role, user_roles


class PrincipalKind:
    API_KEY = "apikey"
    BEARER = "oidc"


@dataclass(frozen=True)
class ServicePrincipal:
    """An authenticated caller that is not a database user: an API key or a bearer token.

    It stands in ``request.user`` so DRF's checks work unchanged, but it has no groups and
    no row: only the roles (and, for API keys, the scopes) it was issued with. A bearer
    token is checked on every request, so nothing is stored per token and the provider
    stays the only place where people and their roles are managed.

    ``role`` is the single role of an API key; ``roles`` holds every role (a token may
    carry several). Scopes restrict API keys only (``enforce_scopes``): a token's rights
    are its roles, exactly like a staff user's.
    """

    label: str
    role: Role | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    roles: frozenset[Role] = field(default_factory=frozenset)
    kind: str = PrincipalKind.API_KEY
    enforce_scopes: bool = True

    is_authenticated: bool = True
    is_anonymous: bool = False
    is_active: bool = True
    is_staff: bool = False
    is_superuser: bool = False
    pk: None = None
    id: None = None

    def __post_init__(self) -> None:
        if self.role is not None and self.role not in self.roles:
            object.__setattr__(self, "roles", frozenset({*self.roles, self.role}))

    @property
    def username(self) -> str:
        return self.label

    # No model or object permissions: a principal's rights are its roles (accounts.permissions).
    # These keep Django/DRF/guardian permission checks from crashing on a non-user.
    def has_perm(self, perm: str, obj: object = None) -> bool:
        return False

    def has_perms(self, perm_list: object, obj: object = None) -> bool:
        return False

    def has_module_perms(self, app_label: str) -> bool:
        return False

    def get_all_permissions(self, obj: object = None) -> set[str]:
        return set()

    def __str__(self) -> str:
        return self.label


def request_roles(user: object) -> frozenset[Role]:
    """The roles of whoever ``request.user`` is."""
    if isinstance(user, ServicePrincipal):
        return user.roles
    return user_roles(user)


def oidc_label(issuer: str, subject: str) -> str:
    """``oidc:<hash>``: stable per (issuer, subject), pseudonymous in logs and decision records."""
    digest = hashlib.sha256(f"{issuer}\x00{subject}".encode()).hexdigest()[:16]
    return f"{PrincipalKind.BEARER}:{digest}"


def caller_label(user: object) -> str:
    """A pseudonymous label for audit records: ``apikey:<prefix>``, ``oidc:<hash>`` or ``user:<id>``."""
    if isinstance(user, ServicePrincipal):
        return user.label
    pk = getattr(user, "pk", None)
    return f"user:{pk}" if pk is not None else "anonymous"


def caller_may_decide(*, caller: str) -> bool:
    """Whether the caller a label names (``caller_label``) may still ask for decisions (``CanScore``).

    The one home of "did this caller lose its access" for what runs on its behalf after its
    request (its decision webhooks, its batch jobs): False for an API key revoked, expired or
    unknown, and for a user inactive, deleted or without a deciding role. A bearer token's
    subject (``oidc:``) is the provider's to manage: nothing here knows it left, so True.
    """
    from django.contrib.auth.models import User

    from accounts.models import ApiKey
    from accounts.roles import DECIDE_ROLES

    kind, _, ident = caller.partition(":")
    if kind == PrincipalKind.API_KEY:
        api_key = ApiKey.objects.filter(prefix=ident).first()
        return api_key is not None and api_key.is_active()
    if kind == "user":
        user = (
            User.objects.filter(pk=int(ident), is_active=True).first()
            if ident.isdecimal() and len(ident) < 19
            else None
        )
        return user is not None and bool(user_roles(user) & DECIDE_ROLES)
    return True
