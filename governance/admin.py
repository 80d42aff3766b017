"""Admin of model governance: outcomes (with their CSV import)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from accounts.principals import caller_label
from creditplatform.admin_mixins import EvidenceAdminMixin, PlatformModelAdmin, ThemedFormMixin
from governance.choices import OutcomeSource
from governance.models import Outcome
from governance.services import (
    OUTCOME_FIELDS,
    OutcomeFileError,
    OutcomeImportError,
    outcome_rows_from_csv,
    outcomes_import,
)

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
SHOWN_ERRORS = 200


class OutcomeUploadForm(ThemedFormMixin, forms.Form):
    file = forms.FileField(
        help_text="CSV (UTF-8, header line) with the columns " + ", ".join(OUTCOME_FIELDS) + ".",
    )

    def clean_file(self) -> bytes:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
        return bytes(upload.read())


@admin.register(Outcome)
class OutcomeAdmin(EvidenceAdminMixin, PlatformModelAdmin):
    """Observed outcomes: read-only evidence; new ones come in by the CSV import (or the API, or the command)."""

    list_display = ["decision", "defaulted", "horizon_months", "observed_on", "source", "caller", "created_at"]
    list_filter = ["defaulted", "horizon_months", "source", "observed_on"]
    search_fields = ["=decision__id", "=import_id", "decision__client__client_id"]
    list_select_related = ["decision"]
    raw_id_fields = ["decision"]
    date_hierarchy = "created_at"
    list_before_template = "admin/governance/outcome/import_link.html"

    def get_urls(self) -> list[Any]:
        own = [path("import/", self.admin_site.admin_view(self.import_view), name="governance_outcome_import")]
        return own + super().get_urls()

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra = {**(extra_context or {}), "can_import": request.user.has_perm("governance.add_outcome")}
        return super().changelist_view(request, extra)

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm("governance.add_outcome"):
            raise PermissionDenied
        errors: list[str] = []
        more = 0
        form = OutcomeUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                rows = outcome_rows_from_csv(form.cleaned_data["file"])
                result = outcomes_import(
                    rows=rows, source=OutcomeSource.ADMIN, caller=caller_label(request.user), actor=request.user
                )
            except OutcomeFileError as exc:
                form.add_error("file", str(exc))
            except OutcomeImportError as exc:
                lines = exc.lines(first_row=2, label="Line")
                errors, more = lines[:SHOWN_ERRORS], max(0, len(lines) - SHOWN_ERRORS)
                form.add_error("file", f"{exc} See the errors below.")
            else:
                self.message_user(
                    request, f"{result.count} outcome(s) imported (import {result.import_id}).", messages.SUCCESS
                )
                return HttpResponseRedirect(reverse("admin:governance_outcome_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Import outcomes",
            "opts": self.model._meta,
            "form": form,
            "errors": errors,
            "more": more,
            "columns": OUTCOME_FIELDS,
        }
        return TemplateResponse(request, "admin/governance/outcome/import.html", context)
