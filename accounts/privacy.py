"""Retention map of the accounts app (see creditplatform.retention and docs/privacy.md)."""

from __future__ import annotations

from creditplatform.retention import Column, DataKind, Rows, Table, staff, technical

RETENTION_MAP = [
    Table(
        model="accounts.ApiKey",
        about="API keys of service accounts (hashed; revoked, never deleted)",
        rows=Rows.NOT_ABOUT_CLIENTS,
        columns={
            **technical("id", "prefix", "role", "scopes", "expires_at", "revoked_at", "last_used_at", "created_at"),
            "key_hash": Column(DataKind.TECHNICAL, note="SHA-256 of the key; the key itself is never stored"),
            **staff("name", "created_by"),
        },
    ),
    Table(
        model="accounts.OidcIdentity",
        about="Staff identities at the OpenID Connect provider",
        rows=Rows.NOT_ABOUT_CLIENTS,
        columns={**staff("user", "issuer", "subject", "roles", "last_login_at"), **technical("id", "created_at")},
    ),
]
