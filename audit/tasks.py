"""Celery entry points of the audit trail."""

from __future__ import annotations

from celery import shared_task


@shared_task
def audit_checkpoint() -> dict[str, object]:
    """Every few minutes (beat): the chain's head, signed, appended outside the database.

    A chain that lost or changed events since the last checkpoint fails the task (logged at
    ERROR by the service) and is never vouched for."""
    from audit.checkpoints import audit_checkpoint_write

    checkpoint = audit_checkpoint_write()
    return {"seq": checkpoint.seq if checkpoint else 0, "hash": checkpoint.hash if checkpoint else ""}
