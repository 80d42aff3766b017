"""Who is calling: a uniform view of staff users, API keys and (later) bearer tokens."""

from __future__ import annotations

from dataclasses import dataclass, field

from accounts.roles import Role, user_roles


@dataclass(frozen=True)
class ServicePrincipal:
    """An authenticated machine caller (API key or client-credentials token).

    It stands in ``request.user`` so DRF's checks work unchanged, but it is not a
    database user: it has no groups, only the role and scopes it was issued with.
    """

    label: str
    role: Role
    scopes: frozenset[str] = field(default_factory=frozenset)

    is_authenticated: bool = True
    is_anonymous: bool = False
    is_active: bool = True
    is_staff: bool = False
    is_superuser: bool = False
    pk: None = None
    id: None = None

    @property
    def username(self) -> str:
        return self.label

    def __str__(self) -> str:
        return self.label


def request_roles(user: object) -> frozenset[Role]:
    """The roles of whoever ``request.user`` is."""
    if isinstance(user, ServicePrincipal):
        return frozenset({user.role})
    return user_roles(user)


def caller_label(user: object) -> str:
    """A pseudonymous label for audit records: ``apikey:<prefix>`` or ``user:<id>``."""
    if isinstance(user, ServicePrincipal):
        return user.label
    pk = getattr(user, "pk", None)
    return f"user:{pk}" if pk is not None else "anonymous"
