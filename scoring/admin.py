"""Admin of clients, applications, the model registry and decisions."""

from __future__ import annotations

from django.contrib import admin

from creditplatform.admin_mixins import EvidenceAdminMixin
from scoring.models import Client, CreditApplication, Decision, ModelVersion


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    list_display = ["client_id", "last_name", "first_name", "email", "erased_at", "created_at"]
    list_filter = [("erased_at", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["client_id", "last_name", "email"]
    readonly_fields = ["erased_at", "created_at", "updated_at"]

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        # The external id is the link every other system holds: fixed once created.
        return [*self.readonly_fields, "client_id"] if obj else self.readonly_fields


@admin.register(CreditApplication)
class CreditApplicationAdmin(admin.ModelAdmin):
    list_display = ["__str__", "client", "amount", "duration_months", "purpose", "status", "created_at"]
    list_filter = ["status", "purpose", "created_at"]
    search_fields = ["application_id", "client__client_id"]
    list_select_related = ["client"]
    raw_id_fields = ["client"]
    readonly_fields = ["created_at", "updated_at"]


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["version", "purpose", "status", "threshold", "dataset", "activated_at", "created_at"]
    list_filter = ["purpose", "status"]
    search_fields = ["version", "dataset"]
    list_select_related = ["created_by", "activated_by"]
    readonly_fields = ["sha256", "created_by", "activated_by", "activated_at", "created_at"]
    exclude = ["artifact", "reference_data"]


@admin.register(Decision)
class DecisionAdmin(EvidenceAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "created_at",
        "client",
        "decision",
        "probability_default",
        "risk_level",
        "model_version",
        "caller",
    ]
    list_filter = ["decision", "risk_level", "model_version", "created_at"]
    search_fields = ["id", "client__client_id", "caller"]
    list_select_related = ["client", "model_version"]
    raw_id_fields = ["client", "application", "model_version"]
    date_hierarchy = "created_at"
