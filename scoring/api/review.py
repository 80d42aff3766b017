"""Adverse-action notices and contests of credit decisions (docs/review.md)."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.template.loader import render_to_string
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotAcceptable
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.actors import acting
from accounts.permissions import CanRead, CanScore
from accounts.principals import caller_label
from creditplatform.api.exceptions import Conflict
from creditplatform.api.renderers import OrjsonRenderer
from creditplatform.api.serializers import StrictSerializer, api_datetime
from scoring.notices import NoNotice, decision_notice
from scoring.review.services import NotFinal, contest_record
from scoring.selectors import decision_list


class NoticeReasonSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="The model's: stable per feature of its schema, e.g. R03; an underwriter's refusal: a code of "
        "the fixed catalogue, e.g. U02."
    )
    title = serializers.CharField(
        help_text="e.g. 'Past payment incidents', 'Insufficient information: …' or 'Unable to verify income'."
    )
    sentence = serializers.CharField(help_text="For the applicant.")


class LenderSerializer(serializers.Serializer):
    name = serializers.CharField()
    contact = serializers.CharField()


class NoticeSerializer(serializers.Serializer):
    decision_id = serializers.UUIDField()
    reference = serializers.CharField()
    decision = serializers.ChoiceField(choices=["refuse"])
    date = serializers.DateField()
    decided_by = serializers.ChoiceField(choices=["automated", "person"])
    reasons = NoticeReasonSerializer(
        many=True,
        help_text="Up to four principal reasons: those the underwriter who refused stated, in their order; "
        "else the model's, the strongest first.",
    )
    lender = LenderSerializer()
    rights = serializers.ListField(child=serializers.CharField())


class ContestInputSerializer(StrictSerializer):
    statement = serializers.CharField(
        max_length=4000, allow_blank=True, help_text="The applicant's point of view, in their words."
    )


class ContestSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    decision_id = serializers.UUIDField()
    review_case = serializers.IntegerField(help_text="The review case the decision is back in.")
    status = serializers.ChoiceField(choices=["pending_review"])
    created_at = serializers.DateTimeField()


def _wants_html(request: Request) -> bool:
    """HTML or JSON, as ``?format=`` or ``Accept`` ask; a 406 when they ask for neither (an
    ``Accept: application/pdf`` got the JSON notice with a 200)."""
    asked = request.query_params.get("format")
    if asked in ("html", "json"):
        return asked == "html"
    django_request = request._request
    if asked is not None or not (django_request.accepts("application/json") or django_request.accepts("text/html")):
        raise NotAcceptable("The notice comes as JSON or HTML (?format=json or html, or Accept).")
    accept = request.META.get("HTTP_ACCEPT", "")
    return "text/html" in accept and "application/json" not in accept


class DecisionNoticeApi(APIView):
    """``GET`` the adverse-action notice of a final refusal: JSON, or a printable HTML page."""

    permission_classes = [CanRead]
    # The HTML page is rendered here (never by DRF); errors are JSON whatever was asked,
    # a browser's Accept included (no browsable API page for them).
    renderer_classes = [OrjsonRenderer]

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        summary="Adverse-action notice of a final refusal (JSON, or HTML with ?format=html / Accept: text/html)",
        parameters=[OpenApiParameter("format", str, enum=["json", "html"], required=False)],
        responses={
            200: NoticeSerializer,
            (200, "text/html"): OpenApiTypes.STR,
            404: OpenApiResponse(description="No such decision."),
            409: OpenApiResponse(description="Not a final refusal (approved, or pending review)."),
        },
    )
    def get(self, request: Request, pk: str) -> Any:
        decision = generics.get_object_or_404(decision_list(), pk=pk)
        try:
            notice = decision_notice(decision=decision)
        except NoNotice as exc:
            raise Conflict(str(exc)) from exc
        if _wants_html(request):
            return HttpResponse(render_to_string("scoring/notice.html", {"notice": notice}), content_type="text/html")
        return Response(notice)


class DecisionContestApi(APIView):
    """``POST`` an applicant's contest of a final decision: it goes back to the review queue."""

    permission_classes = [CanScore]
    throttle_scope = "score"

    @extend_schema(
        summary="Record an applicant's contest of a final decision (reopens a review case)",
        request=ContestInputSerializer,
        responses={
            201: ContestSerializer,
            400: OpenApiResponse(description="`statement` empty, too long or not text; or an unknown field."),
            404: OpenApiResponse(description="No such decision."),
            409: OpenApiResponse(description="The decision is still pending review."),
        },
        examples=[OpenApiExample("contest", value={"statement": "My income has doubled since March."})],
    )
    def post(self, request: Request, pk: str) -> Response:
        decision = generics.get_object_or_404(decision_list(), pk=pk)
        payload = ContestInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            contest = contest_record(
                decision=decision,
                statement=payload.validated_data["statement"],
                caller=caller_label(request.user),
                user=acting(request.user),
            )
        except NotFinal as exc:
            raise Conflict(str(exc)) from exc
        body = {
            "id": contest.pk,
            "decision_id": str(decision.pk),
            "review_case": contest.review_case_id,
            "status": "pending_review",
            "created_at": api_datetime(contest.created_at),
        }
        return Response(body, status=status.HTTP_201_CREATED)


