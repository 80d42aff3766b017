"""Views of the scoring API: thin, they parse, authorise, call a service and serialise."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import QuerySet
from django.urls.converters import IntConverter, UUIDConverter
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.actors import acting
from accounts.permissions import CanRead, CanScore, IsAdmin, ReadOrWrite
from accounts.principals import caller_label
from creditplatform.api.decisions import DecisionAnswer
from creditplatform.api.exceptions import Conflict, ServiceUnavailable
from creditplatform.api.pagination import KeysetPagination
from scoring.api.filters import ClientFilter, DecisionFilter, ModelVersionFilter
from scoring.api.seed import SeedDecisionSerializer, seed_score_fields
from scoring.api.serializers import (
    ClientSerializer,
    DecisionDetailSerializer,
    DecisionSerializer,
    ModelActivateSerializer,
    ModelVersionSerializer,
    ScoreBatchInputSerializer,
    ScoreBatchOutputSerializer,
    ScoreInputSerializer,
    decision_representation,
    score_batch_parse,
    score_request_parse,
)
from scoring.choices import ModelPurpose
from scoring.ml.model import ArtifactError
from scoring.ml.predictor import ModelUnavailable, require_model
from scoring.models import Client, Decision, ModelVersion
from scoring.selectors import client_list, decision_list, model_version_list
from scoring.services import (
    IdempotencyConflict,
    application_score,
    applications_score_once,
    client_create,
    client_update,
    model_version_activate,
)
from scoring.validators import EXTERNAL_ID_CHARS

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_META = "HTTP_IDEMPOTENCY_KEY"
# The header as the document describes it: the rule ``idempotency_key_header`` applies.
IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    {"type": "string", "minLength": 1, "maxLength": 200},
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "1-200 printable characters, chosen by the caller, per caller: a retry with the same key and the "
        "same request returns the stored answer (200, `Idempotent-Replayed: true`); with another request, 409."
    ),
)
SEED_PAYLOAD = {"age": 35, "revenu": 50000, "historique_impaye": 1}
# The first profile of the seed's postman/batch_profiles.json (tests/data/batch_profiles.json).
SEED_PROFILE = {"client_id": "C1001", "age": 42, "revenu": 82000, "historique_impaye": 0, "montant_credit": 20000}


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
    viewsets.GenericViewSet,
):
    """Clients by external id. Read: viewer, analyst, admin. Write: analyst, admin.

    There is no DELETE: removing a person's data is a GDPR erasure, with its own review.
    """

    serializer_class = ClientSerializer
    permission_classes = [ReadOrWrite]
    lookup_field = "client_id"
    lookup_value_regex = EXTERNAL_ID_CHARS
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


def _credit_model() -> Any:
    try:
        return require_model(ModelPurpose.CREDIT)
    except ModelUnavailable as exc:
        remedy = (
            "An admin restores the file or activates another version in the model registry."
            if exc.broken
            else "An admin activates one in the model registry."
        )
        raise ServiceUnavailable(f"{exc} {remedy}") from exc


def idempotency_key_header(meta: Mapping[str, Any]) -> str | None:
    """The Idempotency-Key header, checked (the service fingerprints what it protects)."""
    key = meta.get(IDEMPOTENCY_META)  # request.headers would copy every header first
    if key is not None and (not 1 <= len(key) <= 200 or not key.isprintable()):
        raise serializers.ValidationError({IDEMPOTENCY_HEADER: ["Use 1-200 printable characters."]})
    return key


class ScoreApi(APIView):
    """``POST /api/v1/score``: a credit decision on one applicant, explained and stored."""

    permission_classes = [CanScore]
    throttle_scope = "score"
    seed_compatible = False  # SeedScoreApi (the root path) adds the seed's fields

    @extend_schema(
        summary="Credit decision on one applicant",
        description=(
            "Scores the applicant with the champion credit model and stores the decision. Seed 000's payload "
            "(`age`, `revenu`, `historique_impaye`) is enough; every other feature of the champion's schema is "
            "optional (missing values are handled by the model). Unknown fields and out-of-range values are "
            "refused with 400 naming the field.\n\n"
            "`prediction` is 1 (refuse) when `probability_default` ≥ `threshold_used`, the threshold that minimised "
            "the business cost in training. `reasons` are the features that pushed the probability of default up "
            "most, from LightGBM's own TreeSHAP contributions (`pred_contrib`, log-odds units).\n\n"
            "Send an `Idempotency-Key` header to make retries safe: the same key and body return the stored "
            "decision (200, `Idempotent-Replayed: true`); the same key with another body is a 409."
        ),
        request=ScoreInputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            201: DecisionSerializer,
            200: OpenApiResponse(DecisionSerializer, description="Replay of a stored decision (Idempotency-Key)."),
            409: OpenApiResponse(description="Idempotency-Key reused with another body."),
            503: OpenApiResponse(description="No credit model can serve."),
        },
        examples=[
            OpenApiExample("Seed 000 payload", value=SEED_PAYLOAD, request_only=True),
            OpenApiExample(
                "Seed batch profile",
                value=SEED_PROFILE,
                request_only=True,
                description="The first profile of the seed's batch_profiles.json: montant_credit.",
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        answer = self.decide(request.data, request.user, request.META)
        return Response(answer.body, status=answer.status, headers=answer.headers)

    @classmethod
    def decide(cls, data: Any, user: Any, meta: Mapping[str, Any]) -> DecisionAnswer:
        """Check ``data`` (the parsed body), decide, store; errors are DRF's exceptions (4xx, 503)."""
        model = _credit_model()
        parsed, errors = score_request_parse(data, model.schema)
        if errors or parsed is None:
            raise serializers.ValidationError(errors)
        try:
            outcome = application_score(
                model=model,
                request=parsed,
                caller=caller_label(user),
                idempotency_key=idempotency_key_header(meta),
            )
        except IdempotencyConflict as exc:
            raise Conflict(str(exc)) from exc
        headers = {"X-Model-Version": outcome.decision.model_version.version}
        if outcome.replayed:
            headers["Idempotent-Replayed"] = "true"
        body = decision_representation(outcome.decision)
        if cls.seed_compatible:
            body.update(seed_score_fields(outcome.decision))
        return DecisionAnswer(status.HTTP_200_OK if outcome.replayed else status.HTTP_201_CREATED, body, headers)


