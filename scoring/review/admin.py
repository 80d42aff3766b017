"""The underwriters' queue in the admin: take, assign, decide, approve (rules in scoring.review.services)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from accounts.actors import acting_user
from accounts.services import analysts
from creditplatform.admin_mixins import PlatformModelAdmin, ThemedFormMixin
from scoring.choices import FinalOutcome, ReviewStatus
from scoring.models import DecisionWebhook, ReviewCase, WebhookDelivery
from scoring.reasons import plain_reasons, underwriter_reason_choices, underwriter_reasons
from scoring.review.selectors import band_position, earlier_decisions, pct, shadow_opinion
from scoring.review.services import (
    APPROVE_PERMISSION,
    ASSIGN_PERMISSION,
    TAKE_PERMISSION,
    needs_second_approval,
    review_case_approve,
    review_case_assign,
    review_case_can_approve,
    review_case_can_close,
    review_case_can_take,
    review_case_close,
    review_case_conflict,
    review_case_send_back,
    review_case_take,
    review_case_writable_check,
)
from scoring.review.webhooks import (
    decision_webhook_caller_check,
    decision_webhook_duplicate_check,
    decision_webhook_set_active,
)


class ReviewAssignForm(ThemedFormMixin, forms.Form):
    assignee = forms.ModelChoiceField(queryset=analysts(), help_text="Only this analyst (or an admin) can decide it.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = analysts()  # type: ignore[attr-defined]


class ReviewCloseForm(ThemedFormMixin, forms.Form):
    final_decision = forms.ChoiceField(choices=FinalOutcome.choices, widget=forms.RadioSelect)
    # Checked against the catalogue by the service (refusal_reasons_check), which shows its error here.
    refusal_reasons = forms.MultipleChoiceField(
        label="Principal reasons of a refusal",
        choices=underwriter_reason_choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="To refuse: 1 to 4, printed on the applicant's notice. None to approve.",
    )
    justification = forms.CharField(
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 5, "cols": 80}),
        help_text="Why: what you checked and what decided it. Part of the decision record.",
    )
    # How many of the applicant's contests the page showed: one arriving meanwhile stops the decision.
    contests_seen = forms.IntegerField(min_value=0, widget=forms.HiddenInput)


class AssignedToMeFilter(admin.SimpleListFilter):
    title = "assignee"
    parameter_name = "mine"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("1", "Assigned to me"), ("unassigned", "Unassigned")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ReviewCase]) -> QuerySet[ReviewCase]:
        if self.value() == "1":
            return queryset.filter(assignee=acting_user(request.user))
        if self.value() == "unassigned":
            return queryset.filter(assignee__isnull=True)
        return queryset


@admin.register(ReviewCase)
class ReviewCaseAdmin(PlatformModelAdmin):
    """The review queue. Read-only forms; the work is done with take, assign, decide and approve."""

    list_display = ["id", "created_at", "origin", "automated", "probability", "status", "assignee", "final_decision"]
    list_filter = ["status", AssignedToMeFilter, "origin", "final_decision", "created_at"]
    search_fields = ["decision__id", "decision__client__client_id"]
    list_select_related = ["decision", "assignee"]
    fields = [
        "decision",
        "origin",
        "status",
        "assignee",
        "assigned_by",
        "assigned_at",
        "opening_note",
        "proposed_decision",
        "justification",
        "proposed_by",
        "proposed_at",
        "approved_by",
        "approved_at",
        "final_decision",
        "refusal_reasons_stated",
        "closed_at",
        "created_at",
    ]
    readonly_fields = fields
    actions = ["take_cases"]
    change_form_template = "admin/scoring/reviewcase/change_form.html"

    @admin.display(description="automated decision", ordering="decision__decision")
    def automated(self, obj: ReviewCase) -> str:
        return obj.decision.decision

    @admin.display(description="principal reasons of the refusal")
    def refusal_reasons_stated(self, obj: ReviewCase) -> str:
        return "; ".join(f"{r.code} {r.title}" for r in underwriter_reasons(obj.refusal_reasons)) or "–"

    @admin.display(description="probability", ordering="decision__probability_default")
    def probability(self, obj: ReviewCase) -> str:
        return pct(obj.decision.probability_default)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # opened by the decisions, an override request or a contest

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # no free edits

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_take_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(TAKE_PERMISSION)

    @admin.action(description="Take selected unassigned cases", permissions=["take"])
    def take_cases(self, request: HttpRequest, queryset: QuerySet[ReviewCase]) -> None:
        taken = skipped = 0
        user = acting_user(request.user)
        for case in queryset:
            try:
                review_case_take(case=case, user=user)
                taken += 1
            except ValidationError:
                skipped += 1
        level = messages.SUCCESS if taken else messages.WARNING
        self.message_user(
            request,
            f"{taken} case(s) taken; {skipped} skipped (already assigned, closed or withdrawn, or your own request).",
            level,
        )

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        urls = [
            path("<int:pk>/take/", view(require_POST(self.take_view)), name="scoring_reviewcase_take"),
            path("<int:pk>/assign/", view(self.assign_view), name="scoring_reviewcase_assign"),
            path("<int:pk>/decide/", view(self.decide_view), name="scoring_reviewcase_decide"),
            path("<int:pk>/approve/", view(require_POST(self.approve_view)), name="scoring_reviewcase_approve"),
            path("<int:pk>/send-back/", view(require_POST(self.send_back_view)), name="scoring_reviewcase_send_back"),
        ]
        return urls + super().get_urls()

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None) -> Any:
        case = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if case is not None:
            user = acting_user(request.user)
            extra.update(self._case_context(case))
            extra.update(
                can_take=review_case_can_take(case=case, user=user),
                conflict=review_case_conflict(case=case, user=user),
                can_assign=case.status in (ReviewStatus.OPEN, ReviewStatus.ASSIGNED)
                and request.user.has_perm(ASSIGN_PERMISSION),
                can_decide=review_case_can_close(case=case, user=user),
                can_approve=review_case_can_approve(case=case, user=user),
            )
        return super().change_view(request, object_id, form_url, extra)

    @staticmethod
    def _case_context(case: ReviewCase) -> dict[str, Any]:
        decision = case.decision
        schema = decision.model_version.feature_schema
        labels = {f["name"]: f.get("label") or f["name"] for f in schema}
        inputs = [(labels.get(name, name), decision.features.get(name)) for name in labels]
        return {
            "decision": decision,
            "inputs": [(label, "– (not sent)" if value is None else value) for label, value in inputs],
            "band_position": band_position(decision),
            "reasons": plain_reasons(schema, decision.reasons, adverse_only=False, limit=10),
            "shadow": shadow_opinion(decision),
            # What the applicant contested (their own words, GDPR Art. 22(3)): the underwriter decides on it.
            "contests": [(c.created_at, c.statement) for c in case.contests.order_by("created_at")],
            "earlier": [
                (d.created_at, d.decision, d.final_outcome or "pending review", pct(d.probability_default))
                for d in earlier_decisions(decision)
            ],
        }

    def _case(self, request: HttpRequest, pk: int) -> ReviewCase:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return get_object_or_404(
            ReviewCase.objects.select_related("decision__model_version", "decision__client"), pk=pk
        )

    def _back(self, case: ReviewCase) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:scoring_reviewcase_change", args=[case.pk]))

    def take_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        case = self._case(request, pk)
        try:
            review_case_take(case=case, user=acting_user(request.user))
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
        else:
            self.message_user(request, "The case is yours: you can now decide it.", messages.SUCCESS)
        return self._back(case)

    def assign_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        case = self._case(request, pk)
        if not request.user.has_perm(ASSIGN_PERMISSION):
            raise PermissionDenied
        form = ReviewAssignForm(request.POST or None, initial={"assignee": case.assignee_id})
        if request.method == "POST" and form.is_valid():
            try:
                review_case_assign(case=case, assignee=form.cleaned_data["assignee"], by=acting_user(request.user))
            except ValidationError as exc:
                form.add_error(None, exc.messages)
            else:
                self.message_user(request, f"Case assigned to {form.cleaned_data['assignee']}.", messages.SUCCESS)
                return self._back(case)
        return self._action_page(request, case, form, "Assign case", "Assign")

    def decide_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        case = self._case(request, pk)
        try:
            review_case_writable_check(case=case)  # withdrawn by an erasure: say so, rather than a 403
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return self._back(case)
        if (conflict := review_case_conflict(case=case, user=acting_user(request.user))) is not None:
            self.message_user(request, conflict, messages.ERROR)  # their own request: say so, rather than a 403
            return self._back(case)
        if not review_case_can_close(case=case, user=acting_user(request.user)):
            raise PermissionDenied
        form = ReviewCloseForm(request.POST or None, initial={"contests_seen": case.contests.count()})
        if request.method == "POST" and form.is_valid():
            final = form.cleaned_data["final_decision"]
            try:
                review_case_close(
                    case=case,
                    user=acting_user(request.user),
                    final_decision=final,
                    justification=form.cleaned_data["justification"],
                    refusal_reasons=form.cleaned_data["refusal_reasons"],
                    contests_seen=form.cleaned_data["contests_seen"],
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                if needs_second_approval(decision=case.decision, final_decision=final):
                    text = "Decision proposed: it waits for a second person's approval (four eyes)."
                else:
                    text = "Case closed: the decision is final."
                self.message_user(request, text, messages.SUCCESS)
                return self._back(case)
        if form.is_bound:  # shown again, with every contest so far: they are now seen
            data = request.POST.copy()
            data["contests_seen"] = str(case.contests.count())
            form.data = data
        return self._action_page(request, case, form, "Decide case", "Decide")

    def approve_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        case = self._case(request, pk)
        if not request.user.has_perm(APPROVE_PERMISSION):
            raise PermissionDenied
        try:
            review_case_approve(case=case, user=acting_user(request.user))
        except (ValidationError, PermissionDenied) as exc:
            self.message_user(request, str(exc.messages[0] if hasattr(exc, "messages") else exc), messages.ERROR)
        else:
            self.message_user(request, "Approved: the decision is final.", messages.SUCCESS)
        return self._back(case)

    def send_back_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        case = self._case(request, pk)
        if not request.user.has_perm(APPROVE_PERMISSION):
            raise PermissionDenied
        try:
            review_case_send_back(case=case, user=acting_user(request.user))
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
        except PermissionDenied as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, "Sent back to its underwriter.", messages.SUCCESS)
        return self._back(case)

    def _action_page(self, request: HttpRequest, case: ReviewCase, form: Any, title: str, button: str) -> Any:
        context = {
            **self.admin_site.each_context(request),
            **self._case_context(case),
            "opts": self.model._meta,
            "original": case,
            "title": f"{title} {case.pk}",
            "form": form,
            "button": button,
        }
        return TemplateResponse(request, "admin/scoring/reviewcase/action.html", context)


class DecisionWebhookAdminForm(forms.ModelForm):
    """Reactivating a webhook whose caller has another active one for the URL is a form error, not a 500
    (the table's constraint is not checked by the form: ``caller`` and ``url`` are read-only here)."""

    class Meta:
        model = DecisionWebhook
        fields = ["is_active"]

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        hook = self.instance
        if cleaned.get("is_active") and hook.pk is not None:
            try:
                decision_webhook_duplicate_check(caller=hook.caller, url=hook.url, exclude_pk=hook.pk)
            except ValidationError as exc:
                raise ValidationError({"is_active": exc.message_dict["url"]}) from exc
            if not DecisionWebhook.objects.filter(pk=hook.pk, is_active=True).exists():
                decision_webhook_caller_check(caller=hook.caller)  # being reactivated
        return cleaned


@admin.register(DecisionWebhook)
class DecisionWebhookAdmin(PlatformModelAdmin):
    """Callers' webhooks (registered through the API; the secret is never shown). Deactivate to stop them."""

    form = DecisionWebhookAdminForm

    list_display = ["id", "caller", "url", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["caller", "url"]
    fields = ["caller", "url", "is_active", "created_at"]
    readonly_fields = ["caller", "url", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # registered by callers, with their own credentials

    def save_model(self, request: HttpRequest, obj: DecisionWebhook, form: Any, change: bool) -> None:
        # The switch goes through its service (the audit trail); nothing else here is editable.
        decision_webhook_set_active(webhook=obj, active=obj.is_active, actor=acting_user(request.user))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deliveries are evidence: deactivate instead


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(PlatformModelAdmin):
    """Every webhook call: attempts and what the receiver answered."""

    list_display = ["id", "created_at", "webhook", "decision", "event", "status", "attempts", "last_outcome"]
    list_filter = ["status", "event", "created_at"]
    search_fields = ["=decision__id", "webhook__caller"]
    list_select_related = ["webhook", "decision"]
    fields = [
        "webhook",
        "decision",
        "event",
        "payload",
        "status",
        "attempts",
        "last_outcome",
        "created_at",
        "finished_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
