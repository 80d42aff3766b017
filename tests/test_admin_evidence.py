"""Records of what happened are view-only in the admin for every role and the break-glass superuser.

Decisions, the transactions and checks they judged, alerts, outcomes, the audit trail, call
logs, reports and task results are evidence: nobody adds, edits or deletes one in the admin
(a page, an inline, an action); they change only through the platform's services (erasure,
retention, the alert queue's take/assign/resolve, Celery's results clean-up). Every model
registered in the admin is either evidence here or listed with what may be done to it, so a new
admin page cannot ship editable without a line saying why.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client, RequestFactory
from django_celery_results.models import GroupResult, TaskResult

import creditplatform.urls  # noqa: F401  (the admin as served: bulk delete disabled site-wide)

pytestmark = pytest.mark.django_db

EVIDENCE = {
    "accounts.oidcidentity",
    "audit.auditevent",
    "django_celery_results.groupresult",
    "django_celery_results.taskresult",
    "fraud.fraudalert",  # worked through take, assign and resolve, never edited
    "fraud.fraudcheck",
    "fraud.fraudruleversion",
    "fraud.transaction",
    "governance.fairnessreport",
    "governance.outcome",  # imported (CSV), never typed in or edited
    "governance.performancereport",
    "monitoring.apicall",
    "monitoring.driftreport",
    "scoring.decision",
    "scoring.reviewcase",  # worked through take, assign, decide and approve
    "scoring.webhookdelivery",
}
# Not evidence: what each is, and who changes it (docs/access.md's table).
EDITABLE = {
    "accounts.apikey": "keys: created, renamed, revoked (never deleted)",
    "auth.group": "roles: a superuser's",
    "auth.user": "users: admins, within accounts.services' limits",
    "axes.accessattempt": "login lockouts: deleting one is the unlock",
    "django_celery_beat.clockedschedule": "schedules admins own",
    "django_celery_beat.crontabschedule": "schedules admins own",
    "django_celery_beat.intervalschedule": "schedules admins own",
    "django_celery_beat.periodictask": "schedules admins own (monitoring.schedules)",
    "django_celery_beat.solarschedule": "schedules admins own",
    "fraud.fraudrule": "rules: every change a new version",
    "fraud.fraudsettings": "thresholds: under four eyes",
    "governance.promotionrequest": "requests: made, then approved by another",
    "privacy.gdprrequest": "GDPR requests: recorded, approved, rejected",
    "privacy.legalhold": "legal holds: placed, released",
    "scoring.batchjob": "batch uploads",
    "scoring.client": "clients: no delete (erasure)",
    "scoring.creditapplication": "applications: no delete (erasure)",
    "scoring.decisionwebhook": "callers' webhooks: deactivated",
    "scoring.modelversion": "the model registry",
}
PRINCIPALS = ["admin", "analyst", "viewer", "compliance", "superuser"]


@pytest.fixture
def as_principal(user_with_role: Callable[[str], Any]) -> Callable[[str], Any]:
    def make(name: str) -> Any:
        if name == "superuser":
            return get_user_model().objects.create_superuser("breakglass", "bg@example.test", None)
        return user_with_role(name)

    return make


def test_every_admin_page_is_evidence_or_says_who_edits_it() -> None:
    registered = {model._meta.label_lower for model in admin.site._registry}
    assert registered - EVIDENCE - set(EDITABLE) == set(), "classify the new admin pages here"
    assert (EVIDENCE | set(EDITABLE)) - registered == set()


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_no_one_adds_changes_or_deletes_evidence_in_the_admin(
    principal: str, as_principal: Callable[[str], Any]
) -> None:
    request = RequestFactory().get("/admin/")
    request.user = as_principal(principal)
    for model, model_admin in admin.site._registry.items():
        label = model._meta.label_lower
        if label not in EVIDENCE:
            continue
        obj = model()  # the object-level answers too (no row needed: nothing here reads its fields)
        assert not model_admin.has_add_permission(request), (label, "add")
        for target in (None, obj):
            assert not model_admin.has_change_permission(request, target), (label, "change")
            assert not model_admin.has_delete_permission(request, target), (label, "delete")
        for inline in model_admin.get_inline_instances(request, obj):
            assert not inline.has_add_permission(request, obj), (label, type(inline).__name__)
            assert not inline.has_change_permission(request, obj), (label, type(inline).__name__)
            assert not (inline.can_delete and inline.has_delete_permission(request, obj)), (label, "inline delete")
        assert not [
            name for name, (func, _, _) in model_admin.get_actions(request).items() if name == "delete_selected"
        ], label


def test_the_break_glass_superuser_does_not_delete_or_forge_task_results(
    client: Client, as_principal: Callable[[str], Any]
) -> None:
    """Task results say what ran (an erasure, the retention job) and when: Celery's clean-up
    (``CELERY_RESULT_EXPIRES``) removes them, nobody else."""
    client.force_login(as_principal("superuser"))
    result = TaskResult.objects.create(task_id="t-1", task_name="privacy.tasks.erasure_run", status="SUCCESS")
    group = GroupResult.objects.create(group_id="g-1")
    for path, row in (("taskresult", result), ("groupresult", group)):
        base = f"/admin/django_celery_results/{path}/"
        assert client.get(f"{base}{row.pk}/change/").status_code == 200  # still read
        assert client.post(f"{base}{row.pk}/delete/", {"post": "yes"}).status_code == 403
        assert client.get(f"{base}add/").status_code == 403
    assert TaskResult.objects.filter(pk=result.pk).exists() and GroupResult.objects.filter(pk=group.pk).exists()


def test_no_role_group_holds_a_hand_write_on_evidence() -> None:
    """The groups (roles) say what the pages do: "view" on evidence, never "add", "change" or
    "delete", but the outcomes' CSV import ("add" on governance.outcome, admins and analysts)."""
    from django.contrib.auth.models import Group

    held = {
        (group.name, f"{p.content_type.app_label}.{p.content_type.model}", p.codename.split("_", 1)[0])
        for group in Group.objects.prefetch_related("permissions__content_type")
        for p in group.permissions.all()
    }
    writes = sorted((g, model, action) for g, model, action in held if model in EVIDENCE and action != "view")
    assert [w for w in writes if w[2] in ("add", "change", "delete")] == [
        ("admin", "governance.outcome", "add"),
        ("analyst", "governance.outcome", "add"),
    ]
