"""Admin of model governance: outcomes (with their CSV import)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from accounts.principals import caller_label
from creditplatform.admin_mixins import EvidenceAdminMixin, PlatformModelAdmin, ThemedFormMixin
from governance.choices import OutcomeSource
from governance.models import FairnessReport, Outcome, PerformanceReport
from governance.performance import chart_options, performance_history_chart
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


def table(headers: list[str], rows: Any, table_id: str) -> str:
    """A small read-only table in the admin's style (cells are escaped)."""
    cell = '<td class="border-b border-base-200 px-3 py-2 dark:border-base-800">{}</td>'
    head = format_html_join(
        "", '<th class="border-b border-base-200 font-semibold px-3 py-2 text-left dark:border-base-800">{}</th>',
        ((h,) for h in headers),
    )  # fmt: skip
    body = format_html_join("", "<tr>{}</tr>", ((format_html_join("", cell, ((c,) for c in row)),) for row in rows))
    return format_html(
        '<table id="{}" class="w-full"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>', table_id, head, body
    )


def figure(value: Any, kind: str = "") -> str:
    if value is None:
        return "–"
    if kind == "%":
        return f"{value:.1%}"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


FIGURES = [
    ("auc", "AUC", ""),
    ("gini", "Gini", ""),
    ("ks", "KS", ""),
    ("brier", "Brier score", ""),
    ("default_rate", "Observed default rate", "%"),
    ("mean_predicted", "Mean predicted probability", "%"),
    ("approval_rate", "Approval rate (all decisions)", "%"),
    ("false_negatives", "Defaults approved (false negatives)", ""),
    ("false_positives", "Good loans refused (false positives)", ""),
    ("business_cost", "Business cost at the threshold", ""),
    ("business_cost_per_decision", "Business cost per matured decision", ""),
    ("psi", "PSI of the scores against the training sample", ""),
]


@admin.register(PerformanceReport)
class PerformanceReportAdmin(EvidenceAdminMixin, PlatformModelAdmin):
    """Each version's figures on matured labels over time (monthly job, or ``performance_report``)."""

    list_display = ["as_of", "model_version", "basis", "champion", "matured", "immature", "auc", "brier", "psi"]
    list_filter = ["basis", "model_version", "sufficient", "as_of"]
    list_select_related = ["model_version", "champion"]
    list_before_template = "admin/governance/performancereport/history.html"
    fields = [
        "model_version",
        "basis",
        "champion",
        "as_of",
        "horizon_months",
        "decisions",
        "matured",
        "immature",
        "defaults",
        "sufficient",
        "figures_table",
        "calibration_table",
        "created_at",
    ]
    readonly_fields = fields

    @admin.display(description="AUC")
    def auc(self, obj: PerformanceReport) -> str:
        return figure(obj.metrics.get("auc")) if obj.sufficient else "too few outcomes"

    @admin.display(description="Brier")
    def brier(self, obj: PerformanceReport) -> str:
        return figure(obj.metrics.get("brier"))

    @admin.display(description="PSI")
    def psi(self, obj: PerformanceReport) -> str:
        return figure(obj.metrics.get("psi"))

    @admin.display(description="Figures")
    def figures_table(self, obj: PerformanceReport) -> str:
        if not obj.sufficient:
            return (
                f"Too few matured outcomes ({obj.matured}, of which {obj.defaults} defaults; at least "
                f"{settings.PERFORMANCE_MIN_OUTCOMES} of both kinds together are needed): no figures."
            )
        headers = ["", obj.model_version.version]
        if obj.champion_id:
            headers.append(f"{obj.champion.version} (champion, same decisions)")
        rows = []
        for key, label, kind in FIGURES:
            row = [label, figure(obj.metrics.get(key), kind)]
            if obj.champion_id:
                row.append(figure(obj.champion_metrics.get(key), kind))
            rows.append(row)
        return table(headers, rows, "performance-figures")

    @admin.display(description="Calibration by score decile")
    def calibration_table(self, obj: PerformanceReport) -> str:
        rows = [
            [c["decile"], c["n"], figure(c["predicted"], "%"), figure(c["observed"], "%")]
            for c in obj.metrics.get("calibration", [])
        ]
        if not rows:
            return "–"
        return table(["Decile", "Decisions", "Predicted default rate", "Observed default rate"], rows, "calibration")

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        reports = PerformanceReport.objects.select_related("model_version", "champion").order_by("as_of")
        extra = {
            **(extra_context or {}),
            "performance_chart": performance_history_chart(list(reports), "auc"),
            "brier_chart": performance_history_chart(list(reports), "brier"),
            "performance_chart_options": chart_options(),
        }
        return super().changelist_view(request, extra)


def rate(value: Any) -> str:
    return "–" if value is None else f"{value:.1%}"


@admin.register(FairnessReport)
class FairnessReportAdmin(EvidenceAdminMixin, PlatformModelAdmin):
    """Approval rate (and TPR/FPR with outcomes) per group of a sensitive or proxy feature."""

    list_display = ["as_of", "model_version", "feature", "kind", "basis", "rows", "verdict"]
    list_filter = ["flagged", "basis", "feature", "model_version", "as_of"]
    list_select_related = ["model_version"]
    fields = ["model_version", "as_of", "basis", "feature", "kind", "rows", "verdict", "groups_table",
              "findings_list", "settings_used", "created_at"]  # fmt: skip
    readonly_fields = fields

    @admin.display(description="Verdict")
    def verdict(self, obj: FairnessReport) -> str:
        return "DISPARITY above the configured limits" if obj.flagged else "within the configured limits"

    @admin.display(description="Per group")
    def groups_table(self, obj: FairnessReport) -> str:
        rates = any("tpr" in g for g in obj.groups)
        headers = ["Group", "Rows", "Approval rate", "Ratio to the most-approved"]
        if rates:
            headers += ["True-positive rate (defaulters refused)", "False-positive rate (good payers refused)"]
        rows = []
        for g in obj.groups:
            row = [g["group"] + ("" if g["judged"] else " (too few to judge)"), g["n"], rate(g["approval_rate"]),
                   rate(g["ratio"])]  # fmt: skip
            if rates:
                row += [rate(g.get("tpr")), rate(g.get("fpr"))]
            rows.append(row)
        return table(headers, rows, "fairness-groups")

    @admin.display(description="Findings")
    def findings_list(self, obj: FairnessReport) -> str:
        if not obj.findings:
            return "No disparity above the configured limits."
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((f,) for f in obj.findings)))
