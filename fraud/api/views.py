"""Views of the fraud API: thin, they parse, authorise, call a service and serialise."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import CanCheckFraud, CanRead
from accounts.principals import caller_label
from creditplatform.api.decisions import DecisionAnswer
from creditplatform.api.exceptions import Conflict, ServiceUnavailable
from creditplatform.api.pagination import KeysetPagination
from fraud.api.filters import TransactionFilter
from fraud.api.seed import SeedFraudDecisionSerializer, seed_fraude_fields
from fraud.api.serializers import (
    FraudDecisionSerializer,
    FraudeInputSerializer,
    TransactionDetailSerializer,
    TransactionSerializer,
    fraude_input_parse,
    screen_outcome_representation,
)
from fraud.models import Transaction
from fraud.selectors import AmbiguousTransactionId, transaction_get_for_reader, transaction_list
from fraud.services import TransactionConflict, transaction_screen
from scoring.choices import ModelPurpose
from scoring.ml.predictor import get_model
from scoring.validators import EXTERNAL_ID_CHARS

SEED_PAYLOAD = {"transaction_id": "TX12345", "montant": 2000, "type": "virement", "client_id": "C1001"}
# The first transaction of the seed's postman/batch_profiles.json (tests/data/batch_profiles.json).
SEED_PROFILE = {
    "transaction_id": "T-A001",
    "client_id": "C1001",
    "montant": 1500.00,
    "type": "paiement",
    "devise": "USD",
    "date_transaction": "2025-10-25T09:12:00Z",
}


class FraudeApi(APIView):
    """``POST /api/v1/fraude``: a fraud decision on one transaction, explained and stored."""

    permission_classes = [CanCheckFraud]
    throttle_scope = "fraud"
    seed_compatible = False  # SeedFraudeApi (the root path) adds the seed's fields

    @extend_schema(
        summary="Fraud decision on one transaction",
        description=(
            "Screens the transaction with the active fraud rules and the champion fraud model, stores the "
            "transaction and its check, and opens a fraud alert for `review` and `block`. Seed 000's payload "
            "(`transaction_id`, `montant`, `type`, `client_id`) is enough; the optional context (timestamp, "
            "currency, country, channel, beneficiary, device, merchant category) feeds the rules and the model. "
            "Unknown client ids are created. Unknown fields and implausible values are a 400 naming the field.\n\n"
            "**Score**: `fraud_score = 1 - (1 - model_score) × Π(1 - weight)` over the rules that fired (a noisy-OR; "
            "without a fraud model the rules alone). **Decision**: `block` from the block threshold, `review` from "
            "the review threshold (both in `thresholds`, set by admins), `allow` below; a fired `block` rule always "
            "blocks and a fired `review` rule means at least review. `risk_level` is LOW (allow), MEDIUM (review) "
            "or HIGH (block).\n\n"
            "Transaction ids belong to the caller (API key, token subject or user) that sends them: the same "
            "caller sending the same `transaction_id` again gets the stored decision (200, "
            "`Idempotent-Replayed: true`) and nothing new is stored; the same caller sending the same id for a "
            "different transaction gets a 409. Another caller's ids are never replayed nor revealed: the same id "
            "from another caller is another transaction."
        ),
        request=FraudeInputSerializer,
        responses={
            201: FraudDecisionSerializer,
            200: OpenApiResponse(FraudDecisionSerializer, description="Replay of a stored decision."),
            409: OpenApiResponse(description="transaction_id already used by this caller for a different transaction."),
            503: OpenApiResponse(description="No fraud model serves and FRAUD_REQUIRE_MODEL is on."),
        },
        examples=[
            OpenApiExample("Seed 000 payload", value=SEED_PAYLOAD, request_only=True),
            OpenApiExample(
                "Seed batch profile",
                value=SEED_PROFILE,
                request_only=True,
                description="The first transaction of the seed's batch_profiles.json: devise, date_transaction.",
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        answer = self.decide(request.data, request.user, request.META)
        return Response(answer.body, status=answer.status, headers=answer.headers)

    @classmethod
    def decide(cls, data: Any, user: Any, meta: Mapping[str, Any]) -> DecisionAnswer:
        """Check ``data`` (the parsed body), screen, store; errors are DRF's exceptions (4xx, 503)."""
        screen_request, errors = fraude_input_parse(data)
        if errors or screen_request is None:
            raise serializers.ValidationError(errors)
        # One reference for the whole request: a swap in the middle never mixes two versions.
        model = get_model(ModelPurpose.FRAUD)
        if model is None and settings.FRAUD_REQUIRE_MODEL:
            raise ServiceUnavailable("No usable fraud model is registered as champion.")
        try:
            outcome = transaction_screen(request=screen_request, caller=caller_label(user), model=model)
        except TransactionConflict as exc:
            raise Conflict(str(exc)) from exc
        headers = {}
        if outcome.check.model_version_id:
            headers["X-Model-Version"] = outcome.check.model_version.version  # type: ignore[union-attr]
        if outcome.replayed:
            headers["Idempotent-Replayed"] = "true"
        body = screen_outcome_representation(outcome)
        if cls.seed_compatible:
            body.update(seed_fraude_fields(outcome.check, body["alert_id"]))
        return DecisionAnswer(status.HTTP_200_OK if outcome.replayed else status.HTTP_201_CREATED, body, headers)


