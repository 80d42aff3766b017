"""GDPR requests and legal holds in the admin, for the compliance group.

Requests are recorded with the add form and then worked with buttons on their page:
approve (another officer, for an erasure), reject with a reason, run a deferred erasure
again, download the access export or the erasure certificate. Nothing is edited freely
and nothing is deleted; every button calls one ``privacy.services`` function.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from accounts.actors import acting_user
from creditplatform.admin_mixins import PlatformModelAdmin
from privacy.models import GdprRequest, LegalHold, RequestKind, RequestStatus
from privacy.services import (
    APPROVE,
    WORK,
    access_export,
    certificate_download,
    erasure_execute,
    gdpr_request_approve,
    gdpr_request_check,
    gdpr_request_record,
    gdpr_request_reject,
    legal_hold_check,
    legal_hold_place,
    legal_hold_release,
)


class DueFilter(admin.SimpleListFilter):
    title = "due"
    parameter_name = "due"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("overdue", "Overdue"), ("soon", "Due soon (open)"), ("open", "Open")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[GdprRequest]) -> QuerySet[GdprRequest]:
        from privacy.selectors import gdpr_requests_due

        now = timezone.now()
        if self.value() == "overdue":
            return queryset.filter(pk__in=gdpr_requests_due(now=now, within_days=0).filter(due_at__lt=now))
        if self.value() == "soon":
            return queryset.filter(pk__in=gdpr_requests_due(now=now))
        if self.value() == "open":
            return queryset.filter(status__in=[RequestStatus.RECEIVED, RequestStatus.APPROVED])
        return queryset


class GdprRequestForm(forms.ModelForm):
    received_at = forms.SplitDateTimeField(
        required=False,
        widget=admin.widgets.AdminSplitDateTime,
        help_text="When the request reached the bank (empty: now). It is due one month later.",
    )

    class Meta:
        model = GdprRequest
        fields = ["kind", "client", "received_at", "details"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            gdpr_request_check(
                kind=data.get("kind", ""), client=data.get("client"), received_at=data.get("received_at")
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        return data


class RejectForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        max_length=2000,
        help_text="Told to the person (e.g. the legal ground for refusing).",
    )


def _until_by_default(effect: str) -> str:
    return "–" if effect == "withdraws" else "until resolved/released"  # a withdrawal is not waited for


@admin.register(GdprRequest)
class GdprRequestAdmin(PlatformModelAdmin):
    form = GdprRequestForm
    list_display = ["__str__", "kind", "status", "due_state", "received_at", "due_at", "recorded_by", "approved_by"]
    list_filter = [DueFilter, "kind", "status", "received_at"]
    search_fields = ["=id", "client__client_id"]
    list_select_related = ["recorded_by", "approved_by"]
    autocomplete_fields = ["client"]
    ordering = ["due_at"]
    readonly = [
        "kind",
        "status",
        "client",
        "received_at",
        "due_at",
        "details",
        "recorded_by",
        "recorded_at",
        "approved_by",
        "approved_at",
        "rejected_by",
        "rejected_at",
        "rejection_reason",
        "completed_by",
        "completed_at",
        "holds_table",
        "certificate_summary",
    ]
    change_form_template = "admin/privacy/gdprrequest/change_form.html"

    @admin.display(description="due")
    def due_state(self, obj: GdprRequest) -> str:
        if obj.status not in (RequestStatus.RECEIVED, RequestStatus.APPROVED):
            return "–"
        days = (obj.due_at - timezone.now()).days
        return f"overdue by {-days} day(s)" if obj.due_at < timezone.now() else f"in {days} day(s)"

    @admin.display(description="legal holds")
    def holds_table(self, obj: GdprRequest) -> str:
        if not obj.holds:
            return "None found." if obj.kind == RequestKind.ERASURE and obj.approved_at else "–"
        return format_html(
            "<table><tr><th>hold</th><th>effect</th><th>until</th><th>detail</th></tr>{}</table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                (
                    (h["kind"], h["effect"], h["until"] or _until_by_default(h["effect"]), h["detail"])
                    for h in obj.holds
                ),
            ),
        )

    @admin.display(description="certificate")
    def certificate_summary(self, obj: GdprRequest) -> str:
        certificate = getattr(obj, "certificate", None)
        if certificate is None:
            return "–"
        erasure = certificate.document.get("erasure", {})
        return format_html(
            "Issued {}. Rows deleted: {}; rows kept pseudonymised: {}. SHA-256 <code>{}</code>",
            certificate.issued_at,
            erasure.get("rows_deleted"),
            erasure.get("rows_kept_pseudonymised"),
            certificate.sha256,
        )

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["kind", "client", "received_at", "details"] if obj is None else self.readonly

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [] if obj is None else self.readonly

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # no free edits: the buttons are the only changes

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # requests are accountability: never deleted by hand

    def save_model(self, request: HttpRequest, obj: GdprRequest, form: Any, change: bool) -> None:
        created = gdpr_request_record(
            kind=form.cleaned_data["kind"],
            client=form.cleaned_data["client"],
            received_at=form.cleaned_data.get("received_at"),
            details=form.cleaned_data.get("details", ""),
            by=acting_user(request.user),
        )
        obj.pk, obj._state.adding = created.pk, False
        obj.refresh_from_db()

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/approve/", view(require_POST(self.approve_view)), name="privacy_gdprrequest_approve"),
            path("<int:pk>/reject/", view(self.reject_view), name="privacy_gdprrequest_reject"),
            path("<int:pk>/run/", view(require_POST(self.run_view)), name="privacy_gdprrequest_run"),
            path("<int:pk>/certificate/", view(self.certificate_view), name="privacy_gdprrequest_certificate"),
            path("<int:pk>/export/", view(self.export_view), name="privacy_gdprrequest_export"),
            *super().get_urls(),
        ]

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None) -> Any:
        obj = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if obj is not None:
            user = request.user
            is_open = obj.status in (RequestStatus.RECEIVED, RequestStatus.APPROVED)
            extra.update(
                can_approve=obj.status == RequestStatus.RECEIVED and user.has_perm(APPROVE),
                four_eyes_blocked=obj.kind == RequestKind.ERASURE and obj.recorded_by_id == user.pk,
                can_reject=is_open and user.has_perm(APPROVE),
                can_run=obj.kind == RequestKind.ERASURE
                and obj.status == RequestStatus.APPROVED
                and user.has_perm(WORK),
                can_export=obj.kind == RequestKind.ACCESS
                and obj.status in (RequestStatus.APPROVED, RequestStatus.DONE)
                and obj.client_id is not None
                and user.has_perm(WORK),
                has_certificate=hasattr(obj, "certificate"),
            )
        return super().change_view(request, object_id, form_url, extra)

    def _request(self, request: HttpRequest, pk: int) -> GdprRequest:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return get_object_or_404(GdprRequest, pk=pk)

    def _back(self, obj: GdprRequest) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:privacy_gdprrequest_change", args=[obj.pk]))

    def approve_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        obj = self._request(request, pk)
        try:
            approved = gdpr_request_approve(request=obj, by=acting_user(request.user))
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return self._back(obj)
        approved.refresh_from_db()
        if approved.kind == RequestKind.ERASURE:
            if approved.status == RequestStatus.DONE:
                note = "The erasure ran; its certificate is below."
            elif any(h["effect"] == "defers" for h in approved.holds):
                note = "A legal hold defers the erasure: see the holds below."
            else:
                note = "The erasure job is queued; this page shows its certificate when done."
            self.message_user(request, f"Approved. {note}", messages.SUCCESS)
        else:
            self.message_user(request, "Approved: download the export to answer the person.", messages.SUCCESS)
        return self._back(obj)

    def reject_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        obj = self._request(request, pk)
        if not request.user.has_perm(APPROVE):
            raise PermissionDenied
        form = RejectForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                gdpr_request_reject(request=obj, by=acting_user(request.user), reason=form.cleaned_data["reason"])
            except ValidationError as exc:
                form.add_error(None, exc.messages)
            else:
                self.message_user(request, "Request rejected.", messages.SUCCESS)
                return self._back(obj)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": obj,
            "title": f"Reject {obj}",
            "form": form,
        }
        return TemplateResponse(request, "admin/privacy/gdprrequest/reject.html", context)

    def run_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Try a deferred erasure again now (the nightly run also does)."""
        obj = self._request(request, pk)
        if not request.user.has_perm(WORK):
            raise PermissionDenied
        try:
            result = erasure_execute(request=obj, actor=acting_user(request.user))
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
        else:
            if result.done:
                self.message_user(request, "The erasure ran; its certificate is below.", messages.SUCCESS)
            else:
                self.message_user(request, "Still deferred by a legal hold (see below).", messages.WARNING)
        return self._back(obj)

    def certificate_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        obj = self._request(request, pk)
        try:
            body, filename = certificate_download(request=obj, by=acting_user(request.user))
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return self._back(obj)
        response = HttpResponse(body, content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    def export_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """POST only (a button with its CSRF token): the first download answers the request and
        is audited, so a link followed from another site must not make one."""
        obj = self._request(request, pk)
        if not request.user.has_perm(WORK):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        try:
            body, filename = access_export(request=obj, by=acting_user(request.user))
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return self._back(obj)
        response = HttpResponse(body, content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


class LegalHoldForm(forms.ModelForm):
    class Meta:
        model = LegalHold
        fields = ["client", "reason", "until", "details"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            legal_hold_check(reason=data.get("reason", ""), until=data.get("until"), client=data.get("client"))
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                field = "client" if field == "client_id" else field  # the service names the API's field
                self.add_error(field if field in self.fields else None, errors)
        return data


@admin.register(LegalHold)
class LegalHoldAdmin(PlatformModelAdmin):
    """Holds placed by compliance; an erasure of the client waits while one is active."""

    form = LegalHoldForm
    list_display = ["__str__", "reason", "until", "placed_by", "placed_at", "released_at"]
    list_filter = ["reason", ("released_at", admin.EmptyFieldListFilter)]
    search_fields = ["=id", "client__client_id"]
    list_select_related = ["placed_by"]
    autocomplete_fields = ["client"]
    actions = ["release_holds"]
    readonly = ["client", "reason", "until", "details", "placed_by", "placed_at", "released_by", "released_at"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["client", "reason", "until", "details"] if obj is None else self.readonly

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [] if obj is None else self.readonly

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # released, never deleted

    def save_model(self, request: HttpRequest, obj: LegalHold, form: Any, change: bool) -> None:
        if change:
            return  # read-only once placed: released with the action
        created = legal_hold_place(
            client=form.cleaned_data["client"],
            reason=form.cleaned_data["reason"],
            until=form.cleaned_data.get("until"),
            details=form.cleaned_data.get("details", ""),
            by=acting_user(request.user),
        )
        obj.pk, obj._state.adding = created.pk, False
        obj.refresh_from_db()

    @admin.action(description="Release selected holds", permissions=["change"])
    def release_holds(self, request: HttpRequest, queryset: QuerySet[LegalHold]) -> None:
        for hold in queryset:
            legal_hold_release(hold=hold, by=acting_user(request.user))
        self.message_user(request, f"{queryset.count()} hold(s) released.", messages.SUCCESS)
