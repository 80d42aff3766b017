"""Celery entry points of monitoring."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

logger = logging.getLogger(__name__)


@shared_task
def heartbeat() -> str:
    """Proves beat and the workers are alive (visible in logs and task results)."""
    now = timezone.now().isoformat()
    logger.info("heartbeat", extra={"at": now})
    return now
