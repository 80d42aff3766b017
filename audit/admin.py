"""The audit trail in the admin: read-only for everyone (no add, change or delete, no actions)."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html

from audit.checkpoints import CheckpointError
from audit.models import AuditEvent
from audit.selectors import audit_chain_verify
from creditplatform.admin_mixins import EvidenceAdminMixin, PlatformModelAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(EvidenceAdminMixin, PlatformModelAdmin):
    list_display = ["seq", "created_at", "actor_name", "actor", "action", "target_type", "target_id"]
    list_filter = ["action", "target_type", "created_at"]
    search_fields = ["=seq", "action", "actor", "actor_name", "=target_id"]
    date_hierarchy = "created_at"
    list_select_related: list[str] = []
    actions = None
    fields = [
        "seq",
        "created_at",
        "actor",
        "actor_name",
        "action",
        "target_type",
        "target_id",
        "details_pretty",
        "prev_hash",
        "hash",
    ]
    readonly_fields = fields
    change_list_template = "admin/audit/auditevent/change_list.html"

    @admin.display(description="details")
    def details_pretty(self, obj: AuditEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.details, indent=2, sort_keys=True))

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view(self.verify_view)
        return [path("verify/", view, name="audit_auditevent_verify"), *super().get_urls()]

    def verify_view(self, request: HttpRequest) -> HttpResponse:
        """Walk the hash chain now and say whether it holds (the command does the same)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            report = audit_chain_verify()
        except CheckpointError as exc:
            self.message_user(request, f"Audit checkpoints cannot be trusted: {exc}", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:audit_auditevent_changelist"))
        if report.ok and report.checkpoint is None:
            self.message_user(
                request,
                f"Audit chain intact: {report.checked} events checked; no checkpoint yet, so the removal of the "
                "newest events could not be checked.",
                messages.WARNING,
            )
        elif report.ok:
            self.message_user(
                request,
                f"Audit chain intact: {report.checked} events checked, agreeing with {report.checkpoint}.",
                messages.SUCCESS,
            )
        else:
            self.message_user(request, f"Audit chain BROKEN at {report.broken}.", messages.ERROR)
        return HttpResponseRedirect(reverse("admin:audit_auditevent_changelist"))
