"""What an admin may schedule in django-celery-beat's admin (*Periodic tasks*), and with what.

Beat runs whatever a ``PeriodicTask`` row names, with the row's arguments and message options,
as the worker's own code: left free, the admin role could schedule any registered task
(``privacy.tasks.erasure_run`` on any request id, a drift report of any purpose and day, Celery's
internals) or reach one through the message headers (Celery lets a ``task`` header replace the
task name). So a row saved in the admin must name one of the platform's schedulable tasks:

- the tasks of ``CELERY_BEAT_SCHEDULE`` (and Celery's results clean-up when
  ``CELERY_RESULT_EXPIRES`` is set), with the arguments their entry gives and no others;
- the jobs admins own, created by data migrations (``ADMIN_SCHEDULED_TASKS``: the nightly drift
  report, the monthly performance report), whose only argument is an optional ``day``
  (``YYYY-MM-DD``).

No message headers, queue, exchange or routing key: the platform's workers read the default
queue. The rows beat and the migrations write are not checked here (they never go through the
admin's form) and run as before; ``periodic_task_check`` is what the admin's form and actions show.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from creditplatform.celery import BACKEND_CLEANUP_TASK, platform_periodic_tasks

# An argument's check: None when the value is good, else what is wrong with it.
ArgumentCheck = Callable[[Any], str | None]


FIRST_DAY = date(1970, 1, 1)


def _iso_day(value: Any) -> str | None:
    if not isinstance(value, str):
        return "a date as text, YYYY-MM-DD"
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return "a date as YYYY-MM-DD"
    if len(value) != 10:
        return "a date as YYYY-MM-DD"
    # The jobs count back from the day (a week of catch-up, a performance window): a day near the
    # calendar's first would overflow at every run. The platform's records start long after 1970.
    if day < FIRST_DAY:
        return f"a day from {FIRST_DAY.isoformat()} on"
    # The drift and performance reports refuse a later day (their newest report would be empty):
    # the job would fail at every run. A day that has happened stays one.
    return None if day <= timezone.localdate() else "a day that has happened (today, UTC, at the latest)"


def _exactly(expected: Any) -> ArgumentCheck:
    def check(value: Any) -> str | None:
        return None if value == expected else f"{json.dumps(expected)} (set by CELERY_BEAT_SCHEDULE)"

    return check


@dataclass(frozen=True)
class Schedulable:
    """A task an admin may schedule: the positional arguments it runs with (exactly these) and the
    keyword arguments it may be given, each with its check."""

    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, ArgumentCheck] = field(default_factory=dict)
    required: frozenset[str] = frozenset()


# The schedules admins own (data migrations create their rows; admins move or disable them).
ADMIN_SCHEDULED_TASKS: dict[str, Schedulable] = {
    "monitoring.tasks.drift_report_nightly": Schedulable(kwargs={"day": _iso_day}),
    "governance.tasks.performance_report_monthly": Schedulable(kwargs={"day": _iso_day}),
}

ARGUMENT_HELP: dict[ArgumentCheck, str] = {_iso_day: "a date, YYYY-MM-DD"}
MESSAGE_OPTIONS = {
    "headers": "Message headers are not set here (a header can name another task): leave {}.",
    "queue": "The platform's workers read the default queue: leave it empty.",
    "exchange": "The platform's workers read the default queue: leave it empty.",
    "routing_key": "The platform's workers read the default queue: leave it empty.",
}


def schedulable_tasks() -> dict[str, Schedulable]:
    """Every task an admin may schedule, by its registered name."""
    tasks: dict[str, Schedulable] = {}
    entries: dict[str, dict[str, Any]] = settings.CELERY_BEAT_SCHEDULE
    for entry in entries.values():
        kwargs: dict[str, Any] = dict(entry.get("kwargs") or {})
        args: tuple[Any, ...] = tuple(entry.get("args") or ())
        tasks[str(entry["task"])] = Schedulable(
            args=args,
            kwargs={name: _exactly(value) for name, value in kwargs.items()},
            required=frozenset(kwargs),
        )
    if settings.CELERY_RESULT_EXPIRES:
        tasks[BACKEND_CLEANUP_TASK] = Schedulable()
    tasks.update(ADMIN_SCHEDULED_TASKS)
    return tasks


def _loads(value: str | None, kind: type, empty: str) -> tuple[Any, str | None]:
    try:
        parsed = json.loads(value or empty)
    except ValueError:
        return None, "Not JSON."
    if not isinstance(parsed, kind):
        return None, f"A JSON {'list' if kind is list else 'object'}, such as {empty}."
    return parsed, None


def periodic_task_check(
    *,
    task: str,
    name: str | None = None,
    args: str | None = "[]",
    kwargs: str | None = "{}",
    headers: str | None = "{}",
    queue: str | None = "",
    exchange: str | None = "",
    routing_key: str | None = "",
) -> None:
    """Refuse a periodic task an admin may not schedule, with each problem on its field.

    ``args``, ``kwargs`` and ``headers`` are the row's JSON text; None means the form could not
    read it (its own error is shown) and it is not checked again. ``name``, when given (a row
    added or renamed), must not be one of the platform's own tasks: beat would take that row
    for its own at its next start, and keep whatever "enabled" flag it was saved with.
    """
    errors: dict[str, list[str]] = {}
    platform = platform_periodic_tasks()
    if name is not None and name in platform:
        errors["name"] = [
            f"“{name}” is the platform's own task, configured by settings ({platform[name]}): choose another name."
        ]
    tasks = schedulable_tasks()
    spec = tasks.get(task)
    if spec is None:
        errors["task"] = [
            f"“{task}” is not a task the platform schedules. Schedulable tasks: {', '.join(sorted(tasks))}."
        ]
    if args is not None:
        parsed_args, problem = _loads(args, list, "[]")
        if problem:
            errors["args"] = [problem]
        elif spec is not None and tuple(parsed_args) != spec.args:
            expected = json.dumps(list(spec.args))
            errors["args"] = [
                f"{task} runs with the positional arguments {expected} only: leave {expected}."
                if spec.args
                else f"{task} takes no positional arguments: leave []."
            ]
    if kwargs is not None:
        parsed_kwargs, problem = _loads(kwargs, dict, "{}")
        if problem:
            errors["kwargs"] = [problem]
        elif spec is not None:
            errors.update(_kwargs_errors(task, spec, parsed_kwargs))
    if headers is not None:
        parsed_headers, problem = _loads(headers, dict, "{}")
        if problem or parsed_headers:
            errors["headers"] = [problem or MESSAGE_OPTIONS["headers"]]
    for name, value in (("queue", queue), ("exchange", exchange), ("routing_key", routing_key)):
        if value:
            errors[name] = [MESSAGE_OPTIONS[name]]
    if errors:
        raise ValidationError(errors)


def _kwargs_errors(task: str, spec: Schedulable, given: dict[str, Any]) -> dict[str, list[str]]:
    accepted = ", ".join(f"{name} ({ARGUMENT_HELP.get(check, 'fixed')})" for name, check in spec.kwargs.items())
    problems = []
    unknown = sorted(set(given) - set(spec.kwargs))
    if unknown:
        problems.append(
            f"{task} takes no argument {', '.join(unknown)}. "
            + (f"It accepts: {accepted}." if accepted else "It takes no arguments: leave {}.")
        )
    missing = sorted(spec.required - set(given))
    if missing:
        problems.append(f"{task} needs {', '.join(missing)} (set by CELERY_BEAT_SCHEDULE).")
    for name, check in spec.kwargs.items():
        if name in given and (wanted := check(given[name])) is not None:
            problems.append(f"{name}: {json.dumps(given[name])} is not {wanted}.")
    return {"kwargs": problems} if problems else {}


def periodic_task_row_check(row: Any) -> None:
    """``periodic_task_check`` on a stored ``PeriodicTask`` row (before enabling or running it)."""
    periodic_task_check(
        task=row.task,
        args=row.args,
        kwargs=row.kwargs,
        headers=row.headers,
        queue=row.queue,
        exchange=row.exchange,
        routing_key=row.routing_key,
    )
