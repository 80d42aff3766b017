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
from creditplatform.admin_mixins import EvidenceAdminMixin, PlatformModelAdmin, ThemedFormMixin, admin_table
from governance.choices import OutcomeSource
from governance.models import (
    FairnessReport,
    Outcome,
    PerformanceReport,
    PromotionKind,
    PromotionRequest,
    PromotionStatus,
    refer_band_label,
    thresholds_label,
)
from governance.performance import chart_options, performance_history_chart
from governance.promotion import (
    APPROVE_PERMISSION,
    OWN_REQUEST,
    promotion_evidence,
    promotion_request_approve,
    promotion_request_check,
    promotion_request_create,
    promotion_request_reject,
)
from governance.services import (
    OUTCOME_FIELDS,
    OutcomeFileError,
    OutcomeImportError,
    outcome_rows_from_csv,
    outcomes_import,
)

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
# The new-request form, in the order of the kinds (a version's role, a rule, a band, thresholds).
ADD_FIELDS = ["kind", "model_version", "target_status", "fraud_rule", "proposed_refer_lower", "proposed_refer_upper",
              "proposed_review_threshold", "proposed_block_threshold", "reason"]  # fmt: skip
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
        if obj.champion is not None:
            headers.append(f"{obj.champion.version} (champion, same decisions)")
        rows = []
        for key, label, kind in FIGURES:
            row = [label, figure(obj.metrics.get(key), kind)]
            if obj.champion_id:
                row.append(figure(obj.champion_metrics.get(key), kind))
            rows.append(row)
        return admin_table(headers, rows, "performance-figures")

    @admin.display(description="Calibration by score decile")
    def calibration_table(self, obj: PerformanceReport) -> str:
        rows = [
            [c["decile"], c["n"], figure(c["predicted"], "%"), figure(c["observed"], "%")]
            for c in obj.metrics.get("calibration", [])
        ]
        if not rows:
            return "–"
        return admin_table(
            ["Decile", "Decisions", "Predicted default rate", "Observed default rate"], rows, "calibration"
        )

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
        return admin_table(headers, rows, "fairness-groups")

    @admin.display(description="Findings")
    def findings_list(self, obj: FairnessReport) -> str:
        if not obj.findings:
            return "No disparity above the configured limits."
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((f,) for f in obj.findings)))


class PromotionRequestForm(ThemedFormMixin, forms.ModelForm):
    """A new request: a model version and the role it should take, a fraud rule to activate, a
    version's refer band, or the fraud score thresholds."""

    target_status = forms.ChoiceField(
        choices=[("", "–"), ("champion", "Champion (serves /score)"), ("challenger", "Challenger (shadow)")],
        required=False,
        help_text="For a model version.",
    )

    class Meta:
        model = PromotionRequest
        fields = ADD_FIELDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only the add page edits; on a request's own page every field is read-only, and the
        # admin leaves read-only fields out of the form.
        kind = self.fields.get("kind")
        if kind is not None:
            assert isinstance(kind, forms.ChoiceField)  # noqa: S101 (the model's choices)
            kind.choices = PromotionKind.choices
            kind.initial = PromotionKind.MODEL
            kind.help_text = "What the request changes; fill in the fields of that kind below."
        rules = self.fields.get("fraud_rule")
        if rules is None:
            return
        assert isinstance(rules, forms.ModelChoiceField)  # noqa: S101 (the model's foreign key)
        rules.queryset = rules.queryset.filter(is_active=False) if rules.queryset is not None else None
        rules.help_text = "Or an inactive fraud rule to activate."
        self.fields["model_version"].help_text = "A version to promote, or whose refer band to change."

    def clean(self) -> dict[str, Any]:
        """The service's check of the request (``promotion_request_check``), its messages on the fields."""
        from django.core.exceptions import ValidationError

        data = super().clean() or {}
        if not data.get("kind") or self.errors:
            return data
        arguments = promotion_arguments(data)
        # What the kind does not use is not kept (nor checked against the table's constraints).
        data.update(model_version=arguments["model_version"], target_status=arguments["target_status"],
                    fraud_rule=arguments["fraud_rule"])  # fmt: skip
        lower, upper = arguments["refer_band"] or (None, None)
        review, block = arguments["fraud_thresholds"] or (None, None)
        data.update(proposed_refer_lower=lower, proposed_refer_upper=upper, proposed_review_threshold=review,
                    proposed_block_threshold=block)  # fmt: skip
        try:
            promotion_request_check(**arguments)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                name = PROPOSED_FIELDS.get(field, field)
                self.add_error(name if name in self.fields else None, messages)
        return data


