"""Retention map of the monitoring app (see creditplatform.retention and docs/privacy.md)."""

from __future__ import annotations

from creditplatform.retention import Column, DataKind, Erasure, Retention, Rows, Table, technical

RETENTION_MAP = [
    Table(
        model="monitoring.ApiCall",
        about="One API call: route pattern (never the raw path), status, latency, caller label",
        rows=Rows.IN_PAYLOAD,
        payload="monitoring.payloads.CallLogRequestIds",
        basis=(
            "Holds no client id and no link to a client: routes are stored as patterns"
            " (/api/v1/clients/<client_id>/), bodies never. A caller's X-Request-ID that repeats one of the"
            " person's ids (external id, application or transaction id, idempotency key) is replaced by a"
            " generated one; the rest of the row is kept"
        ),
        retention=Retention(
            date_field="created_at",
            setting="API_CALL_LOG_RETENTION_DAYS",
            basis="Operations and security monitoring",
        ),
        columns={
            **technical("id", "method", "endpoint", "status_code", "latency_ms", "model_version", "created_at"),
            "request_id": Column(
                DataKind.IDENTIFIER,
                Erasure.TOKEN,
                note="X-Request-ID: generated, or the caller's id when a token (8-64 of A-Za-z0-9._:-);"
                " erased-<id> when it was one of the person's ids",
            ),
            "caller": Column(DataKind.STAFF, note="apikey:<prefix>, oidc:<hash> or user:<id>"),
        },
    ),
    Table(
        model="monitoring.DriftReport",
        about="One day's drift of a model's inputs and scores against its training reference",
        rows=Rows.NOT_ABOUT_CLIENTS,
        basis=(
            "Aggregates only: counts, shares, test statistics per feature; no row, no id, no value of"
            " one applicant (the day's sample is read, compared and dropped). The sample and the training"
            " reference (scoring.ModelArtifact.reference_data) hold only the model's features and score, taken"
            " by name from the decisions' inputs: an identifier is never a column"
        ),
        columns=technical(
            "id",
            "purpose",
            "day",
            "model_version",
            "status",
            "drift_share",
            "drifted_features",
            "tested_features",
            "alert_threshold",
            "alert",
            "prediction_drift",
            "prediction_drift_score",
            "rows_day",
            "rows_compared",
            "rows_reference",
            "summary",
            "duration_ms",
            "notification",
            "notification_pending",
            "notification_due_at",
            "notification_attempts",
            "created_at",
            "updated_at",
        ),
    ),
    Table(
        model="monitoring.DriftReportHtml",
        about="Evidently's HTML report of a drift report (gzip)",
        rows=Rows.NOT_ABOUT_CLIENTS,
        basis=(
            "Binned distributions and each numeric feature's range over the day's sample: no row and no"
            " id (the columns are the model's features and score only); a range's ends are single values,"
            " hence the short retention"
        ),
        retention=Retention(
            date_field="report__created_at",
            setting="DRIFT_REPORT_HTML_RETENTION_DAYS",
            basis="Kept while a drift investigation may need the charts; the figures stay in the report",
        ),
        columns=technical("id", "report", "content", "size"),
    ),
]
