"""Health and metrics endpoints."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django_prometheus.exports import ExportToDjangoView
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monitoring.health import health_report


class HealthApi(APIView):
    """Is the platform able to decide? No authentication: load balancers call it."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes: list[type] = []

    @extend_schema(
        responses={
            200: inline_serializer("Health", {"status": serializers.CharField(), "checks": serializers.DictField()}),
            503: inline_serializer(
                "HealthDown", {"status": serializers.CharField(), "checks": serializers.DictField()}
            ),
        },
        summary="Health of database, broker, cache and models",
    )
    def get(self, request: Request) -> Response:
        report, serving = health_report()
        return Response(report, status=200 if serving else 503)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text format, for the scrapers listed in METRICS_ALLOWED_IPS only."""
    if request.META.get("REMOTE_ADDR") not in settings.METRICS_ALLOWED_IPS:
        return JsonResponse(
            {"error": "permission_denied", "detail": "Metrics are not served to this address."}, status=403
        )
    return ExportToDjangoView(request)
