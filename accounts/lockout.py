"""django-axes hooks: which logins it watches, the caller's address, the lockout page.

Axes counts failed password logins per (username, address) and refuses that pair for
``LOGIN_COOLOFF_MINUTES`` after ``LOGIN_FAILURE_LIMIT`` failures (settings ``AXES_*``).
A success resets the count; an admin unlocks sooner (admin → Axes → Access attempts,
action "Unlock"). Attempts live in the database, so every web process and host agrees,
in the embedded mode (SQLite) as with PostgreSQL.
"""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework.throttling import BaseThrottle


def is_not_a_password_login(request: HttpRequest, credentials: dict[str, Any] | None) -> bool:
    """Axes' "whitelist": logins without a username are not password logins.

    The OpenID Connect callback also goes through ``authenticate()`` (with a code, no
    username); the provider defends its own login, and refusals there are counted by
    ``accounts.oidc``. Counting them here would lock out a whole office behind one address.
    """
    return not (credentials or {}).get("username")


def client_ip(request: HttpRequest) -> str | None:
    """The caller's address by the rule API throttling uses (``NUM_PROXIES`` trusted proxies).

    None for a request built in code without one (``Client.force_login``, a shell).
    """
    return BaseThrottle().get_ident(request) or None  # type: ignore[arg-type]


def lockout_response(request: HttpRequest, original_response: HttpResponse | None, credentials: Any) -> HttpResponse:
    """A 429 admin page that says what happened, for how long, and who can lift it."""
    minutes = math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60)
    context = {
        **admin.site.each_context(request),
        "title": "Too many failed logins",
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cooloff_minutes": minutes,
    }
    response = render(request, "accounts/locked_out.html", context, status=429)
    response["Retry-After"] = str(minutes * 60)
    return response
