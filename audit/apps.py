from django.apps import AppConfig


class AuditConfig(AppConfig):
    """The append-only, hash-chained audit trail every app writes through ``audit_record``."""

    name = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from audit import checks  # noqa: F401  # registers the database role check
