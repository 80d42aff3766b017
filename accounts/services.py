"""Writes for accounts: API key life cycle and demo users."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import ApiKey, ApiKeyScope, hash_secret
from accounts.roles import Role

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


def api_key_create(
    *,
    name: str,
    role: str,
    scopes: list[str] | None = None,
    expires_at: datetime | None = None,
    created_by: AbstractBaseUser | None = None,
) -> IssuedKey:
    """Create an API key and return it with its plain value (shown once)."""
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}; choose one of {', '.join(Role.values)}."})
    scopes = list(DEFAULT_SCOPES[role] if scopes is None else scopes)
    unknown = sorted(set(scopes) - set(ApiKeyScope.values))
    if unknown:
        raise ValidationError({"scopes": f"Unknown scope(s): {', '.join(unknown)}."})
    if not name.strip():
        raise ValidationError({"name": "A name is required."})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "Expiry must be in the future."})

    prefix = secrets.token_hex(6)
    plain = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(
        name=name.strip(),
        prefix=prefix,
        key_hash=hash_secret(plain),
        role=role,
        scopes=sorted(set(scopes)),
        expires_at=expires_at,
        created_by=created_by if getattr(created_by, "pk", None) else None,
    )
    return IssuedKey(api_key=api_key, plain_key=plain)


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke a key; it is refused from the next request on."""
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    return api_key


def api_key_touch(*, api_key: ApiKey, resolution_seconds: int) -> None:
    """Record use, at most once per ``resolution_seconds`` (one conditional UPDATE)."""
    now = timezone.now()
    last = api_key.last_used_at
    if last is not None and (now - last).total_seconds() < resolution_seconds:
        return
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    api_key.last_used_at = now


@transaction.atomic
def demo_users_ensure(*, password_for: dict[str, str]) -> list[tuple[str, str]]:
    """Create (or reset) one demo staff user per role; returns (username, password)."""
    User = get_user_model()
    created: list[tuple[str, str]] = []
    for role in Role:
        username = f"demo-{role.value}"
        password = password_for[role.value]
        user, _ = User.objects.get_or_create(username=username, defaults={"email": f"{username}@example.test"})
        user.is_staff = True
        user.is_superuser = False
        user.set_password(password)
        user.save()
        user.groups.set([Group.objects.get(name=role.value)])
        created.append((username, password))
    return created
