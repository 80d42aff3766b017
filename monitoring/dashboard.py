"""The admin's front page (django-unfold ``DASHBOARD_CALLBACK``): filled in below."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def dashboard_callback(request: HttpRequest, context: dict[str, Any]) -> dict[str, Any]:
    return context


def environment_label(request: HttpRequest) -> list[str] | None:
    """The environment badge in the admin's header (unfold ``ENVIRONMENT``)."""
    if settings.PRODUCTION:
        return None
    return [settings.ENVIRONMENT.capitalize(), "warning"]
