"""Admin of the fraud domain.

Transactions, checks and rule versions are evidence (read-only). Rules are edited through
``fraud_rule_save`` (every change a new version); analysts propose inactive drafts and
back-test, admins activate. Alerts are worked from a queue: an analyst takes an unassigned
alert (or an admin assigns it), and only its assignee or an admin resolves it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_http_methods, require_POST

from accounts.actors import acting_user
from creditplatform.admin_mixins import (
    EvidenceAdminMixin,
    PlatformModelAdmin,
    PlatformStackedInline,
    PlatformTabularInline,
)
from fraud.admin_forms import AlertAssignForm, AlertResolveForm, BacktestForm, FraudRuleForm, FraudSettingsForm
from fraud.choices import AlertStatus
from fraud.models import FraudAlert, FraudCheck, FraudRule, FraudRuleVersion, FraudSettings, Transaction
from fraud.rules import FIELDS
from fraud.services import (
    RULE_FIELDS,
    fraud_alert_assign,
    fraud_alert_can_resolve,
    fraud_alert_resolve,
    fraud_alert_take,
    fraud_rule_backtest,
    fraud_rule_condition_warning,
    fraud_rule_may_activate,
    fraud_rule_may_edit,
    fraud_rule_save,
    fraud_settings_update,
)

BACKTEST = "fraud.backtest_fraudrule"


class FraudCheckDisplay:
    """How a fraud check reads in the admin (list, page and inline alike): scores in per cent, rules as lines."""

    @admin.display(description="fraud score", ordering="fraud_score")
    def score(self, obj: FraudCheck) -> str:
        return f"{obj.fraud_score:.1%}"

    # Not ``model``: the admin looks a read-only name up on the ModelAdmin first, and
    # ``ModelAdmin.model`` is the model class (``FraudCheck(obj)`` would be displayed).
    @admin.display(description="model score")
    def model_score_shown(self, obj: FraudCheck) -> str:
        return "– (rules only)" if obj.model_score is None else f"{obj.model_score:.1%}"

    @admin.display(description="latency")
    def latency(self, obj: FraudCheck) -> str:
        return f"{obj.latency_ms:.1f} ms"

    @admin.display(description="thresholds in force")
    def thresholds_shown(self, obj: FraudCheck) -> str:
        bands = obj.thresholds or {}
        if not bands:
            return "-"
        return f"review from {bands.get('review', '-')}, block from {bands.get('block', '-')}"

    @admin.display(description="rule versions evaluated")
    def rules_evaluated(self, obj: FraudCheck) -> str:
        """Every version the decision ran (not only those that fired), with an evaluation error if any."""
        if obj.rule_set_id is None:
            return "none recorded"
        refs = obj.rule_versions
        if not refs:
            return "no active rule"
        lines = ((r["rule"], r["version"], f" (failed: {r['error']})" if r.get("error") else "") for r in refs)
        return format_html_join(", ", "<code>{} v{}</code>{}", lines)

    @admin.display(description="Rules that fired")
    def rules(self, obj: FraudCheck) -> str:
        if not obj.triggered_rules:
            return "none"
        lines = (
            (r["name"], r["version"], r.get("action", ""), r.get("weight", ""), r.get("reason", ""))
            for r in obj.triggered_rules
        )
        return format_html_join("", "<div><code>{} v{}</code> ({}, weight {}): {}</div>", lines)


class FraudCheckInline(FraudCheckDisplay, PlatformStackedInline):
    model = FraudCheck
    fields = ["decision", "score", "model_score_shown", "risk_level", "model_version", "rules", "created_at"]
    readonly_fields = fields
    can_delete = False
    extra = 0

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Transaction)
class TransactionAdmin(EvidenceAdminMixin, PlatformModelAdmin):
    list_display = [
        "transaction_id",
        "submitted_by",
        "client",
        "amount",
        "currency",
        "type",
        "channel",
        "country",
        "timestamp",
    ]
    list_filter = ["type", "channel", "currency", "timestamp"]
    search_fields = ["transaction_id", "submitted_by", "client__client_id"]
    list_select_related = ["client"]
    raw_id_fields = ["client"]
    date_hierarchy = "timestamp"
    inlines = [FraudCheckInline]


@admin.register(FraudCheck)
class FraudCheckAdmin(FraudCheckDisplay, EvidenceAdminMixin, PlatformModelAdmin):
    list_display = ["transaction", "decision", "score", "risk_level", "model_version", "created_at"]
    list_filter = ["decision", "risk_level", "created_at"]
    search_fields = ["transaction__transaction_id", "transaction__client__client_id"]
    list_select_related = ["transaction", "model_version"]
    raw_id_fields = ["transaction", "model_version"]
    date_hierarchy = "created_at"
    fields = [
        "transaction", "decision", "score", "model_score_shown", "risk_level", "thresholds_shown", "rules",
        "rules_evaluated", "model_version", "latency", "caller", "created_at",
    ]  # fmt: skip
    readonly_fields = fields


# --- Rules ---------------------------------------------------------------------------------


class FraudRuleVersionInline(PlatformTabularInline):
    """The history of a rule, newest first (read-only)."""

    model = FraudRuleVersion
    fields = ["version", "condition", "action", "weight", "is_active", "order", "note", "created_by", "created_at"]
    readonly_fields = fields
    ordering = ["-version"]
    can_delete = False
    extra = 0
    verbose_name_plural = "history (every change is a version)"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(FraudRule)
class FraudRuleAdmin(PlatformModelAdmin):
    form = FraudRuleForm
    list_display = ["name", "action", "weight", "is_active", "order", "version", "updated_at", "backtest_link"]
    list_filter = ["is_active", "action"]
    search_fields = ["name", "condition", "description"]
    list_select_related = ["updated_by"]
    readonly_fields = ["version", "created_by", "updated_by", "created_at", "updated_at"]
    ordering = ["order", "name"]
    inlines = [FraudRuleVersionInline]
    actions = ["activate_rules", "deactivate_rules"]
    change_list_template = "admin/fraud/fraudrule/change_list.html"

    def has_activate_permission(self, request: HttpRequest) -> bool:
        return request.user.is_authenticated and fraud_rule_may_activate(acting_user(request.user))

    def has_change_permission(self, request: HttpRequest, obj: FraudRule | None = None) -> bool:
        # Analysts change drafts only; an active rule is an admin's (the service's rule).
        if obj is not None and not (
            request.user.is_authenticated and fraud_rule_may_edit(acting_user(request.user), obj)
        ):
            return False
        return super().has_change_permission(request, obj)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        form.editor = acting_user(request.user)  # the form shows the service's "who may edit" error
        return form

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # checks name their rule versions: deactivate instead

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(self.readonly_fields)
        if not self.has_activate_permission(request):
            fields.append("is_active")
        return fields

    @admin.display(description="Back-test")
    def backtest_link(self, obj: FraudRule) -> str:
        url = reverse("admin:fraud_fraudrule_backtest") + f"?rule={obj.pk}"
        return format_html('<a href="{}">back-test</a>', url)

    def save_model(self, request: HttpRequest, obj: FraudRule, form: Any, change: bool) -> None:
        fields = {name: form.cleaned_data[name] for name in RULE_FIELDS if name in form.cleaned_data}
        try:
            saved = fraud_rule_save(
                user=acting_user(request.user),
                rule=obj if change else None,
                note=form.cleaned_data.get("note", ""),
                **fields,
            )
        except ValidationError as exc:  # the form checked the same things: only a race gets here
            raise PermissionDenied(str(exc)) from exc
        obj.pk, obj.version, obj.is_active = saved.pk, saved.version, saved.is_active
        if warning := fraud_rule_condition_warning(saved.condition):
            messages.warning(request, warning)

    @admin.action(description="Activate selected rules (new version)", permissions=["activate"])
    def activate_rules(self, request: HttpRequest, queryset: QuerySet[FraudRule]) -> None:
        self._set_active(request, queryset, True)

    @admin.action(description="Deactivate selected rules (new version)", permissions=["activate"])
    def deactivate_rules(self, request: HttpRequest, queryset: QuerySet[FraudRule]) -> None:
        self._set_active(request, queryset, False)

    def _set_active(self, request: HttpRequest, queryset: QuerySet[FraudRule], active: bool) -> None:
        """All the selected rules or none: a rule the service refuses (four eyes, a condition the
        language now refuses) leaves every rule as it was, and the message names it."""
        verb = "activated" if active else "deactivated"
        rules = [rule for rule in queryset if rule.is_active != active]
        current = None
        try:
            with transaction.atomic():
                for current in rules:
                    fraud_rule_save(user=acting_user(request.user), rule=current, is_active=active, note=verb)
        except PermissionDenied as exc:  # four eyes: activation is a promotion request
            self.message_user(request, f"No rule {verb}: {exc}", messages.WARNING)
            return
        except ValidationError as exc:
            name = current.name if current is not None else "?"
            self.message_user(request, f"No rule {verb}: {name}: {' '.join(exc.messages)}", messages.ERROR)
            return
        self.message_user(request, f"{len(rules)} rule(s) {verb}.", messages.SUCCESS)

    def get_urls(self) -> list[Any]:
        view = require_http_methods(["GET", "POST"])(self.backtest_view)
        urls = [path("backtest/", self.admin_site.admin_view(view), name="fraud_fraudrule_backtest")]
        return urls + super().get_urls()

    def backtest_view(self, request: HttpRequest) -> HttpResponse:
        """The back-test form (GET, prefilled by ``?rule=``/``?version=``); a POST runs it.

        Running one is an action (minutes of a child process's CPU at most), not a read: it
        is a POST with a CSRF token, never something a link or a prefetch can start.
        """
        if not request.user.has_perm(BACKTEST):
            raise PermissionDenied
        result = label = condition = None
        if request.method == "POST":
            form = BacktestForm(request.POST)
            if form.is_valid():
                label, condition = form.target()
                start, end = form.period()
                try:
                    result = fraud_rule_backtest(condition=condition, start=start, end=end)
                except ValidationError as exc:
                    form.add_error("condition" if form.cleaned_data.get("condition") else None, exc.messages)
        else:
            form = BacktestForm(initial={k: request.GET[k] for k in ("rule", "version") if request.GET.get(k)})
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Back-test a fraud rule",
            "form": form,
            "result": result,
            "label": label,
            "tested_condition": condition,
            "fields": FIELDS,
            "max_rows": settings.FRAUD_BACKTEST_MAX_ROWS,
        }
        return TemplateResponse(request, "admin/fraud/fraudrule/backtest.html", context)


@admin.register(FraudRuleVersion)
class FraudRuleVersionAdmin(EvidenceAdminMixin, PlatformModelAdmin):
    list_display = ["name", "version", "action", "weight", "is_active", "order", "created_by", "created_at", "note"]
    list_filter = ["action", "is_active", "created_at"]
    search_fields = ["name", "condition", "note"]
    list_select_related = ["created_by", "rule"]
    raw_id_fields = ["rule", "created_by"]


# --- Alerts --------------------------------------------------------------------------------


class AssignedToMeFilter(admin.SimpleListFilter):
    title = "assignee"
    parameter_name = "mine"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("1", "Assigned to me"), ("unassigned", "Unassigned")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[FraudAlert]) -> QuerySet[FraudAlert]:
        if self.value() == "1":
            return queryset.filter(assignee_id=request.user.pk)
        if self.value() == "unassigned":
            return queryset.filter(assignee__isnull=True)
        return queryset


@admin.register(FraudAlert)
class FraudAlertAdmin(PlatformModelAdmin):
    """The alert queue. Read-only forms; the work is done with take, assign and resolve."""

    list_display = ["id", "created_at", "transaction", "decision", "score", "status", "assignee", "resolution"]
    list_filter = ["status", AssignedToMeFilter, "fraud_check__decision", "resolution", "created_at"]
    search_fields = ["fraud_check__transaction__transaction_id", "fraud_check__transaction__client__client_id"]
    list_select_related = ["fraud_check", "fraud_check__transaction", "assignee"]
    raw_id_fields = ["fraud_check", "assignee"]
    fields = [
        "fraud_check",
        "status",
        "assignee",
        "assigned_by",
        "assigned_at",
        "resolution",
        "resolution_comment",
        "resolved_by",
        "resolved_at",
        "created_at",
        "triggered",
    ]
    readonly_fields = fields
    actions = ["take_alerts"]
    change_form_template = "admin/fraud/fraudalert/change_form.html"

    @admin.display(description="transaction")
    def transaction(self, obj: FraudAlert) -> str:
        return obj.fraud_check.transaction.transaction_id

    @admin.display(description="decision", ordering="fraud_check__decision")
    def decision(self, obj: FraudAlert) -> str:
        return obj.fraud_check.decision

    @admin.display(description="score", ordering="fraud_check__fraud_score")
    def score(self, obj: FraudAlert) -> str:
        return f"{obj.fraud_check.fraud_score:.1%}"

    @admin.display(description="triggered rules")
    def triggered(self, obj: FraudAlert) -> str:
        return "; ".join(f"{r['name']} v{r['version']}: {r['reason']}" for r in obj.fraud_check.triggered_rules) or "-"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # opened by the decisions only

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # no free edits: take, assign and resolve are the only changes

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_take_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("fraud.take_fraudalert")

    @admin.action(description="Take selected unassigned alerts", permissions=["take"])
    def take_alerts(self, request: HttpRequest, queryset: QuerySet[FraudAlert]) -> None:
        taken = skipped = 0
        for alert in queryset:
            try:
                fraud_alert_take(alert=alert, user=acting_user(request.user))
                taken += 1
            except ValidationError:
                skipped += 1
        level = messages.SUCCESS if taken else messages.WARNING
        self.message_user(request, f"{taken} alert(s) taken; {skipped} already assigned or resolved.", level)

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        urls = [
            path("<int:pk>/take/", view(require_POST(self.take_view)), name="fraud_fraudalert_take"),
            path("<int:pk>/assign/", view(self.assign_view), name="fraud_fraudalert_assign"),
            path("<int:pk>/resolve/", view(self.resolve_view), name="fraud_fraudalert_resolve"),
        ]
        return urls + super().get_urls()

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None) -> Any:
        alert = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if alert is not None:
            extra.update(
                can_take=alert.status == AlertStatus.OPEN and self.has_take_permission(request),
                can_assign=alert.status != AlertStatus.RESOLVED and request.user.has_perm("fraud.assign_fraudalert"),
                can_resolve=fraud_alert_can_resolve(alert=alert, user=acting_user(request.user)),
            )
        return super().change_view(request, object_id, form_url, extra)

    def _alert(self, request: HttpRequest, pk: int) -> FraudAlert:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return get_object_or_404(FraudAlert.objects.select_related("fraud_check__transaction"), pk=pk)

    def _back(self, alert: FraudAlert) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:fraud_fraudalert_change", args=[alert.pk]))

    def take_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        alert = self._alert(request, pk)
        try:
            fraud_alert_take(alert=alert, user=acting_user(request.user))
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
        else:
            self.message_user(request, "The alert is yours: you can now resolve it.", messages.SUCCESS)
        return self._back(alert)

    def assign_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        alert = self._alert(request, pk)
        if not request.user.has_perm("fraud.assign_fraudalert"):
            raise PermissionDenied
        form = AlertAssignForm(request.POST or None, initial={"assignee": alert.assignee_id})
        if request.method == "POST" and form.is_valid():
            try:
                fraud_alert_assign(alert=alert, assignee=form.cleaned_data["assignee"], by=acting_user(request.user))
            except ValidationError as exc:
                form.add_error(None, exc.messages)
            else:
                self.message_user(request, f"Alert assigned to {form.cleaned_data['assignee']}.", messages.SUCCESS)
                return self._back(alert)
        return self._action_page(request, alert, form, "Assign alert", "Assign")

    def resolve_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        alert = self._alert(request, pk)
        if alert.status == AlertStatus.RESOLVED:  # by someone else meanwhile, often: say so, not a bare 403
            self.message_user(request, "This alert is already resolved: a resolution is final.", messages.WARNING)
            return self._back(alert)
        # Checked before the form is even shown: the assignee (object permission) or an admin.
        if not fraud_alert_can_resolve(alert=alert, user=acting_user(request.user)):
            raise PermissionDenied
        form = AlertResolveForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                fraud_alert_resolve(
                    alert=alert,
                    user=acting_user(request.user),
                    resolution=form.cleaned_data["resolution"],
                    comment=form.cleaned_data["comment"],
                )
            except ValidationError as exc:
                form.add_error(None, exc.messages)
            else:
                self.message_user(request, "Alert resolved.", messages.SUCCESS)
                return self._back(alert)
        return self._action_page(request, alert, form, "Resolve alert", "Resolve")

    def _action_page(self, request: HttpRequest, alert: FraudAlert, form: Any, title: str, button: str) -> Any:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": alert,
            "title": f"{title} {alert.pk} ({alert.fraud_check.transaction.transaction_id})",
            "form": form,
            "button": button,
            "check": alert.fraud_check,
        }
        return TemplateResponse(request, "admin/fraud/fraudalert/action.html", context)


# --- Thresholds ------------------------------------------------------------------------------


@admin.register(FraudSettings)
class FraudSettingsAdmin(PlatformModelAdmin):
    """One row: the list goes straight to it; saving goes through ``fraud_settings_update``."""

    form = FraudSettingsForm
    list_display = ["__str__", "updated_by", "updated_at"]
    list_select_related = ["updated_by"]
    readonly_fields = ["updated_by", "updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # the row comes from a migration

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        row, _ = FraudSettings.objects.get_or_create(pk=1)
        return HttpResponseRedirect(reverse("admin:fraud_fraudsettings_change", args=[row.pk]))

    def save_model(self, request: HttpRequest, obj: FraudSettings, form: Any, change: bool) -> None:
        fraud_settings_update(
            user=acting_user(request.user),
            review_threshold=form.cleaned_data["review_threshold"],
            block_threshold=form.cleaned_data["block_threshold"],
        )
