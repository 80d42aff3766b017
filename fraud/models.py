"""Transactions, the fraud checks made on them, the rules they ran, alerts and thresholds."""

from __future__ import annotations

import uuid
from typing import Any

import pgtrigger
from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

from fraud.choices import AlertResolution, AlertStatus, Channel, FraudDecisionOutcome, RuleAction, TransactionType
from scoring.choices import RiskLevel
from scoring.models import Client, ModelVersion

RULE_NAME_PATTERN = r"\A[a-z][a-z0-9_]{1,79}\Z"
rule_name_validator = RegexValidator(
    RULE_NAME_PATTERN, "Use 2-80 lower-case letters, digits or '_', starting with a letter (e.g. high_amount)."
)
_unit_interval = [MinValueValidator(0.0), MaxValueValidator(1.0)]


class Transaction(models.Model):
    """A payment submitted for a fraud check, identified by the caller's ``transaction_id``.

    Transaction ids belong to the caller that submitted them (``submitted_by``: the API key,
    token subject or user, as ``accounts.principals.caller_label`` names it): the same id from
    the same caller replays the stored decision, the same id from another caller is another
    transaction. One caller can thus neither read nor detect another caller's ids.
    """

    # One plain index (the reader's look-up by id): no ``varchar_pattern_ops`` twin, nothing
    # searches transaction ids by prefix on the hot path.
    transaction_id = models.CharField(max_length=64)
    submitted_by = models.CharField(
        max_length=100,
        blank=True,
        default="",
        help_text="Caller that submitted it (apikey:<prefix>, oidc:<hash>, user:<id>); empty for imported history.",
    )
    # No index of its own: transaction_client_time_idx leads with the client (one index fewer per write).
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="transactions", db_index=False)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3, default="EUR")
    type = models.CharField(max_length=20, choices=TransactionType.choices)
    timestamp = models.DateTimeField(db_index=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2.")
    channel = models.CharField(max_length=10, choices=Channel.choices, blank=True)
    beneficiary = models.CharField(max_length=100, blank=True, help_text="Beneficiary account or name.")
    device_id = models.CharField(max_length=100, blank=True)
    merchant_category = models.CharField(max_length=4, blank=True, help_text="ISO 18245 MCC.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-timestamp"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="transaction_amount_not_negative"),
            models.CheckConstraint(condition=~Q(transaction_id=""), name="transaction_id_not_empty"),
            models.UniqueConstraint(fields=["submitted_by", "transaction_id"], name="transaction_id_unique_per_caller"),
            models.CheckConstraint(condition=Q(type__in=TransactionType.values), name="transaction_type_valid"),
        ]
        indexes = [
            # Velocity features: count and sum per client over recent windows.
            models.Index(fields=["client", "-timestamp"], name="transaction_client_time_idx"),
            models.Index(fields=["transaction_id"], name="transaction_txid_idx"),
            # "Seen before" (velocity): one bounded index range per value, whatever the client's history.
            *(
                models.Index(
                    fields=["client", field, "timestamp"],
                    name=f"transaction_seen_{short}_idx",
                    condition=~Q(**{field: ""}),
                )
                for field, short in (("beneficiary", "benef"), ("device_id", "device"), ("country", "country"))
            ),
        ]

    def __str__(self) -> str:
        return self.transaction_id or f"transaction {self.pk or '(unsaved)'}"


class ClientDayTotal(models.Model):
    """A client's transactions of one UTC day, counted and summed (velocity of heavy clients).

    Kept up to date by a PostgreSQL trigger on every insert, update and delete of
    ``Transaction`` (migration 0008), in the same transaction as the write, so the sums can
    never drift from the rows. The velocity query reads whole days from here and only the
    partial days at the edges of its windows from the transactions themselves: a client with
    20,000 transactions in 90 days costs about what a new one does (docs/performance.md).
    """

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateTimeField(help_text="Midnight UTC starting the day.")
    count = models.IntegerField(default=0)
    amount = models.DecimalField(max_digits=18, decimal_places=2, default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "day"], name="clientdaytotal_client_day")]

    def __str__(self) -> str:
        return f"{self.client_id} {self.day}: {self.count}"


