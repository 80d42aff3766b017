"""Serializers of the scoring API.

``/score`` validates against the champion's own feature schema (``scoring.ml.schema``)
rather than a DRF serializer: the accepted fields follow whichever model is serving, and
the check is a plain loop on the hot path. Errors keep the API's one shape, naming each
field. The DRF serializers below describe the default model for the OpenAPI document and
serialise the read endpoints.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from creditplatform.api.serializers import StrictModelSerializer, StrictSerializer, api_datetime, in_key_order
from scoring.choices import CreditDecisionOutcome, FinalOutcome
from scoring.ml.datasets import CREDIT_DATA_ALIASES, CREDIT_DATA_MAPPING
from scoring.ml.model import REASON_KEYS
from scoring.ml.schema import CATEGORICAL, INTEGER, FeatureSchema
from scoring.models import Client, Decision, ModelVersion
from scoring.services import CLIENT_ID_TAKEN, ScoreRequest, client_id_change_check
from scoring.validators import (
    external_id_problem,
    external_id_validator,
    no_control_chars,
    no_control_chars_multiline,
    phone_validator,
    validate_birth_date,
)

LINK_FIELDS = ("client_id", "application_id")


class ClientSerializer(StrictModelSerializer):
    """A client's external id and identity. ``client_id`` is set at creation only."""

    # No trimming: "C1001\n" is refused, as /score and /fraude refuse it, not silently changed.
    client_id = serializers.CharField(max_length=64, trim_whitespace=False, validators=[external_id_validator])
    first_name = serializers.CharField(max_length=100, required=False, allow_blank=True, validators=[no_control_chars])
    last_name = serializers.CharField(max_length=100, required=False, allow_blank=True, validators=[no_control_chars])
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True, validators=[phone_validator])
    birth_date = serializers.DateField(required=False, allow_null=True, validators=[validate_birth_date])  # type: ignore[list-item]  # returns the date
    address = serializers.CharField(
        max_length=500, required=False, allow_blank=True, validators=[no_control_chars_multiline]
    )

    class Meta:
        model = Client
        fields = [
            "client_id",
            "first_name",
            "last_name",
            "email",
            "phone",
            "birth_date",
            "address",
            "erased_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["erased_at", "created_at", "updated_at"]

    def validate_client_id(self, value: str) -> str:
        try:
            client_id_change_check(client=self.instance, client_id=value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict["client_id"]) from exc
        if self.instance is None and Client.objects.filter(client_id=value).exists():
            raise serializers.ValidationError(CLIENT_ID_TAKEN)
        return value


# --- /score -------------------------------------------------------------------------------


def score_request_parse(
    data: Any, schema: FeatureSchema, prefix: str = ""
) -> tuple[ScoreRequest | None, dict[str, list[str]]]:
    """One applicant from a JSON object: (request, {}) or (None, {field: [message]})."""
    if not isinstance(data, Mapping):
        return None, {prefix.rstrip(".") or "non_field_errors": ["Expected a JSON object of applicant features."]}
    errors: dict[str, list[str]] = {}
    links: dict[str, str] = {}
    for name in LINK_FIELDS:
        value = data.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            errors[prefix + name] = ["Not a valid string."]
        elif (problem := external_id_problem(value)) is not None:
            errors[prefix + name] = [problem]
        else:
            links[name] = value
    values, feature_errors = schema.validate(data, ignore=LINK_FIELDS)
    errors.update({prefix + name: [message] for name, message in feature_errors.items()})
    if errors:
        return None, errors
    return ScoreRequest(features=values, **links), {}


def score_batch_parse(data: Any, schema: FeatureSchema, max_items: int) -> list[ScoreRequest]:
    """``{"items": [applicant, ...]}`` with 1 to ``max_items`` applicants; every error is reported."""
    if not isinstance(data, Mapping):
        raise serializers.ValidationError({"non_field_errors": ['Expected {"items": [...]}.']})
    unknown = [str(k) for k in data if k != "items"]
    if unknown:
        raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
    items = data.get("items")
    if not isinstance(items, list):
        raise serializers.ValidationError({"items": ["Expected a list of applicants."]})
    if not items:
        raise serializers.ValidationError({"items": ["Send at least one applicant."]})
    if len(items) > max_items:
        raise serializers.ValidationError(
            {"items": [f"At most {max_items} applicants per call (got {len(items)}); use a batch job for more."]}
        )
    requests: list[ScoreRequest] = []
    errors: dict[str, list[str]] = {}
    for i, item in enumerate(items):
        parsed, item_errors = score_request_parse(item, schema, prefix=f"items.{i}.")
        errors.update(item_errors)
        if parsed is not None:
            requests.append(parsed)
    if errors:
        raise serializers.ValidationError(errors)
    return requests


def decision_representation(decision: Decision, *, with_features: bool = False) -> dict[str, Any]:
    """The public shape of a credit decision, for /score and /predictions alike."""
    out: dict[str, Any] = {
        "id": str(decision.id),
        "client_id": decision.client.client_id if decision.client else None,
        "application_id": decision.application.application_id if decision.application else None,
        "probability_default": decision.probability_default,
        "prediction": decision.prediction,
        "decision": decision.decision,
        "risk_level": decision.risk_level,
        "threshold_used": decision.threshold_used,
        "model_version": decision.model_version.version,
        "reasons": in_key_order(decision.reasons, REASON_KEYS),
        "created_at": api_datetime(decision.created_at),
    }
    if with_features:
        out["features"] = decision.features
        out["caller"] = decision.caller
        out["batch_job"] = str(decision.batch_job_id) if decision.batch_job_id else None
        out["batch_row"] = decision.batch_row
        out.update(decision_status(decision))
        from scoring.review.selectors import refusal_reasons_shown

        out["refusal_reasons"] = refusal_reasons_shown(decision)
    return out


def decision_status(decision: Decision) -> dict[str, Any]:
    """Where a decision stands (docs/review.md): pending a person's review, or final, and whose it is."""
    from scoring.review.selectors import pending_review_ids, review_withdrawn

    final = decision.final_outcome
    pending = bool(pending_review_ids([decision.pk]))
    if not pending and final is None:  # a referral nobody decided: waiting, or withdrawn by an erasure
        pending = not review_withdrawn(decision)
    decided_at = decision.decided_at if decision.final_decision else (None if final is None else decision.created_at)
    return {
        "status": "pending_review" if pending else ("final" if final is not None else "withdrawn"),
        "automated_decision": decision.decision,
        "final_decision": final,
        "decided_by": f"user:{decision.decided_by_id}" if decision.decided_by_id else ("model" if final else None),
        "decided_at": api_datetime(decided_at),
    }


def _doc_fields() -> dict[str, serializers.Field]:
    """The default model's features (and their aliases) as DRF fields, for the OpenAPI document only."""
    fields: dict[str, serializers.Field] = {
        "client_id": serializers.CharField(required=False, max_length=64, help_text="External client id, e.g. C1001."),
        "application_id": serializers.CharField(required=False, max_length=64, help_text="External application id."),
    }

    def field(kind: str, text: str, low: float | None, high: float | None, required: bool) -> serializers.Field:
        if kind == CATEGORICAL:
            return serializers.CharField(required=False, allow_null=True, help_text=f"{text} (a category)")
        if kind == INTEGER:
            # The schema's bounds of an integer feature are whole numbers (floats in the schema).
            return serializers.IntegerField(help_text=text, min_value=low, max_value=high, required=required)  # type: ignore[arg-type]
        return serializers.FloatField(help_text=text, min_value=low, max_value=high, required=required)

    for name, _source, kind, label, low, high, required, _transform in CREDIT_DATA_MAPPING:
        fields[name] = field(kind, label, low, high, required)
        for alias in CREDIT_DATA_ALIASES.get(name, ()):
            text = f"{label}: alias of `{name}`, the name seed clients use. Send one or the other (both is a 400)."
            fields[alias] = field(kind, text, low, high, False)
    return fields


ScoreInputSerializer = type(
    "ScoreInputSerializer",
    (serializers.Serializer,),
    {
        "__doc__": "An applicant, as the default model takes it; any model's own schema is in /api/v1/models/.",
        **_doc_fields(),
    },
)


class ReasonSerializer(serializers.Serializer):
    feature = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a field named "label" shadows Field.label
    value = serializers.JSONField(allow_null=True)
    contribution = serializers.FloatField(help_text="Signed TreeSHAP contribution to the log-odds of default.")


class RefusalReasonSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="A stable code of the underwriters' catalogue, e.g. U02.")
    title = serializers.CharField(help_text="The catalogue's title of the reason.")
    sentence = serializers.CharField(help_text="The catalogue's sentence for the applicant.")


