"""Signal receivers of the accounts app."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.models import ApiKey


@receiver(post_save, sender=ApiKey, dispatch_uid="accounts.api_key_changed")
@receiver(post_delete, sender=ApiKey, dispatch_uid="accounts.api_key_deleted")
def _forget_cached_api_key(sender: type[ApiKey], instance: ApiKey, **kwargs: object) -> None:
    """A revoked, edited or deleted key is re-read from the database at its next use here."""
    from accounts.authentication import api_key_rows

    api_key_rows.invalidate(instance.prefix)
