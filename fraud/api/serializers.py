"""Serializers of the fraud API."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import RegexValidator
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import SkipField, empty, get_error_detail

from creditplatform.api.datetimes import UtcOffsetDateTimeField
from creditplatform.api.plainfields import (
    MISS,
    PlainCheck,
    decimal_number_check,
    integer_check,
    plain_check,
    skipped_when_absent,
)
from creditplatform.api.serializers import StrictSerializer, api_datetime, in_key_order
from creditplatform.hot_settings import hot_settings
from fraud.choices import (
    COUNTRY_CODES,
    CURRENCY_CODES,
    Channel,
    FraudDecisionOutcome,
    RuleAction,
    TransactionType,
    transaction_type_canonical,
)
from fraud.decision import THRESHOLD_KEYS
from fraud.features import TransactionFacts
from fraud.models import FraudCheck, Transaction
from fraud.rules import RULE_HIT_KEYS
from fraud.services import ScreenOutcome, ScreenRequest
from scoring.choices import RiskLevel
from scoring.ml.schema import alias_conflicts
from scoring.validators import external_id_validator, no_control_chars

CURRENCY_FORMAT = "Use an ISO 4217 code of three letters, e.g. EUR."
mcc_validator = RegexValidator(r"\A[0-9]{4}\Z", "Use an ISO 18245 merchant category code of four digits, e.g. 5411.")


def _ascii_letters(value: str, length: int) -> bool:
    """Whether ``value`` is ``length`` ASCII letters, either case, as sent (before any ``upper``)."""
    return len(value) == length and value.isascii() and value.isalpha()


# Seed clients' names for two fields: accepted, never together with the canonical name, and
# turned into it before anything else sees the request.
FRAUDE_ALIASES = {"devise": "currency", "date_transaction": "timestamp"}
TYPE_HELP = (
    "One of the canonical types; case and accents are ignored (`Dépôt`, `depôt`, `DEPOT` are `depot`) and the "
    "canonical value is what is stored, what rules compare and what the model sees."
)
TIMESTAMP_HELP = (
    "When it happened (ISO 8601; without an offset it is UTC; default: now). A past timestamp is scored as of "
    "that time: velocity counts the client's history before it. Refused: earlier than FRAUD_TIMESTAMP_EARLIEST "
    "(2000-01-01), more than FRAUD_TIMESTAMP_MAX_FUTURE_SECONDS (300 s) ahead of the server clock, or with a UTC "
    "offset beyond ±14:00."
)


@extend_schema_field(OpenApiTypes.NUMBER)
class AmountField(serializers.DecimalField):
    """A JSON number only: "2000" or true where an amount is expected is a client bug, as on /score."""

    def to_internal_value(self, data: Any) -> Decimal:
        if isinstance(data, bool) or not isinstance(data, int | float | Decimal):
            raise serializers.ValidationError("A valid number is required.")
        return super().to_internal_value(data)

    def validate_precision(self, value: Decimal) -> Decimal:
        """DRF's limits, the total last: it checks the total first, which names the wrong one
        for an amount. ``0.30000000000000004`` (0.1 + 0.2 in a caller's floating point) has too
        many decimals and ``1e308`` too many whole digits; both were "no more than 14 digits in
        total". The same values are refused, each for what is wrong with it."""
        _, digits, exponent = value.as_tuple()
        if isinstance(exponent, int):  # finite (DRF refused the others before)
            if self.decimal_places is not None and -exponent > self.decimal_places:
                self.fail("max_decimal_places", max_decimal_places=self.decimal_places)
            if self.max_whole_digits is not None and len(digits) + exponent > self.max_whole_digits:
                self.fail("max_whole_digits", max_whole_digits=self.max_whole_digits)
        return super().validate_precision(value)


class CountField(serializers.IntegerField):
    """A JSON integer only (2 or 2.0; never "2" or true)."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int | float):
            raise serializers.ValidationError("A valid integer is required.")
        return super().to_internal_value(data)


class TransactionTypeField(serializers.ChoiceField):
    """A transaction type, case and accents aside (``transaction_type_canonical``)."""

    def to_internal_value(self, data: Any) -> str:
        canonical = transaction_type_canonical(data) if isinstance(data, str) else None
        if canonical is None:
            self.fail("invalid_choice", input=str(data)[:50])
        return canonical


class FraudeInputSerializer(StrictSerializer):
    """A transaction to screen. Seed 000's four fields are required; the context is optional."""

    transaction_id = serializers.CharField(
        max_length=64,
        trim_whitespace=False,
        validators=[external_id_validator],
        help_text="The caller's id; the same caller sending the same id replays.",
    )
    montant = AmountField(
        max_digits=14, decimal_places=2, min_value=Decimal("0"), help_text="Amount (0 to FRAUD_MAX_AMOUNT)."
    )
    type = TransactionTypeField(choices=TransactionType.choices, help_text=TYPE_HELP)
    client_id = serializers.CharField(
        max_length=64,
        trim_whitespace=False,
        validators=[external_id_validator],
        help_text="External client id; unknown ids are created.",
    )
    timestamp = UtcOffsetDateTimeField(required=False, default_timezone=dt.UTC, help_text=TIMESTAMP_HELP)
    date_transaction = UtcOffsetDateTimeField(
        required=False,
        default_timezone=dt.UTC,
        help_text="Alias of `timestamp` (the name seed clients use); send one or the other (both is a 400).",
    )
    currency = serializers.CharField(
        required=False, max_length=3, help_text="ISO 4217 code (e.g. EUR, USD, MAD); default FRAUD_HOME_CURRENCY."
    )
    devise = serializers.CharField(
        required=False,
        max_length=3,
        help_text="Alias of `currency` (the name seed clients use); send one or the other (both is a 400).",
    )
    country = serializers.CharField(required=False, allow_blank=True, max_length=2, help_text="ISO 3166-1 alpha-2.")
    channel = serializers.ChoiceField(choices=Channel.choices, required=False, allow_blank=True)
    beneficiary = serializers.CharField(
        required=False, allow_blank=True, max_length=100, validators=[no_control_chars], help_text="Account or name."
    )
    device_id = serializers.CharField(required=False, allow_blank=True, max_length=100, validators=[no_control_chars])
    merchant_category = serializers.CharField(
        required=False, allow_blank=True, max_length=4, validators=[mcc_validator], help_text="ISO 18245 MCC."
    )
    historique_impaye = CountField(
        required=False,
        min_value=0,
        max_value=100,
        help_text="The client's past payment incidents (client context, as on /score); rules read it, 0 when absent.",
    )

    def to_internal_value(self, data: Any) -> Any:
        conflicts = alias_conflicts(data, FRAUDE_ALIASES) if isinstance(data, Mapping) else {}
        if conflicts:
            # Report the other fields' problems too, so one round trip shows them all.
            errors: dict[str, Any] = {name: [message] for name, message in conflicts.items()}
            try:
                super().to_internal_value({k: v for k, v in data.items() if k not in conflicts})
            except serializers.ValidationError as exc:
                if isinstance(exc.detail, dict):
                    errors = {**exc.detail, **errors}
            raise serializers.ValidationError(errors)
        values = super().to_internal_value(data)
        for alias, canonical in FRAUDE_ALIASES.items():
            if alias in values:
                values[canonical] = values.pop(alias)
        return values

    def validate_montant(self, value: Decimal) -> Decimal:
        if value > hot_settings.FRAUD_MAX_AMOUNT:
            raise serializers.ValidationError(
                f"Ensure this value is less than or equal to {hot_settings.FRAUD_MAX_AMOUNT}."
            )
        return value

    def validate_timestamp(self, value: dt.datetime) -> dt.datetime:
        if value > timezone.now() + dt.timedelta(seconds=settings.FRAUD_TIMESTAMP_MAX_FUTURE_SECONDS):
            raise serializers.ValidationError("The timestamp is in the future.")
        if value < settings.FRAUD_TIMESTAMP_EARLIEST:
            earliest = settings.FRAUD_TIMESTAMP_EARLIEST.date().isoformat()
            raise serializers.ValidationError(f"The timestamp is before {earliest}: probably a typo.")
        return value

    validate_date_transaction = validate_timestamp

    # A code is checked as sent, then upper-cased: ``str.upper`` maps some non-ASCII letters
    # to ASCII ones ("ß" to "SS", "ﬅ" to "ST"), which would turn "ßp" into SSP. These hooks
    # are the one home of both rules: the fast path (``fraude_input_parse``) runs them too.

    def validate_currency(self, value: str) -> str:
        if not _ascii_letters(value, 3):
            raise serializers.ValidationError(CURRENCY_FORMAT)
        value = value.upper()
        if value not in CURRENCY_CODES:
            raise serializers.ValidationError(f"'{value}' is not an ISO 4217 currency code.")
        return value

    validate_devise = validate_currency

    def validate_country(self, value: str) -> str:
        if value and (not _ascii_letters(value, 2) or value.upper() not in COUNTRY_CODES):
            raise serializers.ValidationError(f"'{value[:2]}' is not an ISO 3166-1 alpha-2 country code.")
        return value.upper()

    def to_request(self) -> ScreenRequest:
        return fraude_screen_request(self.validated_data)


def fraude_screen_request(data: Mapping[str, Any]) -> ScreenRequest:
    """The service's request from validated /fraude input (canonical names: aliases already renamed)."""
    return ScreenRequest(
        transaction_id=data["transaction_id"],
        client_id=data["client_id"],
        timestamp_given="timestamp" in data,
        facts=TransactionFacts(
            amount=float(data["montant"]),
            type=data["type"],
            timestamp=data.get("timestamp") or timezone.now(),
            currency=data.get("currency") or hot_settings.FRAUD_HOME_CURRENCY,
            country=data.get("country", ""),
            channel=data.get("channel", ""),
            beneficiary=data.get("beneficiary", ""),
            device_id=data.get("device_id", ""),
            merchant_category=data.get("merchant_category", ""),
            historique_impaye=data.get("historique_impaye"),
        ),
    )


class _FraudeInputCheck:
    """The fields and ``validate_<field>`` hooks of one ``FraudeInputSerializer``, built once per process.

    ``fraude_input_parse`` runs them over each request: the same rules and messages as the
    serializer (one definition), without building a serializer per request (DRF deep-copies
    every declared field for each instance: three quarters of its cost on /fraude). Fields and
    hooks keep no state between calls, so threads may share them.
    """

    def __init__(self) -> None:
        prototype = FraudeInputSerializer()
        self.fields: dict[str, serializers.Field] = dict(prototype.fields.items())
        self.hooks = {name: getattr(prototype, f"validate_{name}", None) for name in self.fields}
        self.text = frozenset(name for name, field in self.fields.items() if isinstance(field, serializers.CharField))
        # Each field's plain check (``creditplatform.api.plainfields``): the value DRF would give
        # for the inputs it plainly accepts, else MISS and the field itself answers.
        self.plain = {name: plain_check(field, known=_PLAIN_FIELDS) for name, field in self.fields.items()}
        self.skipped = frozenset(name for name, field in self.fields.items() if skipped_when_absent(field))

    def values(self, data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """DRF's ``Serializer.to_internal_value`` over these fields: (values, {field: [messages]})."""
        values: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        for name, field in self.fields.items():
            given = data.get(name, empty)
            if given is empty and name in self.skipped:
                continue  # DRF's SkipField, without raising it
            plain = self.plain[name]
            value = MISS if plain is None else plain(given)
            try:
                if value is MISS:
                    value = field.run_validation(given)
                hook = self.hooks[name]
                if hook is not None:
                    value = hook(value)
            except serializers.ValidationError as exc:
                errors[name] = exc.detail
            except DjangoValidationError as exc:
                errors[name] = get_error_detail(exc)
            except SkipField:
                continue
            else:
                values[name] = value
        return values, errors

    def strict(self, data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """``StrictFieldsMixin``: unknown fields and non-strings where text is expected, then the fields."""
        refused: dict[str, Any] = {}
        for key, value in data.items():
            if key not in self.fields:
                refused[str(key)] = ["Unknown field."]
            elif key in self.text and value is not None and not isinstance(value, str):
                refused[str(key)] = ["Not a valid string."]
        if not refused:
            return self.values(data)
        values, errors = self.values({k: v for k, v in data.items() if str(k) not in refused})
        return values, {**errors, **refused}


def _transaction_type_check(field: TransactionTypeField) -> PlainCheck | None:
    """``TransactionTypeField``: any spelling of a type (``transaction_type_canonical``), as the field."""
    if field.validators:
        return None

    def check(data: Any) -> Any:
        if type(data) is not str:
            return MISS
        canonical = transaction_type_canonical(data)
        return MISS if canonical is None else canonical

    return check


# This module's field classes, by exact type: what each accepts is its parent's, for JSON
# numbers (an amount, a count) or its own (a type).
_PLAIN_FIELDS: dict[type, Callable[..., PlainCheck | None]] = {
    AmountField: decimal_number_check,
    CountField: integer_check,
    TransactionTypeField: _transaction_type_check,
}


@functools.cache
def _fraude_input_check() -> _FraudeInputCheck:
    return _FraudeInputCheck()


def fraude_input_parse(data: Any) -> tuple[ScreenRequest | None, dict[str, Any]]:
    """/fraude's input, checked as ``/score``'s is: (request, {}) or (None, {field: [message]}).

    The same answers as ``FraudeInputSerializer`` (which stays for the OpenAPI document and
    the alias and per-field rules): unknown fields, aliases and their conflicts, caps, type
    normalisation and every message, checked field by field in ``tests/fraud/test_input.py``.
    """
    if not isinstance(data, dict):
        serializer = FraudeInputSerializer(data=data)  # not an object: the serializer's own 400 (rare)
        if serializer.is_valid():
            return serializer.to_request(), {}
        return None, dict(serializer.errors)
    check = _fraude_input_check()
    conflicts = alias_conflicts(data, FRAUDE_ALIASES)
    if conflicts:
        # Report the other fields' problems too, so one round trip shows them all.
        _, errors = check.strict({k: v for k, v in data.items() if k not in conflicts})
        return None, {**errors, **{name: [message] for name, message in conflicts.items()}}
    values, errors = check.strict(data)
    if errors:
        return None, errors
    for alias, canonical in FRAUDE_ALIASES.items():
        if alias in values:
            values[canonical] = values.pop(alias)
    return fraude_screen_request(values), {}


class TriggeredRuleSerializer(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.IntegerField()
    action = serializers.ChoiceField(choices=RuleAction.choices)
    weight = serializers.FloatField()
    reason = serializers.CharField()


class FraudDecisionSerializer(serializers.Serializer):
    """The answer of /fraude (for the OpenAPI document; built by ``fraud_decision_representation``)."""

    transaction_id = serializers.CharField()
    client_id = serializers.CharField()
    fraud_score = serializers.FloatField(help_text="0-1: noisy-OR of the model's probability and the rules' weights.")
    model_score = serializers.FloatField(allow_null=True, help_text="The model's probability alone (null: no model).")
    risk_level = serializers.ChoiceField(choices=RiskLevel.choices)
    decision = serializers.ChoiceField(choices=FraudDecisionOutcome.choices)
    triggered_rules = TriggeredRuleSerializer(many=True)
    model_version = serializers.CharField(allow_null=True)
    thresholds = serializers.DictField(child=serializers.FloatField(), help_text="{review, block} in force.")
    alert_id = serializers.IntegerField(allow_null=True, help_text="The fraud alert opened (review and block).")
    check_id = serializers.UUIDField()
    created_at = serializers.DateTimeField()


def fraud_decision_representation(
    check: FraudCheck, transaction: Transaction, client_id: str, alert_id: int | None
) -> dict[str, Any]:
    """The public shape of a fraud decision."""
    return {
        "transaction_id": transaction.transaction_id,
        "client_id": client_id,
        "fraud_score": check.fraud_score,
        "model_score": check.model_score,
        "risk_level": check.risk_level,
        "decision": check.decision,
        "triggered_rules": in_key_order(check.triggered_rules, RULE_HIT_KEYS),
        "model_version": check.model_version.version if check.model_version else None,
        "thresholds": in_key_order(check.thresholds, THRESHOLD_KEYS),
        "alert_id": alert_id,
        "check_id": str(check.pk),
        "created_at": api_datetime(check.created_at),
    }


def screen_outcome_representation(outcome: ScreenOutcome) -> dict[str, Any]:
    return fraud_decision_representation(
        outcome.check, outcome.transaction, outcome.client_id, outcome.alert.pk if outcome.alert is not None else None
    )


class CheckSerializer(serializers.ModelSerializer):
    """A transaction's fraud check, as the transactions list shows it."""

    model_version = serializers.CharField(source="model_version.version", allow_null=True, default=None)
    alert = serializers.SerializerMethodField()

    class Meta:
        model = FraudCheck
        fields = [
            "id",
            "fraud_score",
            "model_score",
            "risk_level",
            "decision",
            "triggered_rules",
            "model_version",
            "thresholds",
            "alert",
            "created_at",
        ]
        read_only_fields = fields

    def to_representation(self, instance: FraudCheck) -> dict[str, Any]:
        data: dict[str, Any] = super().to_representation(instance)
        data["triggered_rules"] = in_key_order(data["triggered_rules"], RULE_HIT_KEYS)
        data["thresholds"] = in_key_order(data["thresholds"], THRESHOLD_KEYS)
        return data

    def get_alert(self, check: FraudCheck) -> dict[str, Any] | None:
        alert = getattr(check, "alert", None)
        if alert is None:
            return None
        return {"id": alert.pk, "status": alert.status, "resolution": alert.resolution or None}


class RuleVersionRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True)
    rule = serializers.CharField()
    version = serializers.IntegerField()
    error = serializers.CharField(required=False, help_text="Present when the rule failed on this transaction.")


class CheckDetailSerializer(CheckSerializer):
    rule_versions = RuleVersionRefSerializer(
        many=True, read_only=True, help_text="Every rule version evaluated, in evaluation order."
    )

    class Meta(CheckSerializer.Meta):
        fields = [*CheckSerializer.Meta.fields, "features", "rule_versions", "latency_ms", "caller"]
        read_only_fields = fields


class TransactionSerializer(serializers.ModelSerializer):
    """A stored transaction and its fraud check (null for history recorded without one)."""

    client_id = serializers.CharField(source="client.client_id")
    montant = serializers.DecimalField(source="amount", max_digits=14, decimal_places=2)
    # Blank when the caller gave none: declared, since read-only model fields lose allow_blank
    # (the schema then listed only the six channels, and "" broke it).
    channel = serializers.ChoiceField(choices=Channel.choices, allow_blank=True, read_only=True)
    check = serializers.SerializerMethodField()

    class Meta:
        model = Transaction
        fields = [
            "transaction_id",
            "submitted_by",
            "client_id",
            "montant",
            "currency",
            "type",
            "timestamp",
            "country",
            "channel",
            "merchant_category",
            "check",
            "created_at",
        ]
        read_only_fields = fields

    check_serializer = CheckSerializer

    def get_check(self, transaction: Transaction) -> dict[str, Any] | None:
        try:
            check = transaction.fraud_check
        except FraudCheck.DoesNotExist:
            return None
        return self.check_serializer(check).data


class TransactionDetailSerializer(TransactionSerializer):
    """Also the beneficiary, the device and the decision's input snapshot (personal data: detail only)."""

    check_serializer = CheckDetailSerializer

    class Meta(TransactionSerializer.Meta):
        fields = [*TransactionSerializer.Meta.fields, "beneficiary", "device_id"]
        read_only_fields = fields
