"""Admin of clients, applications, the model registry and decisions."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from accounts.actors import acting_user
from creditplatform.admin_mixins import (
    EvidenceAdminMixin,
    LargeTableAdminMixin,
    PlatformModelAdmin,
    ThemedFormMixin,
    admin_table,
)
from scoring.admin_forms import CreditApplicationForm, ModelUploadForm, ModelVersionChangeForm
from scoring.batch import admin as batch_admin  # noqa: F401,E402  (registers BatchJobAdmin)
from scoring.choices import REVIEW_ENDED, ModelStatus
from scoring.ml.model import ArtifactError
from scoring.models import Client, CreditApplication, Decision, ModelVersion
from scoring.review import admin as review_admin  # noqa: F401,E402  (registers ReviewCaseAdmin)
from scoring.review.services import TAKE_PERMISSION, review_case_open_override
from scoring.selectors import decision_search, shadow_agreement
from scoring.services import (
    client_change_check,
    model_version_activate,
    model_version_delete,
    model_version_may_delete,
    model_version_register,
    model_version_retire,
    model_version_set_refer_band,
)


class OverrideRequestForm(ThemedFormMixin, forms.Form):
    note = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        help_text="Why this automated decision should be looked at again.",
    )


@admin.register(Client)
class ClientAdmin(PlatformModelAdmin):
    list_display = ["client_id", "last_name", "first_name", "email", "erased_at", "created_at"]
    list_filter = [("erased_at", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["client_id", "last_name", "email"]
    readonly_fields = ["erased_at", "created_at", "updated_at"]

    def get_readonly_fields(self, request, obj=None):
        # The external id is the link every other system holds: fixed once created.
        return [*self.readonly_fields, "client_id"] if obj else self.readonly_fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # An erased client is shown read-only: it takes no new data (the service's rule).
        try:
            client_change_check(client=obj)
        except ValidationError:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Nobody deletes a person here, not even a superuser: that bypasses the request, the
        # legal holds and the certificate. A GDPR erasure request is the only way.
        return False


@admin.register(CreditApplication)
class CreditApplicationAdmin(PlatformModelAdmin):
    list_display = ["__str__", "client", "amount", "duration_months", "purpose", "status", "created_at"]
    list_filter = ["status", "purpose", "created_at"]
    search_fields = ["application_id", "client__client_id"]
    list_select_related = ["client"]
    raw_id_fields = ["client"]
    readonly_fields = ["created_at", "updated_at"]
    form = CreditApplicationForm  # no application given to an erased client

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # What is kept of an erased client's application is part of a decision record, with its
        # reference cleared: read-only, like the client (the service's rule).
        try:
            client_change_check(client=obj.client if obj is not None else None)
        except ValidationError:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # personal data and decision records: GDPR erasure or the retention job only


def _value(value: Any) -> str:
    if value is None:
        return "– (not sent)"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if not value.is_integer() else f"{int(value):,}"
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _probability(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _metric(obj: ModelVersion, name: str) -> Any:
    value = (obj.metrics or {}).get(name)
    return "–" if value is None else value


@admin.register(ModelVersion)
class ModelVersionAdmin(PlatformModelAdmin):
    """The registry: upload (checked), compare, activate as champion or challenger, retire."""

    change_form_template = "admin/scoring/modelversion/change_form.html"  # + the model card link

    list_display = ["version", "purpose", "status", "auc", "gini", "ks", "cost", "threshold", "activated_at"]
    list_filter = ["purpose", "status"]
    search_fields = ["version", "dataset"]
    list_select_related = ["created_by", "activated_by"]
    ordering = ["purpose", "-created_at"]
    actions = ["compare_versions", "activate_champion", "activate_challenger", "retire"]
    readonly_fields = [
        "purpose",
        "version",
        "status",
        "threshold",
        "dataset",
        "sha256",
        "schema_table",
        "metrics_table",
        "shadow_summary",
        "created_by",
        "created_at",
        "activated_by",
        "activated_at",
    ]
    fields = [*readonly_fields[:4], "refer_lower", "refer_upper", readonly_fields[4], "notes", *readonly_fields[5:]]

    @admin.display(description="AUC")
    def auc(self, obj: ModelVersion) -> Any:
        return _metric(obj, "auc")

    @admin.display(description="Gini")
    def gini(self, obj: ModelVersion) -> Any:
        return _metric(obj, "gini")

    @admin.display(description="KS")
    def ks(self, obj: ModelVersion) -> Any:
        return _metric(obj, "ks")

    @admin.display(description="Cost / application")
    def cost(self, obj: ModelVersion) -> Any:
        return _metric(obj, "business_cost_per_application")

    @admin.display(description="Feature schema")
    def schema_table(self, obj: ModelVersion) -> str:
        rows = format_html_join(
            "",
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    f["name"],
                    ", ".join(f.get("aliases", [])),
                    f.get("label", ""),
                    f["type"],
                    ", ".join(f.get("categories", [])) or f"{f.get('min')} – {f.get('max')}",
                    "yes" if f.get("required") else "",
                )
                for f in obj.feature_schema
            ),
        )
        head = (
            "<tr><th>name</th><th>also accepted as</th><th>label</th><th>type</th><th>range / categories</th>"
            "<th>required</th></tr>"
        )
        return format_html("<table>{}{}</table>", mark_safe(head), rows)  # noqa: S308 (a constant)

    @admin.display(description="Metrics (hold-out)")
    def metrics_table(self, obj: ModelVersion) -> str:
        def readable(value: Any) -> str:
            if isinstance(value, dict):
                return ", ".join(f"{k.replace('_', ' ')} {readable(v)}" for k, v in value.items())
            if isinstance(value, float):
                return f"{value:.4g}"
            return json.dumps(value) if isinstance(value, list) else str(value)

        rows = [(name.replace("_", " "), readable(value)) for name, value in sorted((obj.metrics or {}).items())]
        return admin_table(["metric", "value"], rows, "model-metrics")

    @admin.display(description="Shadow scoring (as challenger)")
    def shadow_summary(self, obj: ModelVersion) -> str:
        stats = shadow_agreement(model_version=obj)
        if not stats["decisions"]:
            return "No decision scored in shadow by this version."
        return format_html(
            "{} decisions scored in shadow ({} could not take the inputs); same decision as the champion "
            "in <strong>{}</strong>; mean |Δ probability| {}; champion refused / challenger approved {}; "
            "champion approved / challenger refused {}.",
            stats["decisions"],
            stats["unscored"],
            f"{stats['agreement']:.1%}" if stats["agreement"] is not None else "–",
            f"{stats['mean_abs_difference']:.4f}" if stats["mean_abs_difference"] is not None else "–",
            stats["champion_refused_challenger_approved"],
            stats["champion_approved_challenger_refused"],
        )

    # --- adding: a checked upload ---------------------------------------------------------

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        kwargs["form"] = ModelUploadForm if obj is None else ModelVersionChangeForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return [
                "purpose",
                "version",
                "model_file",
                "schema_json",
                "threshold",
                "metrics_json",
                "training_data",
                "notes",
            ]
        return self.fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.readonly_fields if obj is not None else []

    def save_model(self, request: HttpRequest, obj: ModelVersion, form: Any, change: bool) -> None:
        if change:
            obj.save(update_fields=["notes"])
            # The band through its service: checked again under a lock, audited, served at once.
            model_version_set_refer_band(
                model_version=obj,
                lower=form.cleaned_data.get("refer_lower"),
                upper=form.cleaned_data.get("refer_upper"),
                user=acting_user(request.user),
            )
            return
        data = form.cleaned_data
        created = model_version_register(
            purpose=data["purpose"],
            version=data["version"],
            artifact=data["model_file"],
            feature_schema=data["schema_json"],
            threshold=data["threshold"],
            metrics=data["metrics_json"],
            dataset=data.get("training_data", ""),
            notes=data.get("notes", ""),
            created_by=acting_user(request.user),
        )
        # The admin goes on with ``obj`` (log entry, redirect): point it at the stored row.
        obj.pk, obj._state.adding = created.pk, False
        obj.refresh_from_db()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A version that served is evidence (the service's rule); one that never did may go.
        if obj is not None and not model_version_may_delete(obj):
            return False
        return super().has_delete_permission(request, obj)

    def delete_model(self, request: HttpRequest, obj: ModelVersion) -> None:
        model_version_delete(model_version=obj, user=acting_user(request.user))  # checked again, audited

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        for model_version in queryset:  # bulk delete is off site-wide; never a way round the service
            self.delete_model(request, model_version)

    # --- actions --------------------------------------------------------------------------

    def _activate(self, request: HttpRequest, queryset: QuerySet[ModelVersion], status: str) -> None:
        if queryset.count() != 1:
            self.message_user(request, f"Select exactly one version to make {status}.", messages.ERROR)
            return
        target = queryset.get()
        try:
            model_version_activate(model_version=target, status=status, user=acting_user(request.user))
        except PermissionDenied as exc:  # four eyes: a second admin approves (governance: promotion requests)
            self.message_user(request, str(exc), messages.WARNING)
            return
        except ArtifactError as exc:
            self.message_user(request, f"{target.version} cannot serve: {exc}", messages.ERROR)
            return
        except ValidationError as exc:  # the champion is never made challenger (the service's message)
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return
        self.log_change(request, target, f"Activated as {status}.")
        self.message_user(request, f"{target.version} is now the {target.purpose} {status}.", messages.SUCCESS)

    @admin.action(description="Activate as champion (serves /score)", permissions=["change"])
    def activate_champion(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        self._activate(request, queryset, ModelStatus.CHAMPION)

    @admin.action(description="Activate as challenger (shadow scoring)", permissions=["change"])
    def activate_challenger(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        self._activate(request, queryset, ModelStatus.CHALLENGER)

    @admin.action(description="Retire", permissions=["change"])
    def retire(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        for model_version in queryset:
            model_version_retire(model_version=model_version, user=acting_user(request.user))
            self.log_change(request, model_version, "Retired.")
        self.message_user(request, f"{queryset.count()} version(s) retired.", messages.SUCCESS)

    @admin.action(description="Compare selected versions", permissions=["view"])
    def compare_versions(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> HttpResponse:
        versions = list(queryset.order_by("purpose", "created_at"))
        rows = [
            ("Purpose", [v.purpose for v in versions]),
            ("Status", [v.status for v in versions]),
            ("Data set", [v.dataset for v in versions]),
            ("Features", [len(v.feature_schema) for v in versions]),
            ("Threshold", [v.threshold for v in versions]),
        ]
        for key, label in [
            ("auc", "AUC"),
            ("gini", "Gini"),
            ("ks", "KS"),
            ("auc_required_only", "AUC, required features only"),
            ("business_cost_per_application", "Business cost per application"),
            ("refusal_rate", "Refusal rate"),
            ("num_trees", "Trees"),
            ("n_train", "Training rows"),
        ]:
            rows.append((label, [_metric(v, key) for v in versions]))
        shadow = [shadow_agreement(model_version=v) for v in versions]
        rows.append(("Shadow decisions", [s["decisions"] for s in shadow]))
        rows.append(
            (
                "Agreement with champion",
                [f"{s['agreement']:.1%}" if s["agreement"] is not None else "–" for s in shadow],
            )
        )
        context = {
            **self.admin_site.each_context(request),
            "title": "Compare model versions",
            "opts": self.model._meta,
            "versions": versions,
            "rows": rows,
        }
        return TemplateResponse(request, "admin/scoring/modelversion/compare.html", context)


@admin.register(Decision)
class DecisionAdmin(LargeTableAdminMixin, EvidenceAdminMixin, PlatformModelAdmin):
    """Credit decisions as people read them: probabilities in per cent, reasons and inputs as tables.

    The API returns the exact figures (and the raw JSON); the admin rounds them.
    """

    list_display = [
        "id",
        "created_at",
        "client",
        "decision",
        "probability",
        "risk_level",
        "model_version",
        "caller",
    ]
    list_filter = ["decision", "risk_level", "model_version", ("batch_job", admin.EmptyFieldListFilter), "created_at"]
    # Exact matches only, by the term's shape (scoring.selectors.decision_search): a decision's
    # or a job's id (the job page links here with it), a client id, a caller.
    search_fields = ["=id", "=batch_job__id", "=client__client_id", "=caller"]
    search_help_text = "A decision or batch job id, a client id (exact), or a caller (apikey:…)."
    list_select_related = ["client", "model_version"]
    raw_id_fields = ["client", "application", "model_version", "shadow_model_version", "batch_job"]
    date_hierarchy = "created_at"
    fields = [
        "id",
        "created_at",
        "client",
        "application",
        "decision",
        "final_decision",
        "decided_by",
        "decided_at",
        "review",
        "probability",
        "threshold",
        "risk_level",
        "model_version",
        "reasons_table",
        "inputs_table",
        "shadow",
        "latency",
        "caller",
    ]
    readonly_fields = fields

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Decision], search_term: str
    ) -> tuple[QuerySet[Decision], bool]:
        return decision_search(queryset, search_term), False

    @admin.display(description="probability of default", ordering="probability_default")
    def probability(self, obj: Decision) -> str:
        return _probability(obj.probability_default)

    @admin.display(description="threshold")
    def threshold(self, obj: Decision) -> str:
        return f"{_probability(obj.threshold_used)} (refused at or above)"

    @admin.display(description="review")
    def review(self, obj: Decision) -> str:
        """Its review cases, or the way to ask for one (an override of the automated decision)."""
        cases = list(obj.review_cases.order_by("created_at"))
        links = format_html_join(
            ", ",
            '<a href="{}">case {} ({})</a>',
            ((reverse("admin:scoring_reviewcase_change", args=[c.pk]), c.pk, c.get_status_display()) for c in cases),
        )
        if obj.final_outcome is not None and all(c.status in REVIEW_ENDED for c in cases):
            ask = format_html(
                '<a id="ask-override" href="{}">Ask for an override review</a>',
                reverse("admin:scoring_decision_override", args=[obj.pk]),
            )
            return format_html("{}{}{}", links, " · " if cases else "", ask)
        return links or "–"

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path("<uuid:pk>/override/", view(self.override_view), name="scoring_decision_override"),
            *super().get_urls(),
        ]

    def override_view(self, request: HttpRequest, pk: Any) -> HttpResponse:
        """An analyst asks to override this automated decision: a review case, assigned to them."""
        if not request.user.has_perm(TAKE_PERMISSION):
            raise PermissionDenied
        decision = get_object_or_404(Decision.objects.select_related("model_version"), pk=pk)
        form = OverrideRequestForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                case = review_case_open_override(
                    decision=decision, user=acting_user(request.user), note=form.cleaned_data["note"]
                )
            except ValidationError as exc:
                form.add_error(None, exc.messages)
            else:
                if case.assignee_id is None:  # their own request: a colleague reviews it (review_case_conflict)
                    text = "Review case opened: your own request, so it waits in the queue for a colleague."
                else:
                    text = "Review case opened and assigned to you."
                self.message_user(request, text, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:scoring_reviewcase_change", args=[case.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": decision,
            "title": f"Ask for an override of decision {decision.pk}",
            "form": form,
            "button": "Open a review case",
        }
        return TemplateResponse(request, "admin/scoring/decision/override.html", context)

    @admin.display(description="latency")
    def latency(self, obj: Decision) -> str:
        return f"{obj.latency_ms:.1f} ms"

    @admin.display(description="Reasons (what pushed the probability of default up most)")
    def reasons_table(self, obj: Decision) -> str:
        if not obj.reasons:
            return "–"
        rows = [
            (
                r.get("label") or r["feature"],
                _value(r.get("value")),
                f"{r['contribution']:+.3f} ({'raises' if r['contribution'] > 0 else 'lowers'} the risk)",
            )
            for r in obj.reasons
        ]
        return admin_table(["reason", "applicant's value", "effect (log-odds)"], rows, "decision-reasons")

    @admin.display(description="Inputs the model saw")
    def inputs_table(self, obj: Decision) -> str:
        labels = {f["name"]: f.get("label") or f["name"] for f in obj.model_version.feature_schema}
        rows = [(labels.get(name, name), _value(value)) for name, value in sorted(obj.features.items())]
        return admin_table(["input", "value"], rows, "decision-inputs")

    @admin.display(description="Challenger (shadow)")
    def shadow(self, obj: Decision) -> str:
        if obj.shadow_model_version_id is None:
            return "–"
        if obj.shadow_probability is None:
            return f"{obj.shadow_model_version}: could not take these inputs"
        verdict = "refuse" if obj.shadow_prediction else "approve"
        return f"{obj.shadow_model_version}: {verdict} at {_probability(obj.shadow_probability)}"
