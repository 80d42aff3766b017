"""Template context for the admin login page."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def login_options(request: HttpRequest) -> dict[str, object]:
    """Whether to offer single sign-on, and whether the password form is the break-glass one."""
    return {
        "oidc_enabled": settings.OIDC_ENABLED,
        "break_glass_only": settings.OIDC_ENABLED,
    }
