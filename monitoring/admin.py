"""Admin of the API call log, the drift reports, and the scheduled jobs (read-only evidence).

django-celery-beat and django-celery-results register their admins with Django's plain
``ModelAdmin``; they are registered again here on the project's base (unfold's theme), as
unfold's documentation recommends, so the schedule pages look like the rest of the admin.
"""

from __future__ import annotations

import gzip
from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Exists, OuterRef, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask, SolarSchedule
from django_celery_results import admin as results_admin
from django_celery_results.models import GroupResult, TaskResult
from unfold.decorators import display
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminTextInputWidget

from accounts.actors import acting_user
from creditplatform.admin_mixins import EvidenceAdminMixin, PlatformModelAdmin, add_service_errors
from creditplatform.celery import platform_periodic_tasks
from monitoring.choices import DriftStatus
from monitoring.dashboard import drift_chart_options, drift_history_chart
from monitoring.models import ApiCall, DriftReport, DriftReportHtml
from monitoring.schedules import periodic_task_check, periodic_task_row_check, schedulable_tasks
from monitoring.selectors import drift_history
from monitoring.services import (
    periodic_task_delete,
    periodic_task_save,
    periodic_tasks_run_recorded,
    periodic_tasks_set_enabled,
    schedule_row_delete,
    schedule_row_save,
)

# The drift report's Evidently HTML: its own inline scripts, in a sandbox (see html_view).
EVIDENTLY_REPORT_POLICY = (
    "sandbox allow-scripts allow-downloads; default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; frame-ancestors 'self'"
)


@admin.register(ApiCall)
class ApiCallAdmin(EvidenceAdminMixin, PlatformModelAdmin):
    list_display = ["created_at", "method", "endpoint", "status_code", "latency", "model_version", "caller"]
    list_filter = ["endpoint", "status_code", "method", "created_at"]
    search_fields = ["request_id", "endpoint", "caller"]
    date_hierarchy = "created_at"

    @admin.display(description="latency", ordering="latency_ms")
    def latency(self, obj: ApiCall) -> str:
        return f"{obj.latency_ms:.1f} ms"


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


