"""Admin of transactions and fraud checks (evidence: read-only)."""

from __future__ import annotations

from django.contrib import admin

from creditplatform.admin_mixins import EvidenceAdminMixin
from fraud.models import FraudCheck, Transaction


@admin.register(Transaction)
class TransactionAdmin(EvidenceAdminMixin, admin.ModelAdmin):
    list_display = ["transaction_id", "client", "amount", "currency", "type", "channel", "country", "timestamp"]
    list_filter = ["type", "channel", "currency", "timestamp"]
    search_fields = ["transaction_id", "client__client_id"]
    list_select_related = ["client"]
    raw_id_fields = ["client"]
    date_hierarchy = "timestamp"


@admin.register(FraudCheck)
class FraudCheckAdmin(EvidenceAdminMixin, admin.ModelAdmin):
    list_display = ["transaction", "decision", "fraud_score", "risk_level", "model_version", "created_at"]
    list_filter = ["decision", "risk_level", "created_at"]
    search_fields = ["transaction__transaction_id", "transaction__client__client_id"]
    list_select_related = ["transaction", "model_version"]
    raw_id_fields = ["transaction", "model_version"]
    date_hierarchy = "created_at"
