"""Filters of the scoring API (allow-listed fields only; each bad value is a 400 naming it)."""

import django_filters

from creditplatform.api.filters import DateTimeFilter, ExternalIdFilter, TextFilter
from scoring.choices import CreditDecisionOutcome, ModelPurpose, ModelStatus, RiskLevel
from scoring.models import Client, Decision, ModelVersion


class ClientFilter(django_filters.FilterSet):
    client_id = ExternalIdFilter()
    last_name = TextFilter(lookup_expr="iexact")
    created_after = DateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = DateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Client
        fields = ["client_id", "last_name", "created_after", "created_before"]


class DecisionFilter(django_filters.FilterSet):
    created_after = DateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = DateTimeFilter(field_name="created_at", lookup_expr="lt")
    decision = django_filters.ChoiceFilter(choices=CreditDecisionOutcome.choices)
    risk_level = django_filters.ChoiceFilter(choices=RiskLevel.choices)
    model_version = TextFilter(field_name="model_version__version")
    client_id = ExternalIdFilter(field_name="client__client_id")
    application_id = ExternalIdFilter(field_name="application__application_id")
    batch_job = django_filters.UUIDFilter(field_name="batch_job_id", help_text="Decisions of one batch job.")

    class Meta:
        model = Decision
        fields = [
            "created_after",
            "created_before",
            "decision",
            "risk_level",
            "model_version",
            "client_id",
            "application_id",
            "batch_job",
        ]


class ModelVersionFilter(django_filters.FilterSet):
    purpose = django_filters.ChoiceFilter(choices=ModelPurpose.choices)
    status = django_filters.ChoiceFilter(choices=ModelStatus.choices)

    class Meta:
        model = ModelVersion
        fields = ["purpose", "status"]
