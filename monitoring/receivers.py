"""Counts what the other apps announce. They never import monitoring; monitoring listens."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from django.dispatch import receiver

from accounts.signals import access_forbidden, auth_failed
from monitoring.metrics import auth_failures_count, decisions_total, forbidden_count, labelled
from scoring.signals import decisions_recorded

logger = logging.getLogger("security")


@receiver(auth_failed)
def count_auth_failure(sender: Any, request: Any, reason: str, **kwargs: Any) -> None:
    auth_failures_count.labels(reason=reason).inc()
    # The credential itself is never logged: only why it was refused and where.
    logger.warning("authentication failed", extra={"reason": reason, "path": request.path})


@receiver(access_forbidden)
def count_forbidden(sender: Any, request: Any, reason: str, **kwargs: Any) -> None:
    forbidden_count.labels(reason=reason).inc()
    logger.info("access forbidden", extra={"reason": reason, "path": request.path})


@receiver(decisions_recorded, dispatch_uid="monitoring.count_decisions")
def count_decisions(sender: Any, kind: str, outcomes: list[str], **kwargs: Any) -> None:
    """``decisions_total{kind, outcome}``: credit (/score, batch jobs) and fraud (/fraude) decisions."""
    if len(outcomes) == 1:  # the hot path: one decision
        labelled(decisions_total, kind=kind, outcome=outcomes[0]).inc()
        return
    for outcome, count in Counter(outcomes).items():  # a batch chunk: thousands
        labelled(decisions_total, kind=kind, outcome=outcome).inc(count)
