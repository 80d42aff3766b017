"""Health and metrics endpoints."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema, inline_serializer
from prometheus_client import CONTENT_TYPE_LATEST
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monitoring.health import health_report
from monitoring.metrics import metrics_text

# Without METRICS_TOKEN, outside production: the machine itself only.
LOOPBACK = frozenset({"127.0.0.1", "::1"})


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


@csrf_exempt  # read-only: a write is the 405 below, not the CSRF check's HTML 403
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text format, for scrapers holding ``METRICS_TOKEN`` (docs/monitoring.md)."""
    token = settings.METRICS_TOKEN
    if token:
        scheme, _, supplied = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(supplied.strip().encode(), token.encode()):
            response = JsonResponse(
                {"error": "not_authenticated", "detail": "Send Authorization: Bearer <METRICS_TOKEN>."}, status=401
            )
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    elif settings.PRODUCTION or request.META.get("REMOTE_ADDR") not in LOOPBACK:
        return JsonResponse(
            {
                "error": "permission_denied",
                "detail": "Metrics need METRICS_TOKEN (set it, then send it as a bearer token).",
            },
            status=403,
        )
    if request.method not in ("GET", "HEAD"):
        response = JsonResponse(
            {"error": "method_not_allowed", "detail": f'Method "{request.method}" not allowed: metrics are read.'},
            status=405,
        )
        response["Allow"] = "GET, HEAD"
        return response
    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE_LATEST)
