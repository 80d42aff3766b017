"""Celery entry points of the privacy app: they take ids and call one service."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError

logger = logging.getLogger(__name__)


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def erasure_run(request_id: int) -> dict[str, object]:
    """Run an approved erasure (idempotent: a done request is left as it is)."""
    from privacy.models import GdprRequest
    from privacy.services import erasure_execute

    request = GdprRequest.objects.filter(pk=request_id).first()
    if request is None:
        return {"request": request_id, "status": "missing"}
    result = erasure_execute(request=request)
    logger.info("erasure request %s: %s", request_id, "done" if result.done else "deferred by a legal hold")
    return {"request": request_id, "status": "done" if result.done else "deferred"}


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def retention_run() -> dict[str, object]:
    """Nightly: delete what passed its retention period, retry deferred erasures (beat, 02:30)."""
    from privacy.services import retention_apply

    return retention_apply()
