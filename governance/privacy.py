"""Retention map of the governance app (see creditplatform.retention and docs/privacy.md)."""

from __future__ import annotations

from creditplatform.retention import Column, DataKind, Retention, Rows, Table, staff, technical
from scoring.privacy import DECISION_RECORDS

K = DataKind

RETENTION_MAP = [
    Table(
        model="governance.Outcome",
        about="What became of a decided loan (defaulted or not, when observed, over which horizon)",
        subject="decision__client",
        rows=Rows.PSEUDONYMISE,
        basis="Part of the decision record it completes: the evidence of the model's performance (EBA GL/2020/06 "
        "model monitoring, AI Act Art. 9/72 post-market monitoring); the decision it points at is pseudonymised",
        # Counted from the decision, not from the import (months or years later): the outcome goes
        # with the record it completes, and does not keep it past its period.
        retention=Retention(
            date_field="decision__created_at", setting="RETENTION_CREDIT_DECISION_DAYS", basis=DECISION_RECORDS
        ),
        columns={
            "id": Column(K.TECHNICAL),
            "decision": Column(K.LINK, note="points at the pseudonymised decision"),
            "defaulted": Column(K.FINANCIAL),
            "observed_on": Column(K.FINANCIAL),
            "horizon_months": Column(K.TECHNICAL),
            **staff("caller", note="apikey:<prefix>, oidc:<hash> or user:<id> of the importer"),
            **technical("source", "import_id", "created_at"),
        },
    ),
    Table(
        model="governance.PerformanceReport",
        about="A model version's figures on matured decisions, as of a day (aggregates only)",
        rows=Rows.NOT_ABOUT_CLIENTS,
        basis="Aggregate figures over many decisions; no applicant's value is kept",
        columns={
            **technical("id", "model_version", "basis", "champion", "as_of", "horizon_months", "decisions"),
            **technical("matured", "immature", "defaults", "sufficient", "metrics", "champion_metrics", "created_at"),
        },
    ),
    Table(
        model="governance.FairnessReport",
        about="A model version's approval and error rates per group of applicants (aggregates only)",
        rows=Rows.NOT_ABOUT_CLIENTS,
        basis="Aggregate figures per group of many applicants; no applicant's value is kept",
        columns={
            **technical("id", "model_version", "as_of", "basis", "feature", "kind", "rows", "groups", "flagged"),
            **technical("findings", "settings_used", "created_at"),
        },
    ),
    Table(
        model="governance.PromotionRequest",
        about=(
            "Who asked for a model version or fraud rule to go live, or for a refer band or the fraud"
            " thresholds to change, who approved it, and why"
        ),
        rows=Rows.NOT_ABOUT_CLIENTS,
        basis="Accountability of model changes (AI Act Art. 12/14/17, SR 11-7): staff actions, no applicant data",
        columns={
            **technical("id", "kind", "model_version", "target_status", "version_status", "fraud_rule", "rule_version"),
            **technical("status"),
            **technical("four_eyes", "requested_at", "decided_at"),
            # A setting's request: the values proposed and those in force when requested (numbers).
            **technical("proposed_refer_lower", "proposed_refer_upper", "proposed_review_threshold"),
            **technical("proposed_block_threshold", "current_values"),
            **staff("requested_by", "decided_by"),
            **staff("reason", "decision_note", note="free text written by admins about a model or rule"),
        },
    ),
]