# The service's names of the settings' values -> the request's fields that hold the proposed ones.
PROPOSED_FIELDS = {
    "refer_lower": "proposed_refer_lower",
    "refer_upper": "proposed_refer_upper",
    "review_threshold": "proposed_review_threshold",
    "block_threshold": "proposed_block_threshold",
}


def promotion_arguments(data: dict[str, Any]) -> dict[str, Any]:
    """What the new-request form asks for, as ``promotion_request_check`` and ``_create`` take it."""
    kind = data.get("kind") or PromotionKind.MODEL
    for_version = kind in (PromotionKind.MODEL, PromotionKind.REFER_BAND)
    band = kind == PromotionKind.REFER_BAND
    thresholds = kind == PromotionKind.FRAUD_THRESHOLDS
    return {
        "model_version": data.get("model_version") if for_version else None,
        "target_status": (data.get("target_status") or "") if kind == PromotionKind.MODEL else "",
        "fraud_rule": data.get("fraud_rule") if kind == PromotionKind.RULE else None,
        "refer_band": (data.get("proposed_refer_lower"), data.get("proposed_refer_upper")) if band else None,
        "fraud_thresholds": (data.get("proposed_review_threshold"), data.get("proposed_block_threshold"))
        if thresholds
        else None,
    }


@admin.register(PromotionRequest)
class PromotionRequestAdmin(PlatformModelAdmin):
    """Four eyes: one admin requests a promotion, another reviews the evidence and approves it."""

    list_display = ["id", "requested_at", "target", "status", "requested_by", "decided_by", "review_link"]
    list_filter = ["status", "kind", "four_eyes"]
    list_select_related = ["model_version", "fraud_rule", "requested_by", "decided_by"]
    form = PromotionRequestForm
    readonly = ["kind", "model_version", "target_status", "fraud_rule", "rule_version", "proposed_change", "reason",
                "status", "four_eyes", "requested_by", "requested_at", "decided_by", "decided_at", "decision_note",
                "review_link"]  # fmt: skip

    @admin.display(description="Promotion")
    def target(self, obj: PromotionRequest) -> str:
        return obj.target_label

    @admin.display(description="Proposed change")
    def proposed_change(self, obj: PromotionRequest) -> str:
        return proposed_change_table(obj) if obj.proposed_values else "–"

    @admin.display(description="Evidence")
    def review_link(self, obj: PromotionRequest) -> str:
        url = reverse("admin:governance_promotionrequest_review", args=[obj.pk])
        return format_html('<a class="text-primary-600" href="{}">{}</a>', url,
                           "Review and decide" if obj.status == PromotionStatus.PENDING else "Evidence")  # fmt: skip

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.readonly if obj else ADD_FIELDS

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.readonly if obj else []

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(APPROVE_PERMISSION)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # decided on the review page, never edited

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # evidence of who let what go live

    def save_model(self, request: HttpRequest, obj: PromotionRequest, form: Any, change: bool) -> None:
        data = form.cleaned_data
        created = promotion_request_create(
            user=request.user, reason=data.get("reason") or "", **promotion_arguments(data)
        )
        obj.pk = created.pk
        if created.status == PromotionStatus.APPROVED:
            self.message_user(request, "Four eyes are off: carried out at once.", messages.WARNING)

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        from django.core.exceptions import ValidationError

        try:
            return super().add_view(request, form_url, extra_context)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return HttpResponseRedirect(request.path)

    def response_add(self, request: HttpRequest, obj: PromotionRequest, post_url_continue: str | None = None) -> Any:
        return HttpResponseRedirect(reverse("admin:governance_promotionrequest_review", args=[obj.pk]))

    def get_urls(self) -> list[Any]:
        own = [
            path("<int:pk>/review/", self.admin_site.admin_view(self.review_view),
                 name="governance_promotionrequest_review"),
        ]  # fmt: skip
        return own + super().get_urls()

    def review_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The approver's page: the request, the evidence, and (POST) approve or reject."""
        from django.core.exceptions import ValidationError
        from django.shortcuts import get_object_or_404

        if not self.has_view_permission(request):
            raise PermissionDenied
        promotion = get_object_or_404(
            PromotionRequest.objects.select_related("model_version", "fraud_rule", "requested_by", "decided_by"), pk=pk
        )
        if request.method == "POST":
            decision, note = request.POST.get("decision"), request.POST.get("note", "")
            try:
                if decision == "approve":
                    promotion_request_approve(request=promotion, user=request.user, note=note)
                    self.message_user(request, f"Approved: {promotion.target_label}.", messages.SUCCESS)
                elif decision == "reject":
                    done = promotion_request_reject(request=promotion, user=request.user, note=note)
                    self.message_user(request, f"Request {done.status}.", messages.SUCCESS)
                else:
                    self.message_user(request, "Choose approve or reject.", messages.ERROR)
            except PermissionDenied as exc:
                self.message_user(request, str(exc) or "Not allowed.", messages.ERROR)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
            except Exception as exc:  # the model file fails its checks, a rule does not compile
                from scoring.ml.model import ArtifactError

                if not isinstance(exc, ArtifactError):
                    raise
                self.message_user(request, f"Cannot be carried out: {exc}", messages.ERROR)
            return HttpResponseRedirect(request.path)
        own = promotion.requested_by_id == request.user.pk
        context = {
            **self.admin_site.each_context(request),
            "title": f"Promotion request #{promotion.pk}: {promotion.target_label}",
            "opts": self.model._meta,
            "promotion": promotion,
            "sections": evidence_sections(promotion_evidence(promotion), promotion),
            "own": own,
            "own_message": OWN_REQUEST,
            "can_decide": promotion.status == PromotionStatus.PENDING and request.user.has_perm(APPROVE_PERMISSION),
        }
        return TemplateResponse(request, "admin/governance/promotionrequest/review.html", context)


