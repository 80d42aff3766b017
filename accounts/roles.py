"""The four staff roles and what each may do.

Roles are Django groups of the same name. This module is the single source of truth for
which model permissions each group holds; ``sync_role_groups`` applies it (from a data
migration and after every ``migrate``), so the admin and the API agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    ANALYST = "analyst", "Analyst"
    VIEWER = "viewer", "Viewer"
    COMPLIANCE = "compliance", "Compliance"


ALL_ROLES = frozenset(Role)
READ_ROLES = frozenset({Role.VIEWER, Role.ANALYST, Role.ADMIN})
DECIDE_ROLES = frozenset({Role.ANALYST, Role.ADMIN})

# Records of what happened (docs/access.md): no role adds, changes or deletes one by hand, so an
# "app.*" line gives them "view" (and its own actions, such as "take") but never "add",
# "change" or "delete"; the admin pages refuse those anyway (EvidenceAdminMixin), and the
# groups say the same. Only a line naming the model gives more (the outcomes' CSV import is
# "add" on governance.outcome).
EVIDENCE_MODELS = frozenset(
    {
        "accounts.oidcidentity",
        "fraud.fraudalert",
        "fraud.fraudcheck",
        "fraud.fraudruleversion",
        "fraud.transaction",
        "governance.fairnessreport",
        "governance.outcome",
        "governance.performancereport",
        "scoring.decision",
        "scoring.reviewcase",
        "scoring.webhookdelivery",
    }
)
HAND_WRITES = frozenset({"add", "change", "delete"})

# app_label.model -> actions. "*" means every model of the app (evidence: see EVIDENCE_MODELS).
ROLE_PERMISSIONS: dict[Role, dict[str, tuple[str, ...]]] = {
    Role.ADMIN: {
        # No "delete" on anything that holds personal data: a person's data goes only through
        # a GDPR erasure (privacy app), and evidence is never deleted. Draft model versions may go.
        "accounts.*": ("view", "add", "change"),
        "scoring.*": ("view", "add", "change"),
        "scoring.modelversion": ("delete",),
        "fraud.*": ("view", "add", "change"),
        "fraud.fraudrule": ("activate", "backtest"),
        "fraud.fraudalert": ("assign", "take", "resolve"),
        "scoring.reviewcase": ("assign", "take", "close", "approve"),
        "monitoring.*": ("view",),
        # Model governance: outcomes imported (never edited), reports, promotion requests.
        "governance.*": ("view", "add", "change"),
        "governance.outcome": ("add",),  # the CSV import
        "governance.promotionrequest": ("approve",),
        # The audit trail, read-only (their own actions are in it); GDPR requests are compliance's.
        "audit.auditevent": ("view",),
        "django_celery_beat.*": ("view", "add", "change", "delete"),
        "django_celery_results.*": ("view",),
        "auth.user": ("view", "add", "change"),
        "auth.group": ("view",),
        "axes.accessattempt": ("view", "delete"),  # login lockouts: see and unlock
    },
    Role.ANALYST: {
        "scoring.client": ("view", "add", "change"),
        "scoring.creditapplication": ("view", "add", "change"),
        "scoring.decision": ("view",),
        # Analysts upload batch files and follow their own jobs (scoring.batch.selectors).
        "scoring.batchjob": ("view", "add"),
        "scoring.modelversion": ("view",),
        # Analysts propose rules (inactive drafts) and back-test; they work alerts they take.
        # Resolving an alert is an object permission given on assignment (fraud.services).
        "fraud.transaction": ("view",),
        "fraud.fraudcheck": ("view",),
        "fraud.fraudrule": ("view", "add", "change", "backtest"),
        "fraud.fraudruleversion": ("view",),
        "fraud.fraudalert": ("view", "take"),
        # Underwriting: analysts take referred cases and give the second approval of another's
        # override; closing a case is an object permission given on assignment (scoring.review).
        "scoring.reviewcase": ("view", "take", "approve"),
        "monitoring.*": ("view",),
        # Analysts import observed outcomes (governance.services.outcomes_import) and read the reports.
        "governance.outcome": ("view", "add"),
        "governance.performancereport": ("view",),
        "governance.fairnessreport": ("view",),
    },
    Role.VIEWER: {
        "scoring.client": ("view",),
        "scoring.creditapplication": ("view",),
        "scoring.decision": ("view",),
        "scoring.modelversion": ("view",),
        # Not the thresholds (fraud.fraudsettings): admins only.
        "fraud.transaction": ("view",),
        "fraud.fraudcheck": ("view",),
        "fraud.fraudrule": ("view",),
        "fraud.fraudruleversion": ("view",),
        "fraud.fraudalert": ("view",),
        "scoring.reviewcase": ("view",),
        "monitoring.*": ("view",),
        "governance.outcome": ("view",),
        "governance.performancereport": ("view",),
        "governance.fairnessreport": ("view",),
    },
    Role.COMPLIANCE: {
        "scoring.client": ("view",),
        "scoring.creditapplication": ("view",),
        "scoring.decision": ("view",),
        "fraud.transaction": ("view",),
        "fraud.fraudcheck": ("view",),
        "monitoring.apicall": ("view",),
        "privacy.*": ("view", "add", "change"),
        "privacy.gdprrequest": ("approve",),
        "governance.fairnessreport": ("view",),
        "governance.promotionrequest": ("view",),  # who let what go live
        "audit.auditevent": ("view",),
    },
}


def role_codenames(role: Role, models_by_app: Mapping[str, Iterable[str]]) -> set[tuple[str, str]]:
    """(app_label, codename) pairs a role should hold, given the installed models."""
    wanted: set[tuple[str, str]] = set()
    for target, actions in ROLE_PERMISSIONS[role].items():
        app_label, model = target.split(".")
        names = list(models_by_app.get(app_label, ())) if model == "*" else [model]
        for name in names:
            evidence = model == "*" and f"{app_label}.{name}" in EVIDENCE_MODELS
            wanted.update(
                (app_label, f"{action}_{name}") for action in actions if not (evidence and action in HAND_WRITES)
            )
    return wanted


def sync_role_groups(using: str = "default") -> None:
    """Create the role groups and set exactly the permissions ``ROLE_PERMISSIONS`` gives."""
    from django.apps import apps
    from django.contrib.auth.models import Group, Permission

    models_by_app: dict[str, list[str]] = {}
    for model in apps.get_models():
        models_by_app.setdefault(model._meta.app_label, []).append(model._meta.model_name or "")

    for role in Role:
        group, _ = Group.objects.using(using).get_or_create(name=role.value)
        wanted = role_codenames(role, models_by_app)
        perms = [
            p
            for p in Permission.objects.using(using).select_related("content_type")
            if (p.content_type.app_label, p.codename) in wanted
        ]
        group.permissions.set(perms)


def user_roles(user: object) -> frozenset[Role]:
    """Roles of a Django user, from its groups (cached on the instance for the request)."""
    cached = getattr(user, "_credit_roles", None)
    if cached is not None:
        return cached
    if not getattr(user, "is_authenticated", False):
        roles: frozenset[Role] = frozenset()
    elif getattr(user, "is_superuser", False):
        roles = frozenset({Role.ADMIN})
    else:
        names = set(user.groups.values_list("name", flat=True))  # type: ignore[attr-defined]
        roles = frozenset(r for r in Role if r.value in names)
    user._credit_roles = roles  # type: ignore[attr-defined]
    return roles
