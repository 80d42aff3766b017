"""The periodic tasks beat writes from the settings are read-only in the admin; the others stay editable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask
from django_celery_beat.schedulers import ModelEntry

from creditplatform.celery import app as celery_app

pytestmark = pytest.mark.django_db

TASKS = "/admin/django_celery_beat/periodictask/"


@pytest.fixture
def retention() -> PeriodicTask:
    """The platform's tasks written as beat writes them at start (django-celery-beat's own code)."""
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        ModelEntry.from_entry(name, app=celery_app, **entry)
    return PeriodicTask.objects.get(name="privacy-retention")


@pytest.fixture
def admin(client: Client, user_with_role: Callable[[str], Any]) -> Client:
    client.force_login(user_with_role("admin"))
    return client


@pytest.fixture
def drift() -> PeriodicTask:
    """An admin-owned schedule (created by a data migration)."""
    return PeriodicTask.objects.get(task="monitoring.tasks.drift_report_nightly")


def change_form(task: PeriodicTask, /, **changes: Any) -> dict[str, Any]:
    form = {
        "name": task.name, "regtask": task.task, "task": task.task, "description": task.description,
        "crontab": task.crontab_id or "", "interval": task.interval_id or "", "solar": "", "clocked": "",
        "start_time_0": "", "start_time_1": "", "args": task.args, "kwargs": task.kwargs, "expires_0": "",
        "expires_1": "", "expire_seconds": "", "queue": "", "exchange": "", "routing_key": "", "priority": "",
        "headers": task.headers,
    }  # fmt: skip
    if task.enabled:
        form["enabled"] = "on"
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


def test_an_admin_cannot_disable_edit_or_delete_the_retention_task(retention: PeriodicTask, admin: Client) -> None:
    page = admin.get(f"{TASKS}{retention.pk}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Configured by settings (CELERY_BEAT_SCHEDULE)" in text and 'name="_save"' not in text
    without_enabled = {k: v for k, v in change_form(retention).items() if k != "enabled"}
    assert admin.post(f"{TASKS}{retention.pk}/change/", without_enabled).status_code == 403
    assert admin.post(f"{TASKS}{retention.pk}/delete/", {"post": "yes"}).status_code == 403
    # Deleting its schedule row would delete the task with it (on_delete=CASCADE).
    crontab = f"/admin/django_celery_beat/crontabschedule/{retention.crontab_id}/delete/"
    assert admin.post(crontab, {"post": "yes"}).status_code == 403
    retention.refresh_from_db()
    assert retention.enabled and (retention.crontab.hour, retention.crontab.minute) == ("2", "30")


def test_bulk_actions_leave_the_platform_s_tasks_and_change_the_admin_s_own(
    retention: PeriodicTask, drift: PeriodicTask, admin: Client
) -> None:
    for action in ("disable_tasks", "toggle_tasks"):
        response = admin.post(TASKS, {"action": action, "_selected_action": [retention.pk, drift.pk]}, follow=True)
        assert "Left unchanged: privacy-retention. Configured by settings (CELERY_BEAT_SCHEDULE)" in (
            response.content.decode()
        )
        retention.refresh_from_db()
        assert retention.enabled
    drift.refresh_from_db()
    assert drift.enabled  # disabled, then toggled back on
    admin.post(TASKS, {"action": "disable_tasks", "_selected_action": [drift.pk]})
    drift.refresh_from_db()
    assert not drift.enabled
    # An admin-owned schedule's own page still saves.
    response = admin.post(f"{TASKS}{drift.pk}/change/", change_form(drift, description="moved", enabled="on"))
    assert response.status_code == 302
    drift.refresh_from_db()
    assert drift.description == "moved" and drift.enabled
    listed = admin.get(TASKS).content.decode()
    assert "settings (CELERY_BEAT_SCHEDULE)" in listed and "this admin" in listed


# --- What an admin may schedule (monitoring.schedules) ----------------------------------------


def add_form(drift: PeriodicTask, **changes: Any) -> dict[str, Any]:
    """The add page's form: a new schedule, by default of the nightly drift task on its crontab."""
    return change_form(drift, **{"name": "another schedule", **changes})


