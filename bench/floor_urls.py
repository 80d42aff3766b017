"""The framework floor of ``make bench``: what a request costs before the platform does any work.

Two endpoints that decide nothing, served with the platform's settings and URLconf:

- ``POST /bench/floor/django``: a plain Django view through the whole middleware stack,
  answering ``{}``;
- ``POST /bench/floor/drf``: a DRF view with ``/score``'s authentication, permission and
  throttle, parsing the JSON body as ``/score`` does, answering ``{}``.

The share of the bare endpoint's throughput they reach is the most any ``/score`` or
``/fraude`` built on this stack can reach: the decision (validation, model, reasons,
insert, commit, call log) comes on top.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from creditplatform.urls import urlpatterns as platform_urlpatterns
from scoring.api.views import ScoreApi


@csrf_exempt
def django_floor(request: HttpRequest) -> JsonResponse:
    return JsonResponse({})


class DrfFloor(APIView):
    """``/score``'s request cycle without the decision."""

    permission_classes = ScoreApi.permission_classes
    throttle_scope = ScoreApi.throttle_scope

    def post(self, request: Request) -> Response:
        if not isinstance(request.data, dict):  # parsed, as /score parses it
            return Response({"detail": "A JSON object is expected."}, status=400)
        return Response({})


urlpatterns = [
    path("bench/floor/django", django_floor),
    path("bench/floor/drf", DrfFloor.as_view()),
    *platform_urlpatterns,
]
