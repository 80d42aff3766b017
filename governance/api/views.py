"""Views of the governance API: thin, they parse, authorise, call a service and serialise."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import CanWriteRecords
from accounts.principals import caller_label
from creditplatform.api.serializers import StrictSerializer
from governance.choices import OutcomeSource
from governance.services import OutcomeImportError, outcomes_import


class OutcomeRowSerializer(serializers.Serializer):
    """One observed outcome (documentation only: the service checks every row)."""

    decision_id = serializers.UUIDField(required=False, help_text="The decision, by id; or:")
    application_id = serializers.CharField(required=False, help_text="the application's only decision; or:")
    client_id = serializers.CharField(required=False, help_text="the client's only decision on decision_date.")
    decision_date = serializers.DateField(required=False)
    defaulted = serializers.BooleanField()
    observed_on = serializers.DateField()
    horizon_months = serializers.IntegerField(min_value=1, max_value=600)


@extend_schema_field(OutcomeRowSerializer(many=True))
class OutcomeRowsField(serializers.Field):
    """The rows as sent: a list, each row checked by ``outcomes_import`` (the rules' one home,
    shared with the CSV upload and the command), which names ``items.<i>.<field>``."""

    default_error_messages = {"not_a_list": "Expected a list of outcome rows."}

    def to_internal_value(self, data: Any) -> list[Any]:
        if not isinstance(data, list):
            self.fail("not_a_list")
        return data


class OutcomeImportInputSerializer(StrictSerializer):
    """``{"items": [...]}`` and nothing else: another top-level key is refused, not ignored."""

    items = OutcomeRowsField()


class OutcomeImportOutputSerializer(serializers.Serializer):
    import_id = serializers.UUIDField()
    count = serializers.IntegerField()
    outcomes = serializers.ListField(child=serializers.DictField())


EXAMPLE = {
    "items": [
        {
            "decision_id": "6770b84d-2b6b-453e-927c-b659df2f0578",
            "defaulted": False,
            "observed_on": "2026-11-30",
            "horizon_months": 12,
        },
        {"application_id": "A1001", "defaulted": True, "observed_on": "2026-11-30", "horizon_months": 12},
        {
            "client_id": "C1001",
            "decision_date": "2025-11-03",
            "defaulted": False,
            "observed_on": "2026-11-30",
            "horizon_months": 12,
        },
    ]
}


class OutcomeImportApi(APIView):
    """``POST /api/v1/outcomes``: observed outcomes of past decisions, all stored or none."""

    permission_classes = [CanWriteRecords]

    @extend_schema(
        summary="Record observed outcomes of decisions (admin, analyst; API keys with the score scope)",
        description=(
            "Each item names a decision (by `decision_id`, by `application_id`, or by `client_id` and "
            "`decision_date`) with `defaulted`, `observed_on` and `horizon_months`. Every row is checked first: "
            "unknown or ambiguous references, bad values, duplicates and contradictions (within the call or with "
            "stored outcomes) are a 400 naming `items.<i>.<field>`, and nothing is stored. The decision itself is "
            "never changed."
        ),
        request=OutcomeImportInputSerializer,
        responses={201: OutcomeImportOutputSerializer},
        examples=[OpenApiExample("Three ways to name a decision", value=EXAMPLE, request_only=True)],
    )
    def post(self, request: Request) -> Response:
        payload = OutcomeImportInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        items = payload.validated_data["items"]
        caller = caller_label(request.user)
        try:
            result = outcomes_import(rows=items, source=OutcomeSource.API, caller=caller, actor=request.user)
        except OutcomeImportError as exc:
            fields: dict[str, list[str]] = {}
            for e in exc.errors:
                fields.setdefault("items" if e.field == "items" else f"items.{e.index}.{e.field}", []).append(e.message)
            raise ValidationError(fields) from exc
        return Response(
            {
                "import_id": str(result.import_id),
                "count": result.count,
                "outcomes": [
                    {
                        "id": o.pk,
                        "decision_id": str(o.decision_id),
                        "defaulted": o.defaulted,
                        "observed_on": o.observed_on.isoformat(),
                        "horizon_months": o.horizon_months,
                    }
                    for o in result.outcomes
                ],
            },
            status=status.HTTP_201_CREATED,
        )
