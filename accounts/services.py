"""Writes for accounts: API key life cycle, login lockouts and demo users."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

from axes.models import AccessAttempt
from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.actors import ActingUser
from accounts.models import ApiKey, ApiKeyScope, hash_secret
from accounts.roles import Role
from accounts.signals import api_key_revoked
from audit.services import audit_record

logger = logging.getLogger(__name__)

KEY_PREFIX = "cpk"

# What a key of each role may do when no scopes are given.
DEFAULT_SCOPES: dict[str, list[str]] = {
    Role.ADMIN: [ApiKeyScope.SCORE, ApiKeyScope.FRAUD, ApiKeyScope.READ],
    Role.ANALYST: [ApiKeyScope.SCORE, ApiKeyScope.FRAUD, ApiKeyScope.READ],
    Role.VIEWER: [ApiKeyScope.READ],
    Role.COMPLIANCE: [],
}


@dataclass(frozen=True)
class IssuedKey:
    """A freshly created key: ``plain_key`` exists only here, never in the database."""

    api_key: ApiKey
    plain_key: str


def api_key_check(*, name: str, role: str, scopes: list[str] | None, expires_at: datetime | None) -> None:
    """The rules of a new key (the admin's form shows the same errors); raises ``ValidationError``."""
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}; choose one of {', '.join(Role.values)}."})
    unknown = sorted(set(scopes or []) - set(ApiKeyScope.values))
    if unknown:
        raise ValidationError({"scopes": f"Unknown scope(s): {', '.join(unknown)}."})
    if not name.strip():
        raise ValidationError({"name": "A name is required."})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "Expiry must be in the future."})


def api_key_create(
    *,
    name: str,
    role: str,
    scopes: list[str] | None = None,
    expires_at: datetime | None = None,
    created_by: ActingUser = None,
) -> IssuedKey:
    """Create an API key and return it with its plain value (shown once)."""
    api_key_check(name=name, role=role, scopes=scopes, expires_at=expires_at)
    scopes = list(DEFAULT_SCOPES[role] if scopes is None else scopes)
    prefix = secrets.token_hex(6)
    plain = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        api_key = ApiKey.objects.create(
            name=name.strip(),
            prefix=prefix,
            key_hash=hash_secret(plain),
            role=role,
            scopes=sorted(set(scopes)),
            expires_at=expires_at,
            created_by=created_by if getattr(created_by, "pk", None) else None,
        )
        audit_record(actor=created_by, action="apikey.created", target=api_key, details=_key_details(api_key))
    return IssuedKey(api_key=api_key, plain_key=plain)


def _key_details(api_key: ApiKey) -> dict[str, object]:
    return {
        "prefix": api_key.prefix,
        "key_name": api_key.name,
        "role": api_key.role,
        "scopes": list(api_key.scopes),
        "expires_at": api_key.expires_at.isoformat() if api_key.expires_at else None,
    }


def api_key_update(*, api_key: ApiKey, name: str, expires_at: datetime | None, by: ActingUser = None) -> ApiKey:
    """Rename a key or change its expiry (role, scopes and secret never change: make a new key)."""
    if not name.strip():
        raise ValidationError({"name": "A name is required."})
    with transaction.atomic():
        locked = ApiKey.objects.select_for_update().get(pk=api_key.pk)
        before = _key_details(locked)
        locked.name, locked.expires_at = name.strip(), expires_at
        locked.save(update_fields=["name", "expires_at"])
        after = _key_details(locked)
        if after != before:
            audit_record(actor=by, action="apikey.changed", target=locked, details={"before": before, "after": after})
    return locked


def api_key_revoke(*, api_key: ApiKey, by: ActingUser = None) -> ApiKey:
    """Revoke a key; it is refused from the next request on, and what it set up for itself
    elsewhere (its decision webhooks: ``api_key_revoked``) stops in the same transaction."""
    with transaction.atomic():
        locked = ApiKey.objects.select_for_update().get(pk=api_key.pk)
        if locked.revoked_at is None:
            locked.revoked_at = timezone.now()
            locked.save(update_fields=["revoked_at"])
            audit_record(actor=by, action="apikey.revoked", target=locked, details=_key_details(locked))
            api_key_revoked.send(sender=ApiKey, api_key=locked, by=by)
    api_key.revoked_at = locked.revoked_at
    return locked


def user_access_changed(*, user: User, before: dict[str, object], by: ActingUser) -> None:
    """Record a change of a staff user's roles, permissions or status (admin forms call this)."""
    after = user_access_state(user)
    if after != before:
        changed = sorted(k for k in after if after[k] != before.get(k))
        audit_record(
            actor=by,
            action="user.access.changed",
            target=user,
            details={"user": user.get_username(), "changed": changed, "before": before, "after": after},
        )


