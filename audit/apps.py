from django.apps import AppConfig


class AuditConfig(AppConfig):
    """The append-only, hash-chained audit trail every app writes through ``audit_record``."""

    name = "audit"
    verbose_name = "Audit trail"