@extend_schema_view(
    post=extend_schema(
        summary="Credit decision on one applicant (seed-compatible answer)",
        description=(
            "The same decision as `POST /api/v1/score`, at the root path where seed clients call. The answer also "
            "carries the seed's fields: `score` (= `probability_default`) and `message` (one sentence: the "
            "decision and the main reason). New integrations use `/api/v1/score`."
        ),
        responses={
            201: SeedDecisionSerializer,
            200: OpenApiResponse(SeedDecisionSerializer, description="Replay of a stored decision (Idempotency-Key)."),
            409: OpenApiResponse(description="Idempotency-Key reused with another body."),
            503: OpenApiResponse(description="No credit model can serve."),
        },
    )
)
class SeedScoreApi(ScoreApi):
    """``POST /score`` at the root: the contract plus the seed's ``score`` and ``message``."""

    seed_compatible = True


class ScoreBatchApi(APIView):
    """``POST /api/v1/score/batch``: up to ``SCORE_BATCH_MAX_ITEMS`` applicants in one call."""

    permission_classes = [CanScore]
    throttle_scope = "score"

    @extend_schema(
        summary="Credit decisions on up to 100 applicants (synchronous)",
        description=(
            "The same checks and decisions as `/score`, scored together (one vectorised predict) and stored in one "
            "transaction: either every applicant is decided or none is (errors name `items.<i>.<field>`). "
            "More than 100 applicants is a 400; larger files go through a batch job.\n\n"
            "Send an `Idempotency-Key` header to make retries safe: the same key and the same applicants, in the "
            "same order, return the stored decisions (200, `Idempotent-Replayed: true`); the same key with another "
            "batch (an applicant changed, more or fewer) is a 409. A key names one batch here and one decision on "
            "`/score`: the two never meet."
        ),
        request=ScoreBatchInputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            201: ScoreBatchOutputSerializer,
            200: OpenApiResponse(ScoreBatchOutputSerializer, description="Replay of a stored batch (Idempotency-Key)."),
            409: OpenApiResponse(description="Idempotency-Key reused with another batch."),
        },
        examples=[
            OpenApiExample(
                "Two applicants",
                value={"items": [SEED_PAYLOAD, {"age": 52, "revenu": 180, "historique_impaye": 0, "job": "fixed"}]},
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        model = _credit_model()
        requests = score_batch_parse(request.data, model.schema, settings.SCORE_BATCH_MAX_ITEMS)
        try:
            outcome = applications_score_once(
                model=model,
                requests=requests,
                caller=caller_label(request.user),
                idempotency_key=idempotency_key_header(request.META),
            )
        except IdempotencyConflict as exc:
            raise Conflict(str(exc)) from exc
        decisions = outcome.decisions
        headers = {"X-Model-Version": decisions[0].model_version.version if decisions else model.version}
        if outcome.replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(
            {"count": len(decisions), "results": [decision_representation(d) for d in decisions]},
            status=status.HTTP_200_OK if outcome.replayed else status.HTTP_201_CREATED,
            headers=headers,
        )


@extend_schema_view(
    list=extend_schema(summary="List credit decisions"),
    retrieve=extend_schema(summary="A credit decision, with its input snapshot"),
)
class DecisionViewSet(viewsets.ReadOnlyModelViewSet):
    """Stored credit decisions (``/api/v1/predictions/``): viewer, analyst, admin."""

    permission_classes = [CanRead]
    # The id as the API writes it, as the notice's and contest's <uuid:pk> read it: the model
    # field alone also took it uppercase, undashed, braced or as a urn (one decision, many URLs).
    lookup_value_regex = UUIDConverter.regex
    pagination_class = KeysetPagination  # flat at millions of decisions (docs/performance.md)
    filterset_class = DecisionFilter
    ordering_fields = ["created_at", "probability_default"]
    ordering = ["-created_at"]
    search_fields: list[str] = []

    def get_queryset(self) -> QuerySet[Decision]:
        return decision_list()

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        return DecisionDetailSerializer if self.action == "retrieve" else DecisionSerializer


@extend_schema_view(
    list=extend_schema(summary="List model versions"),
    retrieve=extend_schema(summary="A model version: schema, metrics, status"),
)
class ModelVersionViewSet(viewsets.ReadOnlyModelViewSet):
    """The model registry (``/api/v1/models/``): read by viewer+, activated by admins."""

    serializer_class = ModelVersionSerializer
    # ASCII digits: int() also reads " 1", "+1", "0_1" and other scripts' digits ("１").
    lookup_value_regex = IntConverter.regex
    filterset_class = ModelVersionFilter
    ordering_fields = ["created_at", "activated_at", "version"]
    ordering = ["purpose", "-created_at"]
    search_fields = ["version", "dataset"]

    def get_queryset(self) -> QuerySet[ModelVersion]:
        return model_version_list()

    def get_permissions(self) -> list[Any]:
        return [IsAdmin()] if self.action == "activate" else [CanRead()]

    @extend_schema(
        summary="Activate a version as champion or challenger (admin)",
        request=ModelActivateSerializer,
        responses={
            200: ModelVersionSerializer,
            400: OpenApiResponse(description="The model file fails its checks."),
            403: OpenApiResponse(description="Four eyes are on: promotions go through the admin's requests."),
        },
    )
    @action(detail=True, methods=["post"])
    def activate(self, request: Request, pk: str | None = None) -> Response:
        model_version = self.get_object()
        payload = ModelActivateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            activated = model_version_activate(
                model_version=model_version, status=payload.validated_data["status"], user=acting(request.user)
            )
        except DjangoPermissionDenied as exc:  # four eyes: the service's rule and message
            raise PermissionDenied(str(exc)) from exc
        except ArtifactError as exc:
            raise serializers.ValidationError({"model_version": [str(exc)]}) from exc
        return Response(self.get_serializer(activated).data)
