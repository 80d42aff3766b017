"""Infrastructure receivers of the scoring app."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.signals import api_key_revoked
from scoring.ml.predictor import models as model_cache
from scoring.models import ModelVersion
from scoring.signals import decision_finalised


@receiver(post_save, sender=ModelVersion, dispatch_uid="scoring.registry_saved")
@receiver(post_delete, sender=ModelVersion, dispatch_uid="scoring.registry_deleted")
def registry_changed(sender: Any, **kwargs: Any) -> None:
    """This process re-reads the registry at its next request (others within MODEL_REFRESH_SECONDS)."""
    transaction.on_commit(model_cache.invalidate)


@receiver(decision_finalised, dispatch_uid="scoring.decision_webhooks")
def decision_final_webhooks(sender: Any, decision_id: Any, **kwargs: Any) -> None:
    """Queue the caller's webhooks (the signal is sent after the decision's commit)."""
    from scoring.review.webhooks import decision_webhooks_queue

    decision_webhooks_queue(decision_id=decision_id)


@receiver(api_key_revoked, dispatch_uid="scoring.revoked_key_webhooks")
def revoked_key_webhooks(sender: Any, api_key: Any, by: Any = None, **kwargs: Any) -> None:
    """A revoked key's decision webhooks and batch jobs stop with it (in the revocation's transaction)."""
    from scoring.batch.services import batch_jobs_cancel_for_caller
    from scoring.choices import BatchCancelReason
    from scoring.review.webhooks import decision_webhooks_deactivate

    decision_webhooks_deactivate(caller=api_key.label, reason="apikey.revoked", actor=by)
    batch_jobs_cancel_for_caller(caller=api_key.label, by=by, reason=BatchCancelReason.CALLER_ACCESS_REVOKED)
