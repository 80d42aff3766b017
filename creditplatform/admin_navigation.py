"""The admin's sidebar (django-unfold ``SIDEBAR["navigation"]``), built from the admin's own app list.

Every registered model the person may view appears under its app, so a new app needs no
entry here; only icons and the two live badges (open fraud alerts, a drifted day) are
named. ``admin.site.get_app_list`` already leaves out what the person may not see.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.cache import cache
from django.core.paginator import InvalidPage
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse

ICONS = {
    "scoring.decision": "gavel",
    "scoring.client": "group",
    "scoring.creditapplication": "request_quote",
    "scoring.modelversion": "model_training",
    "fraud.fraudalert": "notification_important",
    "fraud.transaction": "payments",
    "fraud.fraudcheck": "policy",
    "fraud.fraudrule": "rule",
    "fraud.fraudruleversion": "history",
    "fraud.fraudsettings": "tune",
    "monitoring.driftreport": "query_stats",
    "monitoring.apicall": "api",
    "accounts.apikey": "key",
    "accounts.oidcidentity": "badge",
    "auth.user": "person",
    "auth.group": "shield_person",
    "django_celery_beat.periodictask": "schedule",
    "django_celery_results.taskresult": "task_alt",
}
BADGE_SECONDS = 30  # the badges cost a query each: shared for half a minute


def _badges() -> dict[str, tuple[str, str]]:
    """{app.model: (text, variant)} for the models that need attention now."""
    cached = cache.get("admin-sidebar-badges")
    if cached is not None:
        return dict(cached)
    from fraud.choices import AlertStatus
    from fraud.models import FraudAlert
    from monitoring.selectors import drift_latest_by_purpose

    badges: dict[str, tuple[str, str]] = {}
    unresolved = FraudAlert.objects.exclude(status=AlertStatus.RESOLVED).count()
    if unresolved:
        badges["fraud.fraudalert"] = (str(unresolved), "warning")
    if any(report.alert for report in drift_latest_by_purpose()):  # one purpose's alert is enough
        badges["monitoring.driftreport"] = ("drift", "danger")
    cache.set("admin-sidebar-badges", badges, BADGE_SECONDS)
    return badges


def sidebar(request: HttpRequest) -> list[dict[str, Any]]:
    from monitoring.dashboard import dashboard_visible

    home = "Dashboard" if dashboard_visible(request.user) else "Home"
    groups: list[dict[str, Any]] = [
        {"items": [{"title": home, "icon": "dashboard", "link": reverse("admin:index")}]},
    ]
    apps = admin.site.get_app_list(request)
    badges = _badges() if apps else {}
    for app in apps:
        items = []
        for model in app["models"]:
            if not model.get("admin_url"):
                continue
            key = f"{app['app_label']}.{model['object_name'].lower()}"
            item: dict[str, Any] = {"title": model["name"], "link": model["admin_url"], "icon": ICONS.get(key)}
            if key in badges:
                item["badge"], item["badge_variant"] = badges[key]
            items.append(item)
        groups.append({"title": app["name"], "collapsible": True, "items": items})
    return groups


def sidebar_search(request: HttpRequest) -> HttpResponse:
    """unfold's search behind the sidebar's box (``/admin/search/``), where a ``?page=`` that is not a
    page of the results (``x``, ``0``, past the last) is a 404: unfold reads it as is, and it was a 500."""
    try:
        return admin.site.search(request)  # type: ignore[attr-defined]
    except (InvalidPage, ValueError):
        raise Http404("No such page of search results.") from None
