"""Retention map of the fraud app (see creditplatform.retention and docs/privacy.md)."""

from __future__ import annotations

from django.db.models import Q

from creditplatform.retention import Column, DataKind, Erasure, Retention, Rows, Table, staff, technical

K, E = DataKind, Erasure

AML = (
    "Anti-money-laundering records of transactions: Directive (EU) 2015/849 Art. 40(1)(b), 5 years; GDPR Art. 17(3)(b)"
)
OPEN_ALERT = Q(status__in=["open", "assigned"])

RETENTION_MAP = [
    Table(
        model="fraud.Transaction",
        about="A payment screened by /fraude",
        subject="client",
        rows=Rows.PSEUDONYMISE,
        basis=AML,
        retention=Retention(date_field="timestamp", setting="RETENTION_TRANSACTION_DAYS", basis=AML),
        columns={
            "id": Column(K.TECHNICAL),
            "transaction_id": Column(K.IDENTIFIER, E.TOKEN, "the payment system's reference"),
            "submitted_by": Column(
                K.STAFF, E.KEEP, "the caller the id belongs to: apikey:<prefix>, oidc:<hash>, user:<id>"
            ),
            "client": Column(K.LINK, E.KEEP, "points at the pseudonymised client"),
            "amount": Column(K.FINANCIAL),
            "currency": Column(K.FINANCIAL),
            "type": Column(K.FINANCIAL),
            "timestamp": Column(K.FINANCIAL),
            "country": Column(K.FINANCIAL),
            "channel": Column(K.FINANCIAL),
            "beneficiary": Column(K.IDENTIFIER, E.TOKEN_PER_VALUE, "same account, same token: patterns stay visible"),
            "device_id": Column(K.IDENTIFIER, E.TOKEN_PER_VALUE, "same device, same token"),
            "merchant_category": Column(K.FINANCIAL),
            "created_at": Column(K.TECHNICAL),
        },
    ),
    Table(
        model="fraud.ClientDayTotal",
        about="A client's transactions of one day, counted and summed for velocity (kept by a trigger)",
        subject="client",
        rows=Rows.PSEUDONYMISE,
        basis=AML,
        retention=Retention(date_field="day", setting="RETENTION_TRANSACTION_DAYS", basis=AML),
        # Derived from the transactions, which carry the legal hold and go in the access export.
        limits_erasure=False,
        exported=False,
        columns={
            "id": Column(K.TECHNICAL),
            "client": Column(K.LINK, E.KEEP, "points at the pseudonymised client"),
            "day": Column(K.FINANCIAL),
            "count": Column(K.FINANCIAL),
            "amount": Column(K.FINANCIAL),
        },
    ),
    Table(
        model="fraud.FraudCheck",
        about="A fraud decision: rule context (amounts, flags, counts), scores, rules fired",
        subject="transaction__client",
        rows=Rows.PSEUDONYMISE,
        basis=AML,
        retention=Retention(date_field="transaction__timestamp", setting="RETENTION_TRANSACTION_DAYS", basis=AML),
        columns={
            "id": Column(K.TECHNICAL),
            "transaction": Column(K.LINK),
            "model_version": Column(K.TECHNICAL),
            "features": Column(K.DECISION, E.STRIP_IDENTIFIERS, "no identifier by construction; stripped anyway"),
            "fraud_score": Column(K.DECISION),
            "model_score": Column(K.DECISION),
            "risk_level": Column(K.DECISION),
            "decision": Column(K.DECISION),
            "triggered_rules": Column(K.DECISION, E.KEEP, "rule names and reasons built from the context"),
            "rule_set": Column(K.TECHNICAL),
            "rule_errors": Column(K.TECHNICAL),
            "thresholds": Column(K.TECHNICAL),
            "latency_ms": Column(K.TECHNICAL),
            "caller": Column(K.STAFF, E.KEEP, "apikey:<prefix> or user:<id> of the caller"),
            "created_at": Column(K.TECHNICAL),
        },
    ),
    Table(
        model="fraud.FraudAlert",
        about="A transaction sent to review or blocked, worked by an analyst",
        subject="fraud_check__transaction__client",
        rows=Rows.PSEUDONYMISE,
        basis=AML + "; an open alert holds the erasure until it is resolved",
        retention=Retention(
            date_field="fraud_check__transaction__timestamp",
            setting="RETENTION_TRANSACTION_DAYS",
            basis=AML,
            keep_if=OPEN_ALERT,
        ),
        columns={
            "id": Column(K.TECHNICAL),
            "fraud_check": Column(K.LINK),
            "status": Column(K.TECHNICAL),
            "resolution": Column(K.DECISION),
            "resolution_comment": Column(K.FREE_TEXT, E.REDACT, "analysts' notes may name the person"),
            **staff("assignee", "assigned_by", "resolved_by"),
            **technical("assigned_at", "resolved_at", "created_at"),
        },
    ),
    Table(
        model="fraud.FraudRule",
        about="Fraud rules as they stand",
        rows=Rows.NOT_ABOUT_CLIENTS,
        columns={
            **technical("id", "name", "action", "weight", "is_active", "order", "version", "created_at", "updated_at"),
            "description": Column(K.STAFF, E.KEEP, "written by staff about the rule"),
            "condition": Column(K.TECHNICAL, E.KEEP, "an expression over transaction fields"),
            "reason": Column(K.TECHNICAL),
            **staff("created_by", "updated_by"),
        },
    ),
    Table(
        model="fraud.FraudRuleSet",
        about="The rule versions in force together, named by the checks that evaluated them",
        rows=Rows.NOT_ABOUT_CLIENTS,
        columns={**technical("id", "digest", "rule_versions", "created_at")},
    ),
    Table(
        model="fraud.FraudRuleVersion",
        about="Every version of every rule, as evaluated",
        rows=Rows.NOT_ABOUT_CLIENTS,
        columns={
            **technical(
                "id",
                "rule",
                "version",
                "name",
                "condition",
                "reason",
                "action",
                "weight",
                "is_active",
                "order",
                "created_at",
            ),
            **staff("description", "note", note="written by staff about the rule"),
            **staff("created_by"),
        },
    ),
    Table(
        model="fraud.FraudSettings",
        about="Fraud score thresholds",
        rows=Rows.NOT_ABOUT_CLIENTS,
        columns={**technical("id", "review_threshold", "block_threshold", "updated_at"), **staff("updated_by")},
    ),
]