@admin.register(DriftReport)
class DriftReportAdmin(EvidenceAdminMixin, PlatformModelAdmin):
    """Nightly drift reports: the history with its chart, each report's figures and Evidently's HTML."""

    list_display = [
        "day",
        "purpose",
        "status_badge",
        "share",
        "features",
        "predictions",
        "rows_day",
        "rows_compared",
        "model_version",
        "html_link",
    ]
    list_filter = ["purpose", "status", "alert", "day"]
    search_fields = ["model_version__version"]
    list_select_related = ["model_version"]
    date_hierarchy = "day"
    ordering = ["-day", "purpose"]
    list_before_template = "admin/monitoring/driftreport/history.html"
    fields = [
        "purpose",
        "day",
        "status_badge",
        "model_version",
        "share",
        "features",
        "predictions",
        "feature_table",
        "day_figures",
        "rows_day",
        "rows_compared",
        "rows_reference",
        "duration",
        "notification",
        "notification_pending",
        "notification_attempts",
        "html_link",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields

    @display(
        description="status",
        ordering="status",
        label={
            DriftStatus.DRIFT.label: "danger",
            DriftStatus.OK.label: "success",
            DriftStatus.INSUFFICIENT.label: "info",
        },
    )
    def status_badge(self, obj: DriftReport) -> str:
        return str(obj.get_status_display())

    @admin.display(description="drifted share", ordering="drift_share")
    def share(self, obj: DriftReport) -> str:
        if obj.drift_share is None:
            return "–"
        return f"{obj.drift_share:.0%} (alert at {obj.alert_threshold:.0%})"

    @admin.display(description="drifted features")
    def features(self, obj: DriftReport) -> str:
        return f"{obj.drifted_features} of {obj.tested_features} tested"

    @admin.display(description="predictions")
    def predictions(self, obj: DriftReport) -> str:
        if obj.prediction_drift is None:
            return "not tested"
        score = "" if obj.prediction_drift_score is None else f" (score {obj.prediction_drift_score:.3f})"
        return ("drifted" if obj.prediction_drift else "stable") + score

    @admin.display(description="time")
    def duration(self, obj: DriftReport) -> str:
        return f"{obj.duration_ms / 1000:.1f} s"

    def get_queryset(self, request: HttpRequest) -> Any:
        # Whether each report still has its HTML, in the list's one query (not one query per row).
        return (
            super()
            .get_queryset(request)
            .annotate(has_html=Exists(DriftReportHtml.objects.filter(report=OuterRef("pk"))))
        )

    @admin.display(description="Evidently report")
    def html_link(self, obj: DriftReport) -> str:
        if not getattr(obj, "has_html", False):
            return "–"  # too few decisions, or past DRIFT_REPORT_HTML_RETENTION_DAYS
        url = reverse("admin:monitoring_driftreport_html", args=[obj.pk])
        return format_html('<a href="{}" target="_blank" rel="noopener" class="text-primary-600">open</a>', url)

    @admin.display(description="Features")
    def feature_table(self, obj: DriftReport) -> str:
        features = obj.summary.get("features", {})
        if not features:
            return "–"
        rows = []
        for name, f in sorted(features.items(), key=lambda item: (not item[1].get("drifted"), item[0])):
            if f.get("tested"):
                verdict = "drifted" if f["drifted"] else "stable"
                statistic = f"{f['score']:.4f} ({f['method']}, threshold {f['threshold']:g})"
            else:
                verdict, statistic = "not tested", f"{f.get('current_values', 0)} values that day"
            missing = f"{f.get('current_missing_share', 0):.0%} / {f.get('reference_missing_share', 0):.0%}"
            rows.append((name, verdict, statistic, missing))
        head = format_html(
            "<tr>{}</tr>",
            format_html_join(
                "",
                '<th class="border-b border-base-200 font-semibold px-3 py-2 text-left">{}</th>',
                [("feature",), ("verdict",), ("statistic",), ("missing: day / reference",)],
            ),
        )
        body = format_html_join(
            "",
            '<tr><td class="border-b border-base-200 px-3 py-2"><code>{}</code></td>'
            '<td class="border-b border-base-200 px-3 py-2">{}</td>'
            '<td class="border-b border-base-200 px-3 py-2">{}</td>'
            '<td class="border-b border-base-200 px-3 py-2">{}</td></tr>',
            rows,
        )
        return format_html('<table id="drift-features" class="w-full">{}{}</table>', head, body)

    @admin.display(description="The day against the reference")
    def day_figures(self, obj: DriftReport) -> str:
        day, ref = obj.summary.get("day", {}), obj.summary.get("reference", {})

        def score(value: float | None) -> str:
            return "–" if value is None else f"{value:.3f}"

        return format_html(
            "{} decisions, mean score {} (reference {}), share at or above the threshold {} (reference {})",
            day.get("decisions", 0),
            score(day.get("mean_score")),
            score(ref.get("mean_score")),
            _share(day.get("adverse_share")),
            _share(ref.get("adverse_share")),
        )

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        end = timezone.now().date()
        history = drift_history(start=end - timedelta(days=90), end=end)
        extra = {
            **(extra_context or {}),
            "drift_chart": drift_history_chart(history),
            "drift_chart_options": drift_chart_options(aspect=5),  # the list's full width
        }
        return super().changelist_view(request, extra)

    def get_urls(self) -> list[Any]:
        urls = [
            path(
                "<int:pk>/html/",
                self.admin_site.admin_view(self.html_view),
                name="monitoring_driftreport_html",
            )
        ]
        return urls + super().get_urls()

    def html_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Evidently's self-contained report (sent compressed to browsers that accept it)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        stored = get_object_or_404(DriftReportHtml.objects.select_related("report"), report_id=pk)
        content = bytes(stored.content)
        if not content:
            raise Http404("This report has no HTML.")
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            response = HttpResponse(content, content_type="text/html; charset=utf-8")
            response["Content-Encoding"] = "gzip"
        else:
            response = HttpResponse(gzip.decompress(content), content_type="text/html; charset=utf-8")
        response["Content-Disposition"] = f'inline; filename="drift-{stored.report.purpose}-{stored.report.day}.html"'
        response["Vary"] = "Accept-Encoding"
        # Evidently's report runs its own inline scripts: it gets a policy of its own, in a
        # sandbox without the admin's origin (no cookie, no access to the admin's pages), and
        # still loads nothing from anywhere.
        response["Content-Security-Policy"] = EVIDENTLY_REPORT_POLICY
        response._csp_exempt = True  # type: ignore[attr-defined]
        return response


# --- django-celery-beat and django-celery-results on the project's admin base -------------------

for _model in (
    PeriodicTask,
    IntervalSchedule,
    CrontabSchedule,
    SolarSchedule,
    ClockedSchedule,
    TaskResult,
    GroupResult,
):
    admin.site.unregister(_model)


class _TaskSelectWidget(UnfoldAdminSelectWidget, beat_admin.TaskSelectWidget):
    def tasks_as_choices(self) -> tuple[tuple[str, str], ...]:
        # Only what an admin may schedule (monitoring.schedules), not every registered task.
        return (("", ""), *((name, name) for name in sorted(schedulable_tasks())))


class PeriodicTaskForm(beat_admin.PeriodicTaskForm):
    """django-celery-beat's form, refusing what ``periodic_task_check`` refuses (a task the
    platform does not schedule, other arguments, message headers or routing), on each field."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["task"].widget = UnfoldAdminTextInputWidget()
        self.fields["regtask"].widget = _TaskSelectWidget()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        try:
            periodic_task_check(
                task=data.get("task") or "",
                name=data.get("name") or "",
                # A field the form could not read already shows its own error: None skips it.
                **{name: data.get(name) for name in ("args", "kwargs", "headers")},
                **{name: data.get(name) or "" for name in ("queue", "exchange", "routing_key")},
            )
        except ValidationError as exc:
            add_service_errors(self, exc)
        return data


def platform_task_note(setting: str) -> str:
    return (
        f"Configured by settings ({setting}): beat writes this task from the setting at every start. It is "
        "read-only here (no disabling, deleting or editing of its schedule): change the setting and restart beat."
    )


def is_platform_task(task: PeriodicTask) -> bool:
    return task.name in platform_periodic_tasks()


@admin.register(PeriodicTask)
class PeriodicTaskAdmin(beat_admin.PeriodicTaskAdmin, PlatformModelAdmin):
    """The schedule. The platform's own tasks (``platform_periodic_tasks``: the heartbeat, the
    retention job, the batch reconciler, the results clean-up) are read-only, bulk actions
    included; the ones admins own (the nightly drift report, the monthly performance report,
    any added here) stay editable."""

    form = PeriodicTaskForm
    list_display = (*beat_admin.PeriodicTaskAdmin.list_display, "configured_by")

    @admin.display(description="Configured by")
    def configured_by(self, obj: PeriodicTask) -> str:
        setting = platform_periodic_tasks().get(obj.name)
        return f"settings ({setting})" if setting else "this admin"

    @admin.display(description="Configured by settings")
    def platform_note(self, obj: PeriodicTask) -> str:
        return platform_task_note(platform_periodic_tasks()[obj.name])

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and is_platform_task(obj):
            return [(None, {"fields": ["platform_note"]}), *fieldsets]
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = super().get_readonly_fields(request, obj)
        return [*fields, "platform_note"] if obj is not None and is_platform_task(obj) else fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and is_platform_task(obj):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and is_platform_task(obj):
            return False  # beat would recreate it; a bulk delete is refused through this too
        return super().has_delete_permission(request, obj)

    def _editable(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> QuerySet[PeriodicTask]:
        """The selection without the platform's tasks, telling the admin which were left alone."""
        platform = platform_periodic_tasks()
        skipped = sorted(queryset.filter(name__in=platform).values_list("name", flat=True))
        if skipped:
            settings_named = ", ".join(sorted({platform[name] for name in skipped}))
            self.message_user(
                request,
                f"Left unchanged: {', '.join(skipped)}. Configured by settings ({settings_named}): change the "
                "setting and restart beat.",
                messages.WARNING,
            )
        return queryset.exclude(name__in=platform)

    def _schedulable(
        self, request: HttpRequest, queryset: QuerySet[PeriodicTask], verb: str, *, only_disabled: bool = True
    ) -> QuerySet[PeriodicTask]:
        """The selection without the rows ``periodic_task_check`` refuses (saved before it
        existed, or by hand), telling the admin why: such a row is not started again from
        here, only disabled or deleted (``only_disabled``: the enabled ones are left to the caller)."""
        refused = {}
        for row in queryset.filter(enabled=False) if only_disabled else queryset:
            try:
                periodic_task_row_check(row)
            except ValidationError as exc:
                refused[row.pk] = f"{row.name}: {' '.join(exc.messages)}"
        if refused:
            self.message_user(request, f"Not {verb}: {'; '.join(refused.values())}", messages.ERROR)
        return queryset.exclude(pk__in=refused)

    # Every change goes through monitoring.services, which records it in the audit trail.

    def save_model(self, request: HttpRequest, obj: PeriodicTask, form: Any, change: bool) -> None:
        periodic_task_save(
            user=acting_user(request.user), task=obj, created=not change, changed=list(form.changed_data)
        )

    def delete_model(self, request: HttpRequest, obj: PeriodicTask) -> None:
        periodic_task_delete(user=acting_user(request.user), task=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        for task in queryset:  # bulk delete is off site-wide; never a way round the service
            self.delete_model(request, task)

    def _set_enabled(self, request: HttpRequest, queryset: QuerySet[PeriodicTask], enabled: bool | None) -> None:
        changed = periodic_tasks_set_enabled(user=acting_user(request.user), tasks=queryset, enabled=enabled)
        verb = {True: "enabled", False: "disabled", None: "toggled"}[enabled]
        self.message_user(request, f"{changed} task(s) {verb}.", messages.SUCCESS)

    @admin.action(description="Enable selected tasks", permissions=["change"])
    def enable_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        self._set_enabled(request, self._schedulable(request, self._editable(request, queryset), "enabled"), True)

    @admin.action(description="Disable selected tasks", permissions=["change"])
    def disable_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        self._set_enabled(request, self._editable(request, queryset), False)

    @admin.action(description="Toggle activity of selected tasks", permissions=["change"])
    def toggle_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        self._set_enabled(request, self._schedulable(request, self._editable(request, queryset), "enabled"), None)

    @admin.action(description="Run selected tasks", permissions=["change"])
    def run_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        selected = self._schedulable(request, queryset, "run", only_disabled=False)
        if selected.exists():
            periodic_tasks_run_recorded(user=acting_user(request.user), tasks=selected)
            super().run_tasks(request, selected)


class PlatformScheduleMixin:
    """A schedule row a platform task runs on is theirs too: editing it would move the task,
    deleting it would delete the task with it (on_delete=CASCADE)."""

    def _used_by_platform(self, obj: Any) -> bool:
        return bool(obj is not None and obj.periodictask_set.filter(name__in=platform_periodic_tasks()).exists())

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not self._used_by_platform(obj) and super().has_change_permission(request, obj)  # type: ignore[misc]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not self._used_by_platform(obj) and super().has_delete_permission(request, obj)  # type: ignore[misc]

    # Every change goes through monitoring.services, which records it in the audit trail.

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        schedule_row_save(user=acting_user(request.user), row=obj, created=not change, changed=list(form.changed_data))

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        schedule_row_delete(user=acting_user(request.user), row=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for row in queryset:  # bulk delete is off site-wide; never a way round the service
            self.delete_model(request, row)


@admin.register(IntervalSchedule)
class IntervalScheduleAdmin(PlatformScheduleMixin, PlatformModelAdmin):
    pass


@admin.register(CrontabSchedule)
class CrontabScheduleAdmin(PlatformScheduleMixin, beat_admin.CrontabScheduleAdmin, PlatformModelAdmin):
    pass


@admin.register(SolarSchedule)
class SolarScheduleAdmin(PlatformScheduleMixin, PlatformModelAdmin):
    pass


@admin.register(ClockedSchedule)
class ClockedScheduleAdmin(PlatformScheduleMixin, beat_admin.ClockedScheduleAdmin, PlatformModelAdmin):
    pass


# Task results say what ran (an erasure, the retention job) and when: evidence, removed only by
# Celery's own clean-up (CELERY_RESULT_EXPIRES), not by hand, the break-glass superuser included.
@admin.register(TaskResult)
class TaskResultAdmin(EvidenceAdminMixin, results_admin.TaskResultAdmin, PlatformModelAdmin):  # type: ignore[misc]  # change_form_template: str (guardian) vs Optional (Django)
    pass


@admin.register(GroupResult)
class GroupResultAdmin(EvidenceAdminMixin, results_admin.GroupResultAdmin, PlatformModelAdmin):  # type: ignore[misc]  # change_form_template: str (guardian) vs Optional (Django)
    pass