def refer_evidence(evidence: dict[str, Any]) -> str:
    """The version's refer band (and the champion's), and the referral rate of their own decisions."""
    from scoring.selectors import refer_band_text

    version, champion = evidence["version"], evidence["champion"]
    headers = ["Refer band", version.version] + ([f"{champion.version} (champion now)"] if champion else [])

    def referred(figures: dict[str, Any]) -> str:
        if not figures["decisions"]:
            return "no decisions yet"
        return f"{rate(figures['rate'])} ({figures['referred']} of {figures['decisions']} decisions)"

    rows = [
        ["Band", refer_band_text(version)] + ([refer_band_text(champion)] if champion else []),
        ["Referral rate of its own decisions", referred(evidence["referrals"])]
        + ([referred(evidence["champion_referrals"])] if champion else []),
    ]
    return admin_table(headers, rows, "refer")


def proposed_change_table(promotion: PromotionRequest, current: dict[str, Any] | None = None) -> str:
    """A setting's request: the values when requested, those proposed and (given) those in force now."""
    label = refer_band_label if promotion.kind == PromotionKind.REFER_BAND else thresholds_label
    headers = ["", "When requested", "Proposed"] + (["In force now"] if current is not None else [])
    row = [promotion.get_kind_display(), label(promotion.current_values), label(promotion.proposed_values)]
    return admin_table(headers, [row + ([label(current)] if current is not None else [])], "proposed-change")