def errors_of(response: Any) -> dict[str, list[str]]:
    assert response.status_code == 200, response.status_code  # the form again, not a redirect
    return {name: list(messages) for name, messages in response.context["adminform"].form.errors.items()}


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"regtask": "", "task": "privacy.tasks.erasure_run", "args": "[1]"}, "task", "is not a task the platform"),
        ({"regtask": "scoring.tasks.batch_chunk_score", "args": "[1]"}, "task", "is not a task the platform"),
        ({"regtask": "", "task": "celery.chord_unlock"}, "task", "is not a task the platform"),
        ({"args": "[1]"}, "args", "takes no positional arguments"),
        ({"args": '{"a": 1}'}, "args", "A JSON list"),
        ({"kwargs": '{"purpose": "credit"}'}, "kwargs", "takes no argument purpose"),
        ({"kwargs": '{"day": "yesterday"}'}, "kwargs", "is not a date as YYYY-MM-DD"),
        ({"kwargs": '{"day": 20261102}'}, "kwargs", "is not a date as text"),
        # The drift and performance reports refuse such a day: the job would fail at every run.
        ({"kwargs": '{"day": "2999-01-01"}'}, "kwargs", "is not a day that has happened"),
        # The nightly job counts a week back from its day: the calendar's first days overflowed.
        ({"kwargs": '{"day": "0001-01-01"}'}, "kwargs", "is not a day from 1970-01-01 on"),
        ({"kwargs": "[]"}, "kwargs", "A JSON object"),
        ({"headers": '{"task": "privacy.tasks.erasure_run"}'}, "headers", "a header can name another task"),
        ({"queue": "elsewhere"}, "queue", "default queue"),
        ({"routing_key": "elsewhere"}, "routing_key", "default queue"),
    ],
)
def test_an_admin_cannot_schedule_another_task_or_other_arguments(
    drift: PeriodicTask, admin: Client, changes: dict[str, Any], field: str, message: str
) -> None:
    before = PeriodicTask.objects.count()
    response = admin.post(f"{TASKS}add/", add_form(drift, **changes))
    assert message in " ".join(errors_of(response).get(field, []))  # the service's message, on its field
    assert message in response.content.decode()
    assert PeriodicTask.objects.count() == before
    # Nor by changing the admin-owned schedule into it.
    response = admin.post(f"{TASKS}{drift.pk}/change/", change_form(drift, **changes))
    assert message in " ".join(errors_of(response).get(field, []))
    drift.refresh_from_db()
    assert (drift.task, drift.args, drift.kwargs, drift.headers) == (
        "monitoring.tasks.drift_report_nightly", "[]", "{}", "{}"
    )  # fmt: skip


def test_the_task_list_offers_only_the_schedulable_tasks(drift: PeriodicTask, admin: Client) -> None:
    page = admin.get(f"{TASKS}add/").content.decode()
    assert 'value="governance.tasks.performance_report_monthly"' in page
    assert 'value="privacy.tasks.retention_run"' in page
    assert 'value="privacy.tasks.erasure_run"' not in page and 'value="scoring.tasks.batch_chunk_score"' not in page


def test_an_admin_still_schedules_the_platform_s_jobs(drift: PeriodicTask, admin: Client) -> None:
    response = admin.post(f"{TASKS}add/", add_form(drift, kwargs='{"day": "2026-11-02"}'))
    assert response.status_code == 302
    added = PeriodicTask.objects.get(name="another schedule")
    assert (added.task, added.kwargs) == ("monitoring.tasks.drift_report_nightly", '{"day": "2026-11-02"}')
    # A beat-schedule task too, with its entry's arguments (none).
    response = admin.post(
        f"{TASKS}add/", add_form(drift, name="retention again", regtask="privacy.tasks.retention_run")
    )
    assert response.status_code == 302
    # The admin-owned schedule: another time, another schedule kind, off and on.
    interval = IntervalSchedule.objects.create(every=6, period=IntervalSchedule.HOURS)
    response = admin.post(f"{TASKS}{drift.pk}/change/", change_form(drift, crontab="", interval=interval.pk))
    assert response.status_code == 302
    drift.refresh_from_db()
    assert drift.interval_id == interval.pk and drift.crontab_id is None
    crontab = CrontabSchedule.objects.create(minute="15", hour="3")
    response = admin.post(f"{TASKS}{drift.pk}/change/", change_form(drift, crontab=crontab.pk, interval=""))
    assert response.status_code == 302
    drift.refresh_from_db()
    without_enabled = {k: v for k, v in change_form(drift).items() if k != "enabled"}
    assert admin.post(f"{TASKS}{drift.pk}/change/", without_enabled).status_code == 302
    drift.refresh_from_db()
    assert drift.crontab_id == crontab.pk and not drift.enabled
    admin.post(TASKS, {"action": "enable_tasks", "_selected_action": [drift.pk]})
    drift.refresh_from_db()
    assert drift.enabled


