"""The periodic tasks beat writes from the settings are read-only in the admin; the others stay editable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django_celery_beat.models import PeriodicTask
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


def change_form(task: PeriodicTask, **changes: Any) -> dict[str, Any]:
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
