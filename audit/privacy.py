"""Retention map of the audit app (see creditplatform.retention and docs/privacy.md)."""

from __future__ import annotations

from creditplatform.retention import Column, DataKind, Rows, Table, staff, technical

RETENTION_MAP = [
    Table(
        model="audit.AuditEvent",
        about="The append-only audit trail: actor, action, object, time, details",
        rows=Rows.NOT_ABOUT_CLIENTS,
        basis=(
            "Never changed or deleted; details hold record ids, counts and versions, never a client's personal "
            "data (audit_record refuses identity keys). GDPR steps name the request, not the client"
        ),
        columns={
            **technical("id", "seq", "created_at", "action", "target_type", "target_id", "prev_hash", "hash"),
            **staff("actor", "actor_name"),
            "details": Column(DataKind.TECHNICAL, note="ids, counts, versions; no client personal data"),
        },
    ),
]