def test_a_row_saved_before_the_check_is_not_enabled_or_run_from_the_admin(
    drift: PeriodicTask, admin: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row naming another task (saved before the check, or by hand) may be disabled or deleted,
    not enabled, toggled on or run."""
    sent: list[str] = []
    monkeypatch.setattr("celery.app.task.Task.apply_async", lambda task, *a, **k: sent.append(task.name))
    rogue = PeriodicTask.objects.create(
        name="rogue", task="privacy.tasks.erasure_run", args="[1]", crontab=drift.crontab, enabled=False
    )
    for action in ("enable_tasks", "toggle_tasks", "run_tasks"):
        response = admin.post(TASKS, {"action": action, "_selected_action": [rogue.pk, drift.pk]}, follow=True)
        assert "rogue: “privacy.tasks.erasure_run” is not a task the platform schedules" in response.content.decode()
        rogue.refresh_from_db()
        assert not rogue.enabled
    assert sent == ["monitoring.tasks.drift_report_nightly"]  # the run action ran the good one only
    rogue.enabled = True
    rogue.save()
    admin.post(TASKS, {"action": "disable_tasks", "_selected_action": [rogue.pk]})
    rogue.refresh_from_db()
    assert not rogue.enabled
    assert admin.post(f"{TASKS}{rogue.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not PeriodicTask.objects.filter(pk=rogue.pk).exists()


def test_the_platform_s_rows_pass_the_check(retention: PeriodicTask, drift: PeriodicTask) -> None:
    """What beat and the migrations write is what the admin may schedule: enabling, running or
    re-saving them is never refused, and beat reads them as before."""
    from celery.schedules import crontab

    from monitoring.schedules import periodic_task_row_check

    # Celery's results clean-up, as beat writes it (DatabaseScheduler.install_default_entries).
    cleanup = {"task": "celery.backend_cleanup", "schedule": crontab("0", "4", "*"), "options": {"expires": 43200}}
    ModelEntry.from_entry("celery.backend_cleanup", app=celery_app, **cleanup)
    rows = list(PeriodicTask.objects.all())
    assert {"privacy-retention", "celery.backend_cleanup", drift.name, "Monthly performance report"} <= {
        row.name for row in rows
    }
    for row in rows:
        periodic_task_row_check(row)
        assert ModelEntry(row, app=celery_app).task == row.task


def test_a_schedule_added_here_does_not_take_a_platform_task_s_name(drift: PeriodicTask, admin: Client) -> None:
    """Before beat's first start the platform's rows do not exist yet: a row added under one of their
    names would be taken by beat for its own, with the "enabled" flag it was saved with (off)."""
    assert not PeriodicTask.objects.filter(name="privacy-retention").exists()
    form = add_form(drift, name="privacy-retention", regtask="privacy.tasks.retention_run")
    del form["enabled"]
    response = admin.post(f"{TASKS}add/", form)
    assert "the platform's own task, configured by settings (CELERY_BEAT_SCHEDULE)" in " ".join(
        errors_of(response)["name"]
    )
    response = admin.post(f"{TASKS}{drift.pk}/change/", change_form(drift, name="celery.backend_cleanup"))
    assert "configured by settings (CELERY_RESULT_EXPIRES)" in " ".join(errors_of(response)["name"])
    assert not PeriodicTask.objects.filter(name__in=["privacy-retention", "celery.backend_cleanup"]).exists()


def test_beat_does_not_run_an_enabled_row_the_platform_does_not_schedule(
    retention: PeriodicTask, drift: PeriodicTask, caplog: pytest.LogCaptureFixture
) -> None:
    """A row saved before the admin's check existed, or written by hand, is enabled in the database:
    beat's scheduler (the one the settings name, as ``celery beat`` loads it) leaves it out, says why,
    and runs the platform's rows and the admin-owned schedules as before."""
    from celery.utils.imports import symbol_by_name

    # Every minute of every hour: beat reads only the crontab rows due around the current hour.
    every_minute = CrontabSchedule.objects.create(minute="*", hour="*")
    drift.crontab = every_minute
    drift.save()
    PeriodicTask.objects.create(
        name="rogue", task="privacy.tasks.erasure_run", args="[1]", crontab=every_minute, enabled=True
    )
    PeriodicTask.objects.create(
        name="rogue header", task=drift.task, headers='{"task": "privacy.tasks.erasure_run"}', crontab=every_minute
    )
    scheduler_class = symbol_by_name(celery_app.conf.beat_scheduler)
    scheduler = scheduler_class(app=celery_app, lazy=True)
    with caplog.at_level("WARNING", logger="monitoring.beat"):
        entries = scheduler.all_as_schedule()
    assert "rogue" not in entries and "rogue header" not in entries
    assert {"scoring-batch-reconcile", "monitoring-heartbeat", drift.name} <= set(entries)
    refused = {record.periodic_task: record.problem for record in caplog.records}  # type: ignore[attr-defined]
    assert "is not a task the platform schedules" in refused["rogue"]
    assert "a header can name another task" in refused["rogue header"]


def test_every_change_of_a_schedule_in_the_admin_is_in_the_audit_trail(
    drift: PeriodicTask, admin: Client, user_with_role: Callable[[str], Any]
) -> None:
    """Turning the nightly drift report off stops the model's monitoring: who did it, and what, is
    recorded as every other governance change is (not only in the admin's own, editable log)."""
    from audit.models import AuditEvent
    from audit.selectors import audit_chain_verify

    actor = f"user:{admin.session['_auth_user_id']}"
    admin.post(TASKS, {"action": "disable_tasks", "_selected_action": [drift.pk]})
    drift.refresh_from_db()
    assert not drift.enabled
    admin.post(TASKS, {"action": "toggle_tasks", "_selected_action": [drift.pk]})
    crontab = CrontabSchedule.objects.create(minute="15", hour="3")
    drift.refresh_from_db()
    assert admin.post(f"{TASKS}{drift.pk}/change/", change_form(drift, crontab=crontab.pk)).status_code == 302
    admin.post(f"{TASKS}add/", add_form(drift, kwargs='{"day": "2026-11-02"}'))
    added = PeriodicTask.objects.get(name="another schedule")
    assert admin.post(f"{TASKS}{added.pk}/delete/", {"post": "yes"}).status_code == 302
    admin.post(TASKS, {"action": "run_tasks", "_selected_action": [drift.pk]})
    events = list(AuditEvent.objects.filter(action__startswith="schedule.").order_by("seq"))
    assert [(e.action, e.actor, e.details["name"]) for e in events] == [
        ("schedule.disabled", actor, drift.name),
        ("schedule.enabled", actor, drift.name),
        ("schedule.changed", actor, drift.name),
        ("schedule.added", actor, "another schedule"),
        ("schedule.deleted", actor, "another schedule"),
        ("schedule.run", actor, drift.name),
    ]
    assert events[0].details["task"] == "monitoring.tasks.drift_report_nightly"
    assert events[2].details["changed"] == ["crontab"] and "3" in events[2].details["schedule"]
    assert events[3].details["kwargs"] == {"day": "2026-11-02"}
    assert audit_chain_verify().ok


def test_moving_or_deleting_the_time_a_task_runs_on_is_in_the_audit_trail(drift: PeriodicTask, admin: Client) -> None:
    """The nightly drift report's crontab row is its time: editing it moves the job, deleting it deletes
    the job with it (on_delete=CASCADE)."""
    from audit.models import AuditEvent

    crontab = drift.crontab
    assert crontab is not None
    form = {"minute": "45", "hour": "4", "day_of_week": "*", "day_of_month": "*", "month_of_year": "*",
            "timezone": "UTC", "periodictask_set-TOTAL_FORMS": "0", "periodictask_set-INITIAL_FORMS": "0"}  # fmt: skip
    response = admin.post(f"/admin/django_celery_beat/crontabschedule/{crontab.pk}/change/", form)
    assert response.status_code == 302, response.context.get("errors")
    response = admin.post(f"/admin/django_celery_beat/crontabschedule/{crontab.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not PeriodicTask.objects.filter(pk=drift.pk).exists()
    events = list(AuditEvent.objects.filter(action__startswith="schedule.").order_by("seq"))
    assert [(e.action, e.details["tasks"]) for e in events] == [
        ("schedule.timing_changed", [drift.name]),
        ("schedule.timing_deleted", [drift.name]),
    ]
    assert {"hour", "minute"} <= set(events[0].details["changed"]) and events[0].details["kind"] == "crontabschedule"
    assert "45 4" in events[0].details["schedule"]