class WebhookInputSerializer(StrictSerializer):
    """The URL only: the secret is the platform's to generate and a new webhook is active, so a
    ``secret`` or ``is_active`` sent along is refused, not silently ignored (a caller would
    believe its own secret signs the calls)."""

    url = serializers.CharField(
        max_length=500,
        help_text="http(s) URL POSTed when one of your decisions is final (`decision.final`), or when the review "
        "of one of your referrals is withdrawn by its client's erasure (`decision.withdrawn`).",
    )


class WebhookSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField()
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class WebhookCreatedSerializer(WebhookSerializer):
    secret = serializers.CharField(help_text="The HMAC key of X-Credit-Signature: shown this once, keep it.")


def _webhook(hook: Any, *, with_secret: bool = False) -> dict[str, Any]:
    out = {
        "id": hook.pk,
        "url": hook.url,
        "is_active": hook.is_active,
        "created_at": api_datetime(hook.created_at),
    }
    if with_secret:
        out["secret"] = hook.secret
    return out


WEBHOOK_EVENTS = """Each event is a JSON `POST` to the URL, with the headers `X-Credit-Event` (the event's name)
and `X-Credit-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the secret>`. Ids and
outcomes only: never the applicant's inputs, names or client ids.

- `decision.final`: a person decided one of your decisions (a review closed).
  `{"event": "decision.final", "decision_id": "…", "automated_decision": "refer", "final_decision": "refuse",
  "decided_by": "user:7", "decided_at": "…", "refusal_reasons": [{"code": "U02", "title": "…", "sentence": "…"}]}`;
  `refusal_reasons`: the principal reasons the underwriter stated for a refusal (the notice's), else `[]`.
- `decision.withdrawn`: the client of one of your referrals was erased (GDPR) before anyone decided it; no
  decision will be taken. `{"event": "decision.withdrawn", "decision_id": "…", "automated_decision": "refer",
  "status": "withdrawn", "withdrawn_at": "…"}`.

A connection error, a timeout or a 5xx is retried with a doubling backoff; a 4xx is not.
"""


class WebhookListApi(generics.GenericAPIView):
    """``POST`` registers a URL for the caller's decisions; ``GET`` lists the caller's own (the 100 newest)."""

    permission_classes = [CanScore]
    serializer_class = WebhookInputSerializer  # what POST reads (the browsable API's form)
    # Unpaginated, unfiltered; like every list it goes through the filter backends, so a
    # query parameter (it reads none) is a 400 naming it (creditplatform.api.filters).
    pagination_class = None

    def get_queryset(self) -> Any:
        from scoring.models import DecisionWebhook

        return DecisionWebhook.objects.filter(caller=caller_label(self.request.user)).order_by("-created_at")

    @extend_schema(summary="Your decision webhooks", responses={200: WebhookSerializer(many=True)})
    def get(self, request: Request) -> Response:
        hooks = self.filter_queryset(self.get_queryset())[:100]
        return Response([_webhook(h) for h in hooks])

    @extend_schema(
        summary="Register a webhook: told (HMAC-signed) when one of your decisions becomes final",
        description=WEBHOOK_EVENTS,
        request=WebhookInputSerializer,
        responses={
            201: WebhookCreatedSerializer,
            400: OpenApiResponse(
                description="`url` is not an http(s) URL, or leads to an internal address (loopback, private, "
                "link-local..., `localhost`); or an unknown field."
            ),
        },
        examples=[OpenApiExample("webhook", value={"url": "https://lender.example/hooks/credit"})],
    )
    def post(self, request: Request) -> Response:
        from scoring.review.webhooks import decision_webhook_register

        payload = WebhookInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        hook = decision_webhook_register(
            caller=caller_label(request.user), url=payload.validated_data["url"], actor=acting(request.user)
        )
        return Response(_webhook(hook, with_secret=True), status=status.HTTP_201_CREATED)
