"""Who acts in a service call, typed once at the boundary.

Services take the acting user as ``User | None``: a staff user, or ``None`` for the platform
itself (management commands, tasks, set-up scripts; never a request). Services an API caller
may reach take ``Acting``, which adds the ``ServicePrincipal`` of an API key or bearer token.

The admin, the views and the commands convert what they hold (``request.user`` is a user or
``AnonymousUser``, or a principal for API callers) with ``acting_user`` or ``acting``, once,
and pass the result on; services never guess from attributes.
"""

from __future__ import annotations

from typing import TypeAlias

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied

from accounts.principals import ServicePrincipal

ActingUser: TypeAlias = User | None
Acting: TypeAlias = User | ServicePrincipal | None


def acting_user(user: object) -> User:
    """The signed-in staff user behind a request (the admin's ``request.user``).

    Anyone else is refused, never turned into ``None``: ``None`` is the platform itself, which
    services trust more than any request.
    """
    if isinstance(user, User) and user.is_authenticated:
        return user
    raise PermissionDenied("Sign in as a staff user.")


def acting(user: object) -> User | ServicePrincipal:
    """``request.user`` of an API view: the staff user, or the API key's or bearer token's principal."""
    if isinstance(user, ServicePrincipal):
        return user
    return acting_user(user)