def evidence_sections(evidence: dict[str, Any], promotion: PromotionRequest) -> list[tuple[str, str, str]]:
    """(id, title, html) blocks of the review page, in reading order."""
    sections: list[tuple[str, str, str]] = []
    if "setting" in evidence:
        note = ""
        if promotion.status == PromotionStatus.PENDING:
            note = (
                f"The {evidence['setting']} changed after the request: approving it is refused; turn it down."
                if evidence["current"] != evidence["requested_from"]
                else "Approving it applies the proposed values at once, through the setting's own service "
                "(checked again, and recorded in the audit trail)."
            )
        html: str = format_html("{}<p class='mt-2'>{}</p>", proposed_change_table(promotion, evidence["current"]), note)
        sections.append(("evidence-setting", f"The proposed change of the {evidence['setting']}", html))
        if "version" in evidence:
            version = evidence["version"]
            figures = evidence["referrals"]
            referred = (
                f"{rate(figures['rate'])} ({figures['referred']} of {figures['decisions']} decisions)"
                if figures["decisions"]
                else "no decisions yet"
            )
            rows = [
                ["Version", f"{version.version} ({version.status}), threshold {version.threshold:g}"],
                ["Referral rate of its own decisions (under the bands in force when made)", referred],
            ]
            sections.append(("evidence-refer", "The version and its referrals", admin_table(["", ""], rows, "refer")))
        return sections
    if "rule" in evidence:
        rule = evidence["rule"]
        backtest = reverse("admin:fraud_fraudrule_backtest") + f"?rule={rule.pk}"
        html = format_html(
            "{}<p class='mt-2'>{} <a class='text-primary-600' id='run-backtest' href='{}'>Run the back-test</a> "
            "(on the stored fraud checks and their confirmed labels).</p>",
            admin_table(
                ["Field", "Value"],
                [
                    ["Condition", rule.condition],
                    ["Action", rule.action],
                    ["Weight", rule.weight],
                    ["Version", rule.version],
                ],
                "rule-evidence",
            ),  # fmt: skip
            "The rule changed after the request: check the new version." if evidence["rule_changed"] else "",
            backtest,
        )
        sections.append(("evidence-rule", "The rule and its back-test", html))
        return sections
    version, champion = evidence["version"], evidence["champion"]
    keys = [("auc", "AUC"), ("gini", "Gini"), ("ks", "KS"), ("auc_required_only", "AUC, required features only"),
            ("threshold", "Threshold"), ("business_cost_per_application", "Business cost per application"),
            ("refusal_rate", "Refusal rate"), ("n_train", "Training rows")]  # fmt: skip
    headers = ["Hold-out metric", version.version] + ([f"{champion.version} (champion now)"] if champion else [])
    rows = [
        [label, figure((version.metrics or {}).get(key))]
        + ([figure((champion.metrics or {}).get(key))] if champion else [])
        for key, label in keys
    ]
    sections.append(("evidence-metrics", "Metrics on the training hold-out set", admin_table(headers, rows, "metrics")))
    shadow = evidence["shadow"]
    if shadow["decisions"]:
        rows = [
            ["Decisions scored in shadow", shadow["decisions"]],
            ["Agreement with the champion", rate(shadow["agreement"])],
            ["Mean absolute difference of probability", figure(shadow["mean_abs_difference"])],
            ["Champion refused, challenger approved", shadow["champion_refused_challenger_approved"]],
            ["Champion approved, challenger refused", shadow["champion_approved_challenger_refused"]],
        ]
        html = admin_table(["Shadow comparison", ""], rows, "shadow")
    else:
        html = format_html("<p>{}</p>", "No shadow decisions: make it the challenger first to compare on live traffic.")
    sections.append(("evidence-shadow", "Shadow comparison with the champion", html))
    refer_html = refer_evidence(evidence)
    if evidence["band_requested"] is not None and promotion.status == PromotionStatus.PENDING:
        refer_html = format_html(
            "{}<p class='mt-2'>{}</p>",
            refer_html,
            f"The refer band changed after the request ({refer_band_label(evidence['band_requested'])} when "
            "requested): approving it is refused; turn it down.",
        )
    sections.append(("evidence-refer", "Refer band and referrals", refer_html))
    if evidence["status_requested"] is not None and promotion.status == PromotionStatus.PENDING:
        html = format_html(
            "<p>{}</p>",
            f"The version's status changed after the request ({evidence['status_requested']} when requested, "
            f"{version.status} now): approving it is refused; turn it down.",
        )
        sections.insert(0, ("evidence-status", "The version changed role", html))
    if evidence["performance"]:
        rows = []
        for r in evidence["performance"]:
            basis = f"shadow of {r.champion.version}" if r.champion_id else "own decisions"
            if not r.sufficient:
                rows.append([r.as_of, basis, r.matured, r.immature, "too few outcomes", "", ""])
                continue
            champion_auc = figure(r.champion_metrics.get("auc")) if r.champion_metrics else "–"
            rows.append([r.as_of, basis, r.matured, r.immature, figure(r.metrics.get("auc")), champion_auc,
                         figure(r.metrics.get("brier"))])  # fmt: skip
        headers = ["As of", "Basis", "Matured", "Immature", "AUC", "Champion AUC (same decisions)", "Brier"]
        html = admin_table(headers, rows, "performance")
    else:
        html = format_html("<p>{}</p>", "No performance report yet (python manage.py performance_report).")
    sections.append(("evidence-performance", "Performance on matured labels", html))
    if evidence["fairness"]:
        parts = []
        for r in evidence["fairness"]:
            rows = [[g["group"], g["n"], rate(g["approval_rate"]), rate(g["ratio"])] for g in r.groups]
            parts.append(
                format_html(
                    "<h3 class='font-semibold mt-3'>{} ({}, {}): {}</h3>{}",
                    r.feature,
                    r.get_basis_display(),
                    r.as_of,
                    "DISPARITY above the configured limits" if r.flagged else "within the configured limits",
                    admin_table(["Group", "Rows", "Approval rate", "Ratio"], rows, f"fairness-{r.pk}"),
                )  # fmt: skip
            )
        html = format_html_join("", "{}", ((p,) for p in parts))
    else:
        html = format_html("<p>{}</p>", "No fairness report yet (python manage.py fairness_report [--holdout]).")
    sections.append(("evidence-fairness", "Fairness", html))
    return sections