@extend_schema_view(
    post=extend_schema(
        summary="Fraud decision on one transaction (seed-compatible answer)",
        description=(
            "The same decision as `POST /api/v1/fraude`, at the root path where seed clients call. The answer also "
            "carries the seed's fields: `risque` (= `fraud_score`), `alert` (true when an alert was opened) and "
            "`message` (one sentence: the decision and the main reason). New integrations use `/api/v1/fraude`."
        ),
        responses={
            201: SeedFraudDecisionSerializer,
            200: OpenApiResponse(SeedFraudDecisionSerializer, description="Replay of a stored decision."),
            409: OpenApiResponse(description="transaction_id already used for a different transaction."),
            503: OpenApiResponse(description="No fraud model serves and FRAUD_REQUIRE_MODEL is on."),
        },
    )
)
class SeedFraudeApi(FraudeApi):
    """``POST /fraude`` at the root: the contract plus the seed's ``risque``, ``alert`` and ``message``."""

    seed_compatible = True


@extend_schema_view(
    list=extend_schema(summary="List transactions and their fraud checks"),
    retrieve=extend_schema(
        summary="A transaction by transaction_id, with its check's input snapshot",
        description=(
            "Transaction ids belong to the caller that submitted them, so one id may name several "
            "transactions: the reader's own comes first, else the only one there is. When several other "
            "callers used the id the answer is a 409; list them with `?transaction_id=`."
        ),
        responses={200: TransactionDetailSerializer, 409: OpenApiResponse(description="Several callers used this id.")},
    ),
)
class TransactionViewSet(viewsets.ReadOnlyModelViewSet):
    """Stored transactions (``/api/v1/transactions/``): viewer, analyst, admin."""

    permission_classes = [CanRead]
    lookup_field = "transaction_id"
    lookup_value_regex = EXTERNAL_ID_CHARS
    pagination_class = KeysetPagination  # flat at millions of transactions (docs/performance.md)
    filterset_class = TransactionFilter
    ordering_fields = ["timestamp", "created_at", "amount"]
    ordering = ["-timestamp"]
    search_fields: list[str] = []

    def get_queryset(self) -> QuerySet[Transaction]:
        return transaction_list()

    def get_object(self) -> Transaction:
        try:
            found = transaction_get_for_reader(
                transaction_id=self.kwargs[self.lookup_field], reader=caller_label(self.request.user)
            )
        except AmbiguousTransactionId as exc:
            raise Conflict(
                f"{exc.count} callers used this transaction_id; list them with "
                "/api/v1/transactions/?transaction_id=<id>."
            ) from exc
        if found is None:
            raise NotFound("No transaction with this transaction_id.")
        self.check_object_permissions(self.request, found)
        return found

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        return TransactionDetailSerializer if self.action == "retrieve" else TransactionSerializer
