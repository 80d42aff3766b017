"""Filters of the scoring API (allow-listed fields only)."""

import django_filters

from scoring.models import Client


class ClientFilter(django_filters.FilterSet):
    client_id = django_filters.CharFilter()
    last_name = django_filters.CharFilter(lookup_expr="iexact")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Client
        fields = ["client_id", "last_name", "created_after", "created_before"]
