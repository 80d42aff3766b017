"""Password login, restricted once OpenID Connect is configured."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import User
from django.http import HttpRequest


def password_login_allowed(username: str | None) -> bool:
    """Everyone while OIDC is off (the demo); only the break-glass account once it is on."""
    if not settings.OIDC_ENABLED:
        return True
    return bool(settings.BREAK_GLASS_USERNAME) and username == settings.BREAK_GLASS_USERNAME


class PasswordBackend(ModelBackend):
    """Django's password check, for the demo and for one break-glass superuser.

    With OIDC on, staff accounts come from the provider and a leaked or guessed local
    password must not open the admin; the break-glass account (a superuser, named by
    ``BREAK_GLASS_USERNAME``) is the way in when the provider is down.
    """

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> User | None:
        if username is None:
            username = kwargs.get(self._username_field())
        if not password_login_allowed(username):
            # Pay for one password hash anyway, as Django's ModelBackend does for unknown names:
            # refusing at once would answer in milliseconds for every name but the break-glass
            # one, and the time taken would tell an attacker which name to guess passwords for.
            if password is not None:
                get_user_model()().set_password(password)
            return None
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None and settings.OIDC_ENABLED and not user.is_superuser:
            return None  # the break-glass name must belong to a superuser
        return user

    @staticmethod
    def _username_field() -> str:
        return get_user_model().USERNAME_FIELD
