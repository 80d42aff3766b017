"""Celery entry points of the privacy app: they take ids and call one service."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError

logger = logging.getLogger(__name__)

# An erasure deferred only because a batch chunk naming the person is being scored (minutes)
# is tried again this often, so many times, rather than waiting for the nightly run.
IN_FLIGHT_RETRY_SECONDS = 60
IN_FLIGHT_RETRIES = 30


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def erasure_run(request_id: int, attempt: int = 0) -> dict[str, object]:
    """Run an approved erasure (idempotent: a done request is left as it is)."""
    from privacy.models import GdprRequest
    from privacy.services import erasure_execute

    request = GdprRequest.objects.filter(pk=request_id).first()
    if request is None:
        return {"request": request_id, "status": "missing"}
    result = erasure_execute(request=request)
    logger.info("erasure request %s: %s", request_id, "done" if result.done else "deferred by a legal hold")
    deferring = {h["kind"] for h in result.request.holds if h["effect"] == "defers"}
    if not result.done and deferring == {"in_flight"} and attempt < IN_FLIGHT_RETRIES:
        erasure_run.apply_async((request_id, attempt + 1), countdown=IN_FLIGHT_RETRY_SECONDS)
    return {"request": request_id, "status": "done" if result.done else "deferred"}


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def retention_run() -> dict[str, object]:
    """Nightly: delete what passed its retention period, retry deferred erasures (beat, 02:30)."""
    from privacy.services import retention_apply

    return retention_apply()
