"""Admin of the API call log (read-only)."""

from __future__ import annotations

from django.contrib import admin

from creditplatform.admin_mixins import EvidenceAdminMixin
from monitoring.models import ApiCall


@admin.register(ApiCall)
class ApiCallAdmin(EvidenceAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "method", "endpoint", "status_code", "latency_ms", "model_version", "caller"]
    list_filter = ["endpoint", "status_code", "method", "created_at"]
    search_fields = ["request_id", "endpoint", "caller"]
    date_hierarchy = "created_at"