# The roles four eyes rest on: a promotion or a rule change needs a second admin, an erasure
# a second compliance officer, and one compliance officer reads anyone's data (access export).
PRIVILEGED_ROLES = frozenset({Role.ADMIN, Role.COMPLIANCE})
_PRIVILEGED_GROUPS = frozenset(role.value for role in PRIVILEGED_ROLES)  # roles are groups of the same name

OWN_ROLES_REFUSED = "Nobody changes their own roles: another admin does (or a superuser)."
PRIVILEGED_ROLES_REFUSED = (
    "Only a superuser (or, with single sign-on, the identity provider's groups) grants or takes away the "
    "admin and compliance roles: four eyes rest on them being held by different people."
)
PASSWORD_REFUSED = (
    "Only a superuser sets the password of an admin or a compliance officer: whoever sets it could act as them."
)


def user_roles_change_check(*, actor: ActingUser, target: User, before: set[str], after: set[str]) -> None:
    """Refuse (``ValidationError``) a change of ``target``'s roles (group names) that ``actor`` may not make.

    A superuser (or the platform: ``None``) may make any. Anyone else (the admin role manages staff accounts) may not
    change their own roles, nor grant or take away ``PRIVILEGED_ROLES``: an admin who could
    would approve their own promotions through a second account, or read any person's data.
    """
    if actor is None or actor.is_superuser or before == after:
        return
    if target.pk is not None and target.pk == actor.pk:
        raise ValidationError(OWN_ROLES_REFUSED)
    if (before ^ after) & _PRIVILEGED_GROUPS:
        raise ValidationError(PRIVILEGED_ROLES_REFUSED)


STATUS_REFUSED = (
    "Only a superuser (or, with single sign-on, the identity provider) deactivates or reactivates an admin or a "
    "compliance officer, or changes their staff status: it takes their role away as surely as removing it."
)


def user_status_change_check(*, actor: ActingUser, target: User, is_active: bool, is_staff: bool) -> None:
    """Refuse (``ValidationError``) a change of ``target``'s active or staff flag that ``actor`` may not make.

    The same rule as ``user_roles_change_check``: switching a holder of ``PRIVILEGED_ROLES`` off
    (or back on) removes (or restores) a member of a four-eyes pair; a superuser or the platform may.
    """
    if actor is None or actor.is_superuser or target.pk is None:
        return
    if (bool(target.is_active), bool(target.is_staff)) == (bool(is_active), bool(is_staff)):
        return
    if set(target.groups.values_list("name", flat=True)) & _PRIVILEGED_GROUPS:
        raise ValidationError(STATUS_REFUSED)


def user_password_set_check(*, actor: ActingUser, target: User) -> None:
    """Refuse (``ValidationError``) setting ``target``'s password when ``actor`` may not.

    A superuser may set any (not a superuser's unless one: ``PlatformUserAdmin``); anyone may
    set their own; nobody else sets the password of a holder of ``PRIVILEGED_ROLES``.
    """
    if actor is None or actor.is_superuser or target.pk == actor.pk:
        return
    if set(target.groups.values_list("name", flat=True)) & _PRIVILEGED_GROUPS:
        raise ValidationError(PASSWORD_REFUSED)


def user_password_set_record(*, user: User, by: ActingUser) -> None:
    """Record that ``by`` set ``user``'s password (the password itself never leaves the hash)."""
    audit_record(actor=by, action="user.password.set", target=user, details={"user": user.get_username()})


def user_access_state(user: User) -> dict[str, object]:
    """What decides a staff user's access: roles (groups), own permissions, staff/superuser/active flags."""
    if user.pk is None:
        return {}
    return {
        "groups": sorted(user.groups.values_list("name", flat=True)),
        "permissions": sorted(user.user_permissions.values_list("codename", flat=True)),
        "is_staff": bool(getattr(user, "is_staff", False)),
        "is_superuser": bool(getattr(user, "is_superuser", False)),
        "is_active": bool(getattr(user, "is_active", False)),
    }


def group_permissions_changed(*, group: Group, before: list[str], by: ActingUser) -> None:
    """Record a change of a role group's permissions (superusers only, in the admin)."""
    after = sorted(group.permissions.values_list("codename", flat=True))
    if after != before:
        audit_record(
            actor=by,
            action="group.permissions.changed",
            target=group,
            details={
                "group": group.name,
                "added": sorted(set(after) - set(before)),
                "removed": sorted(set(before) - set(after)),
            },
        )


def login_record(*, user: User, method: str) -> None:
    """A login that grants at least one role (staff with a role, or a superuser) goes in the trail."""
    from accounts.roles import user_roles

    roles = sorted(r.value for r in user_roles(user))
    if roles:
        audit_record(actor=user, action="auth.login", target=user, details={"method": method, "roles": roles})