class FraudCheck(models.Model):
    """A fraud decision on one transaction: evidence, never edited in place.

    ``features`` is the rule context the decision saw (transaction fields and velocity, no
    personal data), so a back-test replays exactly what each rule saw; ``rule_set`` names
    every rule version evaluated (the rule set in force, stored once for all the checks
    that ran it) and ``rule_errors`` those that could not be evaluated on this transaction;
    ``rule_versions`` puts the two together. ``thresholds`` are the score bands in force.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    transaction = models.OneToOneField(Transaction, on_delete=models.PROTECT, related_name="fraud_check")
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="fraud_checks"
    )
    features = models.JSONField(default=dict, help_text="Input snapshot including velocity features.")
    fraud_score = models.FloatField()
    model_score = models.FloatField(null=True, blank=True)
    risk_level = models.CharField(max_length=6, choices=RiskLevel.choices)
    decision = models.CharField(max_length=10, choices=FraudDecisionOutcome.choices)
    triggered_rules = models.JSONField(default=list, help_text="[{name, version, action, weight, reason}]")
    rule_set = models.ForeignKey(
        "FraudRuleSet",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The rule versions evaluated (empty only for a check recorded outside the rules engine).",
    )
    rule_errors = models.JSONField(
        default=list, blank=True, help_text="[{rule, version, error}] of the rule versions that failed on this check."
    )
    thresholds = models.JSONField(default=dict, help_text="{review, block} score thresholds in force.")
    latency_ms = models.FloatField(default=0)
    caller = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(fraud_score__gte=0) & Q(fraud_score__lte=1), name="fraudcheck_score_range"
            ),
            models.CheckConstraint(
                condition=Q(decision__in=FraudDecisionOutcome.values), name="fraudcheck_decision_valid"
            ),
        ]

    def __str__(self) -> str:
        score = "no score" if self.fraud_score is None else f"{self.fraud_score:.3f}"
        return f"{self.decision or 'no decision'} {score} (check {self.pk})"

    @property
    def rule_versions(self) -> list[dict[str, Any]]:
        """[{id, rule, version}] of every rule version evaluated, in evaluation order; a version
        that failed on this transaction carries its ``error`` too."""
        rule_set = self.rule_set
        refs: list[dict[str, Any]] = rule_set.rule_versions if rule_set is not None else []
        if not self.rule_errors:
            return refs
        failed = {(e["rule"], e["version"]): e["error"] for e in self.rule_errors}
        return [
            {**ref, "error": failed[(ref["rule"], ref["version"])]} if (ref["rule"], ref["version"]) in failed else ref
            for ref in refs
        ]


class FraudRuleSet(models.Model):
    """The active rule versions as one set, stored once for every check that evaluated it.

    Content-addressed (``digest``: SHA-256 of the canonical list) and never changed, like the
    versions it names: a check points here instead of carrying the 50-entry list in its own
    row (2.7 KB of JSON, compressed on every insert; docs/performance.md, tenth round).
    """

    digest = models.CharField(max_length=64, unique=True, editable=False)
    rule_versions = models.JSONField(default=list, help_text="[{id, rule, version}] in evaluation order.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # Checks name their rule set: on PostgreSQL a trigger refuses to change or delete one.
        triggers = [pgtrigger.Protect(name="fraudruleset_immutable", operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"rule set {self.digest[:12]} ({len(self.rule_versions)} rules)"


class FraudRule(models.Model):
    """A fraud rule as it stands now. Every change is also kept as an immutable ``FraudRuleVersion``.

    Written only through ``fraud.services.fraud_rule_save`` (which checks the condition and
    makes the version); rules are deactivated, never deleted, because checks name them.
    """

    name = models.CharField(max_length=80, unique=True, validators=[rule_name_validator])
    description = models.TextField(max_length=1000, blank=True)
    condition = models.TextField(
        max_length=2000, help_text="A rule-engine expression over the transaction fields, e.g. amount > 10000."
    )
    reason = models.CharField(
        max_length=300,
        blank=True,
        help_text="Shown to the caller and the analyst when the rule fires; {field} is replaced by its value.",
    )
    action = models.CharField(max_length=10, choices=RuleAction.choices, default=RuleAction.FLAG)
    weight = models.FloatField(
        default=0.3, validators=_unit_interval, help_text="0-1: how much a hit raises the fraud score (noisy-OR)."
    )
    is_active = models.BooleanField(default=False, help_text="Evaluated on every transaction.")
    order = models.PositiveSmallIntegerField(default=100, help_text="Rules run in ascending order.")
    version = models.PositiveIntegerField(default=0, editable=False, help_text="The current version number.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["order", "name"]
        permissions = [
            ("activate_fraudrule", "Can activate fraud rules and edit active ones"),
            ("backtest_fraudrule", "Can back-test fraud rules"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(weight__gte=0) & Q(weight__lte=1), name="fraudrule_weight_range"),
            models.CheckConstraint(condition=Q(action__in=RuleAction.values), name="fraudrule_action_valid"),
        ]
        indexes = [models.Index(fields=["is_active", "order"], name="fraudrule_active_idx")]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


# What a rule version is evaluated as and recorded with: never changed once written.
EVALUATED_VERSION_FIELDS = (
    "rule", "version", "name", "description", "condition", "reason", "action", "weight", "is_active", "order", "note",
    "created_at",
)  # fmt: skip


class FraudRuleVersion(models.Model):
    """One version of a rule, exactly as it was evaluated: never changed, never deleted."""

    rule = models.ForeignKey(FraudRule, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    name = models.CharField(max_length=80)
    description = models.TextField(max_length=1000, blank=True)
    condition = models.TextField(max_length=2000)
    reason = models.CharField(max_length=300, blank=True)
    action = models.CharField(max_length=10, choices=RuleAction.choices)
    weight = models.FloatField()
    is_active = models.BooleanField()
    order = models.PositiveSmallIntegerField()
    note = models.CharField(max_length=200, blank=True, help_text="Why it changed.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["rule", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "version"], name="fraudruleversion_unique_version"),
            models.CheckConstraint(condition=Q(version__gte=1), name="fraudruleversion_version_positive"),
        ]
        # Evidence behind the application's back too (a queryset ``update``/``delete``, SQL): on
        # PostgreSQL a trigger refuses any change of what was evaluated and any delete. Only
        # ``created_by`` may still change (SET_NULL when a staff account is removed).
        triggers = [
            pgtrigger.Protect(name="fraudruleversion_never_deleted", operation=pgtrigger.Delete),
            pgtrigger.Protect(
                name="fraudruleversion_never_changed",
                operation=pgtrigger.Update,
                condition=pgtrigger.AnyChange(*EVALUATED_VERSION_FIELDS),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("A rule version is immutable: change the rule to make a new version.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ValueError("A rule version is evidence and is never deleted.")


class FraudAlert(models.Model):
    """A transaction decided ``review`` or ``block``, waiting for an analyst.

    Opened in the same database transaction as its check. Assigned to one analyst (by an
    admin, or an analyst takes an unassigned one); only that analyst, who then holds the
    ``fraud.resolve_fraudalert`` object permission (django-guardian), or an admin resolves
    it, as confirmed fraud or false positive. Resolutions are the labels of back-tests and
    of the next training.
    """

    fraud_check = models.OneToOneField(FraudCheck, on_delete=models.PROTECT, related_name="alert")
    status = models.CharField(max_length=10, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="fraud_alerts"
    )
    assigned_at = models.DateTimeField(null=True, blank=True)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution = models.CharField(max_length=20, choices=AlertResolution.choices, blank=True)
    resolution_comment = models.TextField(max_length=2000, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("assign_fraudalert", "Can assign fraud alerts to any analyst"),
            ("take_fraudalert", "Can take an unassigned fraud alert"),
            ("resolve_fraudalert", "Can resolve fraud alerts (per alert: its assignee)"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=AlertStatus.values), name="fraudalert_status_valid"),
            models.CheckConstraint(
                condition=(Q(status=AlertStatus.OPEN) & Q(assignee__isnull=True) & Q(resolution=""))
                | (Q(status=AlertStatus.ASSIGNED) & Q(assignee__isnull=False) & Q(resolution=""))
                | (
                    Q(status=AlertStatus.RESOLVED)
                    & Q(resolution__in=AlertResolution.values)
                    & Q(resolved_at__isnull=False)
                    & Q(resolved_by__isnull=False)
                ),
                name="fraudalert_status_consistent",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="fraudalert_queue_idx"),
            # The dashboard counts alerts per day over a date range.
            models.Index(fields=["created_at"], name="fraudalert_created_idx"),
            # Callers poll the verdicts: GET /api/v1/transactions/?resolved_after=… (resolved alerts only).
            models.Index(
                fields=["resolved_at"], name="fraudalert_resolved_idx", condition=Q(resolved_at__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"alert {self.pk} ({self.status})"


class FraudSettings(models.Model):
    """The score thresholds of fraud decisions: one row, edited by admins in the admin.

    An empty review threshold follows the serving fraud model's own threshold (the one that
    minimised the business cost in training).
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    review_threshold = models.FloatField(
        null=True,
        blank=True,
        validators=_unit_interval,
        help_text="Score from which a transaction is reviewed. Empty: the champion fraud model's threshold.",
    )
    block_threshold = models.FloatField(
        default=0.8, validators=_unit_interval, help_text="Score from which a transaction is blocked."
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "fraud settings"
        verbose_name_plural = "fraud settings"
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="fraudsettings_singleton"),
            models.CheckConstraint(
                condition=Q(block_threshold__gt=0) & Q(block_threshold__lte=1), name="fraudsettings_block_range"
            ),
            models.CheckConstraint(
                condition=Q(review_threshold__isnull=True)
                | (Q(review_threshold__gt=0) & Q(review_threshold__lt=models.F("block_threshold"))),
                name="fraudsettings_review_below_block",
            ),
        ]

    def __str__(self) -> str:
        review = "model threshold" if self.review_threshold is None else f"{self.review_threshold:g}"
        return f"review from {review}, block from {self.block_threshold:g}"

    @property
    def threshold_values(self) -> dict[str, float | None]:
        """The thresholds, keyed as audit events and promotion requests record them."""
        return {"review_threshold": self.review_threshold, "block_threshold": self.block_threshold}