class DecisionSerializer(serializers.ModelSerializer):
    """A stored credit decision (read-only)."""

    client_id = serializers.CharField(allow_null=True)
    application_id = serializers.CharField(allow_null=True)
    model_version = serializers.CharField()
    reasons = ReasonSerializer(many=True)

    class Meta:
        model = Decision
        fields = [
            "id",
            "client_id",
            "application_id",
            "probability_default",
            "prediction",
            "decision",
            "risk_level",
            "threshold_used",
            "model_version",
            "reasons",
            "created_at",
        ]

    def to_representation(self, instance: Decision) -> dict[str, Any]:
        return decision_representation(instance, with_features=bool(self.context.get("with_features")))


class DecisionDetailSerializer(DecisionSerializer):
    features = serializers.JSONField(help_text="The input snapshot the model saw.")
    caller = serializers.CharField()
    batch_job = serializers.UUIDField(allow_null=True, help_text="The batch job that made it, if one did.")
    batch_row = serializers.IntegerField(allow_null=True, help_text="Its row in the batch file (a CSV line number).")
    status = serializers.ChoiceField(
        choices=["pending_review", "final", "withdrawn"],
        help_text="pending_review: referred (or reopened) and not yet decided by an underwriter; withdrawn: the "
        "client was erased before an underwriter decided the referral (no decision will be taken).",
    )
    automated_decision = serializers.ChoiceField(
        choices=CreditDecisionOutcome.choices, help_text="The model's decision (the same as `decision`), never changed."
    )
    final_decision = serializers.ChoiceField(
        choices=FinalOutcome.choices,
        allow_null=True,
        help_text="The decision that stands: an underwriter's, else the automated one; null while a referral waits "
        "for its first review (during a contest or an override review: the one standing until then).",
    )
    decided_by = serializers.CharField(allow_null=True, help_text="`model`, or `user:<id>` of the underwriter.")
    decided_at = serializers.DateTimeField(allow_null=True)
    refusal_reasons = RefusalReasonSerializer(
        many=True,
        help_text="The principal reasons an underwriter stated when the decision that stands is their refusal, in "
        "their order (codes of a fixed catalogue, the adverse-action notice's); empty otherwise: a model's "
        "decision (its reasons are `reasons`), a person's approval, a referral not yet decided, a refusal "
        "decided before reasons were asked for. While a contest or an override is reviewed: those of the "
        "refusal standing until then.",
    )

    class Meta(DecisionSerializer.Meta):
        fields = [
            *DecisionSerializer.Meta.fields,
            "features",
            "caller",
            "batch_job",
            "batch_row",
            "status",
            "automated_decision",
            "final_decision",
            "decided_by",
            "decided_at",
            "refusal_reasons",
        ]

    def to_representation(self, instance: Decision) -> dict[str, Any]:
        return decision_representation(instance, with_features=True)


class ScoreBatchInputSerializer(serializers.Serializer):
    items = ScoreInputSerializer(many=True, help_text="1 to SCORE_BATCH_MAX_ITEMS (default 100) applicants.")


class ScoreBatchOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    results = DecisionSerializer(many=True)


class ModelVersionSerializer(serializers.ModelSerializer):
    """A registry entry: what the model takes, how good it was, whether it serves."""

    activated_by = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "purpose",
            "version",
            "status",
            "threshold",
            "refer_lower",
            "refer_upper",
            "sha256",
            "dataset",
            "feature_schema",
            "metrics",
            "notes",
            "activated_at",
            "activated_by",
            "created_at",
        ]
        read_only_fields = fields

    def get_activated_by(self, obj: ModelVersion) -> str | None:
        return f"user:{obj.activated_by_id}" if obj.activated_by_id else None


class ModelActivateSerializer(StrictSerializer):
    """``status`` only (``champion`` when left out); a misspelt key is refused, not read as an
    empty body that makes the version champion."""

    status = serializers.ChoiceField(choices=["champion", "challenger"], default="champion")
