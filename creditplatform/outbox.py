"""Rows whose work a Celery task does after the commit, and the reconciler that sends again what
the broker refused or lost.

The pattern of the decision webhooks (``scoring.review.webhooks``) and the drift alerts
(``monitoring.services``): the row that owes the work is committed first, marked *pending*
with the time its next attempt is due; one task per row is enqueued once it commits. A
broker that refuses the message clears that time (``enqueue_each``): the row waits for the
reconciler, run every minute by beat, which sends again the pending rows with no due time,
or one long past (the message lost, the worker killed mid-attempt) (``requeue_lost``). The
task locks its row while it works, so a message sent twice does the work once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet

from creditplatform.webhooks import WebhookRetry


def enqueue_each(
    ids: list[int],
    *,
    send: Callable[[int], Any],
    refused: Callable[[list[int]], Any],
    logger: logging.Logger,
    what: str,
    count_key: str,
) -> None:
    """``send(id)`` for each id (a task's ``delay``); if the broker refuses, ``refused(the ids left)``
    marks them for the reconciler and a warning is logged (``what``; ``count_key``: how many are
    left): never an error for the caller."""
    for position, pk in enumerate(ids):
        try:
            send(pk)
        except Exception as exc:  # the broker is down (or, in-process, a bug): the reconciler sends them
            logger.warning(
                f"{what} not enqueued; the reconciler will send them",
                extra={count_key: len(ids) - position, "error": type(exc).__name__},
            )
            refused(ids[position:])
            return


def requeue_lost(
    pending: QuerySet[Any],
    *,
    due_field: str,
    now: datetime,
    overdue: datetime,
    send: Callable[[list[int]], Any],
    limit: int = 1000,
) -> list[int]:
    """The ids of the ``pending`` rows nobody will send (``due_field`` empty, or before ``overdue``);
    their due time is set to ``now`` and ``send(ids)`` runs once that commits."""
    with transaction.atomic():
        ids = list(
            pending.filter(Q(**{f"{due_field}__isnull": True}) | Q(**{f"{due_field}__lt": overdue}))
            .order_by("pk")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            pending.model._default_manager.filter(pk__in=ids).update(**{due_field: now})
            transaction.on_commit(partial(send, ids))
    return ids


def attempt_as_task(task: Any, attempt: Callable[[], Any]) -> None:
    """The body of a bound Celery task doing one row's work: ``attempt()``, and when it raises
    ``WebhookRetry`` the task's retry after its countdown (a new message; the row counts its
    attempts, so ``max_retries`` is the row's business). Run in-process (eager: tests, no
    broker), the retries follow at once."""
    while True:
        try:
            attempt()
            return
        except WebhookRetry as exc:
            if not task.request.is_eager:
                raise task.retry(exc=exc, countdown=exc.countdown, max_retries=None) from exc
