"""Filters of the fraud API (allow-listed fields only; each bad value is a 400 naming it)."""

import django_filters

from creditplatform.api.filters import DateTimeFilter, ExternalIdFilter
from fraud.choices import FraudDecisionOutcome, TransactionType
from fraud.models import Transaction
from scoring.choices import RiskLevel


class TransactionFilter(django_filters.FilterSet):
    client_id = ExternalIdFilter(field_name="client__client_id")
    transaction_id = ExternalIdFilter()
    after = DateTimeFilter(field_name="timestamp", lookup_expr="gte")
    before = DateTimeFilter(field_name="timestamp", lookup_expr="lt")
    decision = django_filters.ChoiceFilter(field_name="fraud_check__decision", choices=FraudDecisionOutcome.choices)
    risk_level = django_filters.ChoiceFilter(field_name="fraud_check__risk_level", choices=RiskLevel.choices)
    type = django_filters.ChoiceFilter(choices=TransactionType.choices)

    class Meta:
        model = Transaction
        fields = ["client_id", "transaction_id", "after", "before", "decision", "risk_level", "type"]
