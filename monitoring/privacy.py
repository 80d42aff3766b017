"""Retention map of the monitoring app (see creditplatform.retention and docs/privacy.md)."""

from __future__ import annotations

from creditplatform.retention import Column, DataKind, Retention, Rows, Table, technical

RETENTION_MAP = [
    Table(
        model="monitoring.ApiCall",
        about="One API call: route pattern (never the raw path), status, latency, caller label",
        rows=Rows.NOT_ABOUT_CLIENTS,
        basis="Holds no client id: routes are stored as patterns (/api/v1/clients/<client_id>/), bodies never",
        retention=Retention(
            date_field="created_at",
            setting="API_CALL_LOG_RETENTION_DAYS",
            basis="Operations and security monitoring",
        ),
        columns={
            **technical("id", "method", "endpoint", "status_code", "latency_ms", "model_version", "created_at"),
            "request_id": Column(DataKind.TECHNICAL, note="X-Request-ID: generated, or the caller's correlation id"),
            "caller": Column(DataKind.STAFF, note="apikey:<prefix>, oidc:<hash> or user:<id>"),
        },
    ),
]
