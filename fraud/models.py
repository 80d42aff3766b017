"""Transactions and the fraud checks made on them."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from fraud.choices import Channel, FraudDecisionOutcome, TransactionType
from scoring.choices import RiskLevel
from scoring.models import Client, ModelVersion


class Transaction(models.Model):
    """A payment submitted for a fraud check, identified by the caller's ``transaction_id``."""

    transaction_id = models.CharField(max_length=64, unique=True)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="transactions")
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
            models.CheckConstraint(condition=Q(type__in=TransactionType.values), name="transaction_type_valid"),
        ]
        indexes = [
            # Velocity features: count and sum per client over recent windows.
            models.Index(fields=["client", "-timestamp"], name="transaction_client_time_idx"),
        ]

    def __str__(self) -> str:
        return self.transaction_id


class FraudCheck(models.Model):
    """A fraud decision on one transaction: evidence, never edited in place."""

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
    triggered_rules = models.JSONField(default=list, help_text="[{name, version, action, reason}]")
    rule_versions = models.JSONField(default=list, help_text="Versions of every rule evaluated.")
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
        return f"{self.decision} {self.fraud_score:.3f} ({self.transaction_id})"  # type: ignore[attr-defined]
