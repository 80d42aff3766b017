"""Signal receivers of the accounts app."""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.models import ApiKey


@receiver(post_save, sender=ApiKey, dispatch_uid="accounts.api_key_changed")
@receiver(post_delete, sender=ApiKey, dispatch_uid="accounts.api_key_deleted")
def _forget_cached_api_key(sender: type[ApiKey], instance: ApiKey, **kwargs: object) -> None:
    """A revoked, edited or deleted key is re-read from the database at its next use here."""
    from accounts.authentication import api_key_rows

    api_key_rows.invalidate(instance.prefix)


@receiver(user_logged_in, dispatch_uid="accounts.audit_login")
def _audit_login(sender: object, request: object, user: object, **kwargs: object) -> None:
    """Logins that grant a role go in the audit trail (OIDC and break-glass password logins)."""
    from accounts.services import login_record

    backend = str(getattr(user, "backend", ""))
    method = "oidc" if backend.endswith("CreditOIDCBackend") else "password"
    login_record(user=user, method=method)  # type: ignore[arg-type]
