"""Views of the scoring API: thin, they parse, authorise, call a service and serialise."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import ReadOrWrite
from scoring.api.filters import ClientFilter
from scoring.api.serializers import ClientSerializer
from scoring.models import Client
from scoring.selectors import client_list
from scoring.services import client_create, client_update
from scoring.validators import EXTERNAL_ID_PATTERN


@extend_schema_view(
    list=extend_schema(summary="List clients"),
    retrieve=extend_schema(summary="A client by external id"),
    create=extend_schema(summary="Create a client (analyst, admin)"),
    update=extend_schema(summary="Replace a client's identity (analyst, admin)"),
    partial_update=extend_schema(summary="Change some identity fields (analyst, admin)"),
)
class ClientViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,  # type: ignore[type-arg]
):
    """Clients by external id. Read: viewer, analyst, admin. Write: analyst, admin.

    There is no DELETE: removing a person's data is a GDPR erasure, with its own review.
    """

    serializer_class = ClientSerializer
    permission_classes = [ReadOrWrite]
    lookup_field = "client_id"
    lookup_value_regex = EXTERNAL_ID_PATTERN.strip("^$")
    filterset_class = ClientFilter
    search_fields = ["client_id", "last_name", "email"]
    ordering_fields = ["client_id", "created_at", "updated_at"]
    ordering = ["client_id"]

    def get_queryset(self) -> QuerySet[Client]:
        return client_list()

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        client = client_create(**serializer.validated_data)
        return Response(self.get_serializer(client).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        partial = kwargs.pop("partial", False)
        instance = self.get_object()
        serializer = self.get_serializer(instance, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        client = client_update(client=instance, **serializer.validated_data)
        return Response(self.get_serializer(client).data)
