"""Celery entry points of scoring: they take ids and call one service (scoring.batch.services).

``batch_chunk_score`` is acknowledged late and handed back if its worker dies
(``acks_late``, ``reject_on_worker_lost``, set here as well as globally: this task relies on
it). A redelivered or duplicated message is harmless: the service claims the chunk with a
conditional update and caps the attempts, whatever ended them. Its result is not stored:
the chunk row is the record.
"""

from __future__ import annotations

import os

from celery import shared_task
from django.db import InterfaceError, OperationalError


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    # The database unreachable while recording the outcome: retry with backoff; the
    # reconciler is the last resort (the chunk stays claimed, then goes stale).
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=5,
)
def batch_chunk_score(self, chunk_id: int) -> str:
    from scoring.batch.services import batch_chunk_score

    worker = f"{self.request.hostname or 'local'}:{os.getpid()}"
    return batch_chunk_score(chunk_id=chunk_id, worker=worker).status


@shared_task(ignore_result=True)
def batch_reconcile() -> None:
    """Every minute (beat): chunks never sent, lost by the broker, or whose worker vanished."""
    from scoring.batch.services import batch_jobs_reconcile

    batch_jobs_reconcile()


@shared_task(bind=True, ignore_result=True, acks_late=True)
def decision_webhook_deliver(self, delivery_id: int) -> None:
    """POST a decision's event (``decision.final``, ``decision.withdrawn``) to a caller's webhook; retried
    with exponential backoff.

    On a worker each retry is a new message, ``DECISION_WEBHOOK_BACKOFF_SECONDS`` doubling
    (at most an hour); the delivery counts its attempts (a message sent again by the
    reconciler has only the retries left) and records the last failure. Run in-process
    (eager: tests, no broker), the retries follow at once.
    """
    from creditplatform.outbox import attempt_as_task
    from scoring.review.webhooks import decision_webhook_attempt

    attempt_as_task(self, lambda: decision_webhook_attempt(delivery_id=delivery_id))


@shared_task(ignore_result=True)
def decision_webhooks_reconcile() -> None:
    """Every minute (beat): webhook deliveries the broker refused, or whose message was lost."""
    from scoring.review.webhooks import decision_webhooks_reconcile as reconcile

    reconcile()
