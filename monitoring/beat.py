"""Beat's scheduler: django-celery-beat's ``DatabaseScheduler``, running only what the admin may schedule.

``periodic_task_check`` guards the admin's form and actions, but a row saved before that check
existed, or written by hand (a shell, SQL, a restored dump), would still be run by beat with
whatever task, arguments and message headers it holds. So beat checks every enabled row each time
it reads the schedule, and leaves out (with a warning naming the row and what is wrong) any row the
check refuses. The platform's own rows (``CELERY_BEAT_SCHEDULE``, Celery's results clean-up) are
written by beat itself from the settings and always run.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError
from django_celery_beat.schedulers import DatabaseScheduler

from creditplatform.celery import platform_periodic_tasks
from monitoring.schedules import periodic_task_row_check

logger = logging.getLogger(__name__)


def unschedulable(rows: list[Any]) -> dict[str, str]:
    """The rows (by name) beat must not run, each with what the check says is wrong with it."""
    platform = platform_periodic_tasks()
    refused: dict[str, str] = {}
    for row in rows:
        if row.name in platform:
            continue
        try:
            periodic_task_row_check(row)
        except ValidationError as exc:
            refused[row.name] = " ".join(exc.messages)
    return refused


class PlatformScheduler(DatabaseScheduler):
    """``DatabaseScheduler`` that skips the enabled rows ``periodic_task_check`` refuses."""

    def enabled_models(self) -> list[Any]:
        rows = list(super().enabled_models())
        refused = unschedulable(rows)
        for name, problem in refused.items():
            logger.warning(
                "periodic task not run: the platform does not schedule it",
                extra={"periodic_task": name, "problem": problem},
            )
        return [row for row in rows if row.name not in refused]
