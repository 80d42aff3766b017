"""Filters of the fraud API (allow-listed fields only; each bad value is a 400 naming it)."""

from typing import Any

import django_filters
from django_filters.fields import ChoiceField

from creditplatform.api.filters import DateTimeFilter, ExternalIdFilter
from fraud.choices import (
    AlertResolution,
    AlertStatus,
    FraudDecisionOutcome,
    TransactionType,
    transaction_type_canonical,
)
from fraud.models import Transaction
from scoring.choices import RiskLevel


class _TransactionTypeField(ChoiceField):
    """A type spelled as ``/fraude`` takes it, case and accents aside (``transaction_type_canonical``)."""

    def to_python(self, value: Any) -> Any:
        text = super().to_python(value)
        # An unknown type stays as sent: the choice check refuses it, naming it.
        return (transaction_type_canonical(text) or text) if isinstance(text, str) and text else text


class TransactionTypeFilter(django_filters.ChoiceFilter):
    field_class = _TransactionTypeField


class TransactionFilter(django_filters.FilterSet):
    client_id = ExternalIdFilter(field_name="client__client_id")
    transaction_id = ExternalIdFilter()
    after = DateTimeFilter(field_name="timestamp", lookup_expr="gte")
    before = DateTimeFilter(field_name="timestamp", lookup_expr="lt")
    decision = django_filters.ChoiceFilter(field_name="fraud_check__decision", choices=FraudDecisionOutcome.choices)
    risk_level = django_filters.ChoiceFilter(field_name="fraud_check__risk_level", choices=RiskLevel.choices)
    type = TransactionTypeFilter(choices=TransactionType.choices)
    # A payment held on a review waits for an analyst: the caller polls for the outcome.
    alert_status = django_filters.ChoiceFilter(field_name="fraud_check__alert__status", choices=AlertStatus.choices)
    resolution = django_filters.ChoiceFilter(
        field_name="fraud_check__alert__resolution", choices=AlertResolution.choices
    )
    resolved_after = DateTimeFilter(field_name="fraud_check__alert__resolved_at", lookup_expr="gte")

    class Meta:
        model = Transaction
        fields = [
            "client_id",
            "transaction_id",
            "after",
            "before",
            "decision",
            "risk_level",
            "type",
            "alert_status",
            "resolution",
            "resolved_after",
        ]
