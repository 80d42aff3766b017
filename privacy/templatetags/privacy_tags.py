"""The compliance front page's panel: GDPR requests due soon or overdue."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils import timezone

register = template.Library()


@register.simple_tag(takes_context=True)
def gdpr_requests_due(context: dict[str, Any]) -> dict[str, Any] | None:
    """Open requests due soon or overdue, for users who may see GDPR requests (else None)."""
    from privacy.selectors import gdpr_requests_due as due

    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.has_perm("privacy.view_gdprrequest"):
        return None
    now = timezone.now()
    rows = list(due(now=now)[:50])
    return {
        "overdue": [r for r in rows if r.due_at < now],
        "soon": [r for r in rows if r.due_at >= now],
        "now": now,
    }