def api_key_touch(*, api_key: ApiKey, resolution_seconds: int) -> None:
    """Record use, at most once per ``resolution_seconds`` (one conditional UPDATE)."""
    now = timezone.now()
    last = api_key.last_used_at
    if last is not None and (now - last).total_seconds() < resolution_seconds:
        return
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    api_key.last_used_at = now


@transaction.atomic
def login_lockout_clear(*, attempts: QuerySet[AccessAttempt], by: ActingUser) -> int:
    """Unlock password logins: forget the failed attempts recorded for these (username, address) pairs.

    Audited: an unlock lets password guessing against that account go on. The trail names the
    accounts by id and the count, never the usernames typed or the addresses (personal data)."""
    users = sorted(User.objects.filter(username__in=attempts.values("username")).values_list("pk", flat=True))
    _, deleted = attempts.delete()
    count = deleted.get(AccessAttempt._meta.label, 0)
    logger.info("login lockouts cleared", extra={"count": count, "by_user_id": getattr(by, "pk", None)})
    if count:
        audit_record(
            actor=by, action="auth.lockouts.cleared", details={"count": count, "users": [f"user:{pk}" for pk in users]}
        )
    return count


@transaction.atomic
def demo_users_ensure(*, password_for: dict[str, str]) -> list[tuple[str, str]]:
    """Create (or reset) one demo staff user per role, and a second admin (``demo-admin-2``: four-eyes
    promotion needs two); returns (username, password). ``password_for`` is keyed by role, and
    ``admin-2`` for the second admin (the admin's password when absent)."""
    created: list[tuple[str, str]] = []
    accounts = [(f"demo-{role.value}", role, role.value) for role in Role] + [("demo-admin-2", Role.ADMIN, "admin-2")]
    for username, role, key in accounts:
        password = password_for.get(key) or password_for[Role.ADMIN.value]
        user, _ = User.objects.get_or_create(username=username, defaults={"email": f"{username}@example.test"})
        user.is_staff = True
        user.is_superuser = False
        user.set_password(password)
        user.save()
        user.groups.set([Group.objects.get(name=role.value)])
        created.append((username, password))
    return created


def _oidc_username(preferred: str, issuer: str, subject: str) -> str:
    """A readable, unused username; the identity itself is (issuer, subject), not this."""
    import hashlib
    import re

    fallback = "oidc-" + hashlib.sha256(f"{issuer}\x00{subject}".encode()).hexdigest()[:12]
    candidate = preferred if re.fullmatch(r"[\w.@+-]{1,100}", preferred or "") else fallback
    if candidate != fallback and User.objects.filter(username=candidate).exists():
        candidate = f"{candidate}-{fallback[5:11]}"  # never take over an existing account
    if User.objects.filter(username=candidate).exists():
        candidate = fallback
    return candidate


@transaction.atomic
def oidc_user_sync(
    *,
    issuer: str,
    subject: str,
    roles: frozenset[str],
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    preferred_username: str = "",
) -> User:
    """The user of (issuer, subject), created if new, with role groups set to exactly ``roles``.

    Groups that are not roles are left alone. A user with no role loses staff status, so a
    session opened earlier stops reaching the admin at once.
    """
    from accounts.models import OidcIdentity

    identity = (
        OidcIdentity.objects.select_for_update().select_related("user").filter(issuer=issuer, subject=subject).first()
    )
    if identity is None:
        user = User.objects.create_user(username=_oidc_username(preferred_username, issuer, subject), email=email[:254])
        user.set_unusable_password()
        identity = OidcIdentity.objects.create(user=user, issuer=issuer, subject=subject)
    user = identity.user
    before = set(user.groups.filter(name__in=Role.values).values_list("name", flat=True))
    user.email = email[:254]
    user.first_name = first_name[:150]
    user.last_name = last_name[:150]
    user.is_staff = bool(roles)
    user.save()
    role_groups = Group.objects.filter(name__in=Role.values)
    user.groups.remove(*[g for g in role_groups if g.name not in roles])
    user.groups.add(*[g for g in role_groups if g.name in roles])
    identity.roles = sorted(roles)
    identity.last_login_at = timezone.now()
    identity.save(update_fields=["roles", "last_login_at"])
    granted = set(roles) & set(Role.values)
    if granted != before:
        audit_record(
            actor="system:oidc",
            action="user.roles.synced",
            target=user,
            details={
                "user": user.get_username(),
                "added": sorted(granted - before),
                "removed": sorted(before - granted),
                "issuer": issuer,
            },
        )
    user.__dict__.pop("_credit_roles", None)
    return user


def analysts() -> QuerySet[User]:
    """The one home of "who counts as an analyst": who may hold a fraud alert or a review case.

    Active users with the analyst or admin role (a group), and superusers (admins).
    """
    return (
        User.objects.filter(is_active=True)
        .filter(Q(groups__name__in=[Role.ANALYST, Role.ADMIN]) | Q(is_superuser=True))
        .distinct()
        .order_by("username")
    )
