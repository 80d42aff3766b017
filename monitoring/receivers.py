"""Counts what the other apps announce. They never import monitoring; monitoring listens."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from django.dispatch import receiver

from accounts.signals import access_forbidden, auth_failed
from monitoring.metrics import auth_failures_count, decisions_total, forbidden_count
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


# decisions_total's children by (kind, outcome): both chosen by the code, a handful in all.
_decision_counters: dict[tuple[str, str], Any] = {}


def _decision_counter(kind: str, outcome: str) -> Any:
    counter = _decision_counters.get((kind, outcome))
    if counter is None:  # labels() checks and sorts its arguments under a lock: once per pair
        counter = _decision_counters[(kind, outcome)] = decisions_total.labels(kind=kind, outcome=outcome)
    return counter


@receiver(decisions_recorded, dispatch_uid="monitoring.count_decisions")
def count_decisions(sender: Any, kind: str, outcomes: list[str], **kwargs: Any) -> None:
    """``decisions_total{kind, outcome}``: credit (/score, batch jobs) and fraud (/fraude) decisions."""
    if len(outcomes) == 1:  # the hot path: one decision
        _decision_counter(kind, outcomes[0]).inc()
        return
    for outcome, count in Counter(outcomes).items():  # a batch chunk: thousands
        _decision_counter(kind, outcome).inc(count)
