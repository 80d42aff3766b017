"""Retention map of the scoring app (see creditplatform.retention and docs/privacy.md)."""

from __future__ import annotations

from dataclasses import replace

from django.db.models import Q

from creditplatform.retention import Column, DataKind, Erasure, Retention, Rows, Table, staff, technical
from scoring.choices import BatchChunkStatus

K, E = DataKind, Erasure

DECISION_RECORDS = (
    "Credit decision records: consumer-credit creditworthiness documentation (CCD2 Art. 18, EBA GL/2020/06) "
    "and AI Act logs of high-risk credit scoring (Art. 12/19, at least 6 months); GDPR Art. 17(3)(b)/(e)"
)

# A job's chunks and rejects go with it (they would otherwise keep it for ever).
JOB_RETENTION = Retention(
    date_field="job__created_at", setting="RETENTION_CREDIT_DECISION_DAYS", basis="Go with their batch job"
)

RETENTION_MAP = [
    Table(
        model="scoring.Client",
        about="A client's identity, by the external id the bank's systems use",
        subject="",
        rows=Rows.KEEP_WHILE_REFERENCED,
        basis="Only as the anonymous anchor of kept records: identity emptied, external id replaced",
        retention=Retention(
            date_field="erased_at",
            days=0,
            basis="An erased client's row goes as soon as no kept record points at it",
            keep_if=Q(erased_at__isnull=True),
            # A live client outlives their records only so long (storage limitation).
            sooner=Retention(
                date_field="updated_at",
                setting="RETENTION_CLIENT_IDLE_DAYS",
                basis="A live client no kept record points at any more, and whose identity the bank's systems "
                "have not updated for this long, is not needed: storage limitation, GDPR Art. 5(1)(e)",
            ),
        ),
        columns={
            "id": Column(K.TECHNICAL),
            "client_id": Column(K.IDENTIFIER, E.TOKEN, "replaced by erased-<random>"),
            "first_name": Column(K.IDENTITY, E.CLEAR),
            "last_name": Column(K.IDENTITY, E.CLEAR),
            "email": Column(K.CONTACT, E.CLEAR),
            "phone": Column(K.CONTACT, E.CLEAR),
            "birth_date": Column(K.IDENTITY, E.CLEAR),
            "address": Column(K.CONTACT, E.CLEAR),
            "erased_at": Column(K.TECHNICAL, E.NOW),
            **technical("created_at", "updated_at"),
        },
    ),
    Table(
        model="scoring.CreditApplication",
        about="A credit application: amount asked and the applicant's declared facts",
        subject="client",
        rows=Rows.KEEP_WHILE_REFERENCED,
        basis="Part of a kept decision record; an application no decision refers to is deleted",
        retention=Retention(date_field="created_at", setting="RETENTION_CREDIT_DECISION_DAYS", basis=DECISION_RECORDS),
        columns={
            "id": Column(K.TECHNICAL),
            "client": Column(K.LINK, E.KEEP, "points at the pseudonymised client"),
            "application_id": Column(K.IDENTIFIER, E.CLEAR, "the caller's reference, linkable in its systems"),
            "amount": Column(K.FINANCIAL),
            "duration_months": Column(K.FINANCIAL),
            "purpose": Column(K.FINANCIAL),
            "declared_income": Column(K.FINANCIAL),
            "age": Column(K.DECISION),
            "past_payment_incidents": Column(K.DECISION),
            "employment_years": Column(K.DECISION),
            "extra": Column(K.DECISION, E.STRIP_IDENTIFIERS),
            **technical("status", "created_at", "updated_at"),
        },
    ),
    Table(
        model="scoring.Decision",
        about="A credit decision: inputs the model saw, score, outcome, reasons, model version",
        subject="client",
        rows=Rows.PSEUDONYMISE,
        basis=DECISION_RECORDS,
        retention=Retention(date_field="created_at", setting="RETENTION_CREDIT_DECISION_DAYS", basis=DECISION_RECORDS),
        columns={
            "id": Column(K.TECHNICAL),
            "client": Column(K.LINK, E.KEEP, "points at the pseudonymised client"),
            "application": Column(K.LINK),
            "model_version": Column(K.TECHNICAL),
            **technical(
                "artifact_sha256",
                "pipeline_version",
                "refer_lower_used",
                "refer_upper_used",
                "refer_missing_share_used",
                note="what an exact replay needs",
            ),
            "features": Column(K.DECISION, E.STRIP_IDENTIFIERS, "model inputs; identifier keys removed"),
            "probability_default": Column(K.DECISION),
            "prediction": Column(K.DECISION),
            "decision": Column(K.DECISION),
            "risk_level": Column(K.DECISION),
            "threshold_used": Column(K.DECISION),
            "reasons": Column(K.DECISION),
            "shadow_model_version": Column(K.TECHNICAL),
            "shadow_probability": Column(K.DECISION),
            "shadow_prediction": Column(K.DECISION),
            "latency_ms": Column(K.TECHNICAL),
            "caller": Column(K.STAFF, E.KEEP, "apikey:<prefix> or user:<id> of the caller"),
            "idempotency_key": Column(K.IDENTIFIER, E.CLEAR, "chosen by the caller: may embed its reference"),
            "request_hash": Column(K.IDENTIFIER, E.CLEAR, "hash of a body that named the person"),
            "created_at": Column(K.TECHNICAL),
            "batch_job": Column(
                K.LINK, E.UNLINK, "the batch job that scored it; with the row, it points into the caller's file"
            ),
            "batch_row": Column(K.IDENTIFIER, E.UNLINK, "its row (CSV: line) in the job's file"),
            "final_decision": Column(K.DECISION, note="an underwriter's decision; empty: the automated one stands"),
            **staff("decided_by"),
            "decided_at": Column(K.TECHNICAL),
        },
    ),
    Table(
        model="scoring.ReviewCase",
        about="A credit decision in the underwriters' queue: who worked it, the final decision and why",
        subject="decision__client",
        rows=Rows.PSEUDONYMISE,
        basis=DECISION_RECORDS + "; GDPR Art. 22(3) (human intervention, the right to contest)",
        retention=Retention(
            date_field="decision__created_at", setting="RETENTION_CREDIT_DECISION_DAYS", basis=DECISION_RECORDS
        ),
        columns={
            "id": Column(K.TECHNICAL),
            "decision": Column(K.LINK),
            **technical("origin", "status", "assigned_at", "proposed_at", "approved_at", "closed_at", "created_at"),
            "opening_note": Column(K.FREE_TEXT, E.REDACT, "why an override was asked for; may name the person"),
            "justification": Column(K.FREE_TEXT, E.REDACT, "the underwriter's reasons; may name the person"),
            "proposed_decision": Column(K.DECISION),
            "final_decision": Column(K.DECISION),
            "refusal_reasons": Column(
                K.DECISION, E.KEEP, "codes of a fixed catalogue (never free text): the notice's principal reasons"
            ),
            **staff("opened_by", "assignee", "assigned_by", "proposed_by", "approved_by"),
        },
    ),
    Table(
        model="scoring.Contest",
        about="An applicant's contest of a credit decision, in their words",
        subject="decision__client",
        rows=Rows.PSEUDONYMISE,
        basis=DECISION_RECORDS + "; GDPR Art. 22(3) (the right to contest)",
        retention=Retention(
            date_field="decision__created_at", setting="RETENTION_CREDIT_DECISION_DAYS", basis=DECISION_RECORDS
        ),
        columns={
            **technical("id", "created_at"),
            "decision": Column(K.LINK),
            "review_case": Column(K.LINK),
            "statement": Column(K.FREE_TEXT, E.REDACT, "the applicant's own words"),
            "caller": Column(K.STAFF, E.KEEP, "apikey:<prefix>, oidc:<hash> or user:<id> that recorded it"),
        },
    ),
    Table(
        model="scoring.DecisionWebhook",
        about="A caller's URL told when its decisions become final",
        rows=Rows.NOT_ABOUT_CLIENTS,
        columns={
            **technical("id", "url", "secret", "is_active", "created_at"),
            "caller": Column(K.STAFF, note="apikey:<prefix>, oidc:<hash> or user:<id> that registered it"),
        },
    ),
    Table(
        model="scoring.WebhookDelivery",
        about="One webhook call: the decision's id and outcomes, attempts, the receiver's answer",
        rows=Rows.NOT_ABOUT_CLIENTS,
        basis="The payload (decision.final, decision.withdrawn) holds the decision's id, outcomes, times and a "
        "refusal's reason codes with their catalogue text only, never inputs, names, client ids or free text: an "
        "erasure leaves it as it is, and a delivery still owed is sent",
        retention=Retention(
            date_field="decision__created_at",
            setting="RETENTION_CREDIT_DECISION_DAYS",
            basis="Goes with the decision it announced (which it would otherwise keep for ever)",
        ),
        columns=technical(
            "id",
            "webhook",
            "decision",
            "event",
            "payload",
            "status",
            "attempts",
            "last_outcome",
            "created_at",
            "next_attempt_at",
            "finished_at",
        ),
    ),
    Table(
        model="scoring.BatchJob",
        about="A batch file of applicants: who sent it, when, its figures (not its rows)",
        rows=Rows.NOT_ABOUT_CLIENTS,
        basis="A job covers many applicants and holds none of their values: the rows live in its chunks until scored, "
        "then in the decisions (pseudonymised by erasure like any decision, and unlinked from the job). No file is "
        "stored: the result file is read from the decisions when downloaded, so an erased person's row is no longer "
        "in it",
        retention=Retention(date_field="created_at", setting="RETENTION_CREDIT_DECISION_DAYS", basis=DECISION_RECORDS),
        columns={
            **technical("id", "status", "source", "file_format", "file_size", "file_sha256", "columns"),
            **technical("model_version", "total_rows", "chunk_rows", "chunk_count", "chunks_done", "chunks_dead"),
            **technical("chunk_retries", "rows_scored", "rows_rejected", "created_at", "started_at", "finished_at"),
            **technical("idempotency_key", "cancel_reason"),
            "filename": Column(K.STAFF, note="the uploader's name for the file (cleaned)"),
            "caller": Column(K.STAFF, note="apikey:<prefix>, oidc:<hash> or user:<id> of the uploader"),
        },
    ),
    Table(
        model="scoring.BatchChunk",
        about="A slice of a batch file waiting for, or being scored by, a worker",
        rows=Rows.IN_PAYLOAD,
        payload="scoring.batch.payloads.ChunkPayloads",
        basis="payload holds the slice's rows (client and application ids included) until the chunk is scored, "
        "emptied then. A queued or dead-lettered chunk naming the person has each of the person's rows replaced by "
        "empty cells (the other rows keep their numbers); a chunk being scored defers the erasure until it is done",
        # With their job (a chunk pins its job: both go together); a dead-lettered chunk sooner.
        retention=replace(
            JOB_RETENTION,
            sooner=Retention(
                date_field="finished_at",
                setting="BATCH_DEAD_LETTER_RETENTION_DAYS",
                basis="A dead-lettered chunk's rows were never decided: they are kept only for an admin to retry the "
                "chunk once its cause is fixed, not as long as the decisions (data minimisation, GDPR Art. 5(1)(c) "
                "and (e))",
                keep_if=~Q(status=BatchChunkStatus.DEAD),
            ),
        ),
        columns={
            **technical("id", "job", "number", "first_row", "last_row", "row_count", "status", "attempts"),
            **technical("enqueued_at", "claimed_at", "finished_at", "rows_scored", "rows_rejected"),
            "payload": Column(K.IDENTIFIER, note="the rows as compressed CSV until scored, then empty"),
            "claimed_by": Column(K.TECHNICAL, note="worker node and process"),
            "last_error": Column(
                K.TECHNICAL, note="why an attempt failed; replaced by [erased] if it quotes one of the person's ids"
            ),
        },
    ),
    Table(
        model="scoring.BatchReject",
        about="A row of a batch file that was refused: its line and, per field, why",
        rows=Rows.NOT_ABOUT_CLIENTS,
        basis="Messages only, never the refused values nor the row's client id (row numbers alone name no one)",
        retention=JOB_RETENTION,
        columns=technical("id", "job", "row", "errors"),
    ),
    Table(
        model="scoring.ModelVersion",
        about="The model registry (versions, schemas, metrics, thresholds)",
        rows=Rows.NOT_ABOUT_CLIENTS,
        columns={
            **technical(
                "id",
                "purpose",
                "version",
                "status",
                "sha256",
                "feature_schema",
                "metrics",
                "dataset",
                "threshold",
                "refer_lower",
                "refer_upper",
                "activated_at",
                "created_at",
            ),
            "notes": Column(K.STAFF, E.KEEP, "written by admins about the model"),
            **staff("created_by", "activated_by"),
        },
    ),
    Table(
        model="scoring.ModelArtifact",
        about="A model file and a sample of its training inputs (drift reference)",
        rows=Rows.NOT_ABOUT_CLIENTS,
        basis="Training data come from the shipped data sets (or the bank's own file), not from clients' requests",
        columns=technical("id", "model_version", "content", "size", "reference_data"),
    ),
]
