"""Retention map of the privacy app, and of Django's and third-party apps' tables.

Those apps have no ``privacy.py`` of their own; the coverage test reads every installed
model, so their tables are declared here.
"""

from __future__ import annotations

from django.db.models import Q

from creditplatform.retention import Column, DataKind, Erasure, Retention, Rows, Table, staff, technical

K, E = DataKind, Erasure
ACCOUNTABILITY = "Accountability for GDPR requests (Art. 5(2)); kept pseudonymised: no link to the person"
STILL_OPEN = Q(status__in=["received", "approved"])

RETENTION_MAP = [
    # --- privacy ---------------------------------------------------------------------------
    Table(
        model="privacy.GdprRequest",
        about="Erasure and access requests: who recorded, approved, completed them, when",
        subject="client",
        rows=Rows.PSEUDONYMISE,
        basis=ACCOUNTABILITY,
        limits_erasure=False,
        retention=Retention(
            date_field="received_at", setting="RETENTION_GDPR_REQUEST_DAYS", basis=ACCOUNTABILITY, keep_if=STILL_OPEN
        ),
        columns={
            "id": Column(K.TECHNICAL),
            "client": Column(K.LINK, E.UNLINK, "the request no longer points at the person"),
            "details": Column(K.FREE_TEXT, E.CLEAR),
            "rejection_reason": Column(K.FREE_TEXT, E.REDACT),
            **technical("kind", "status", "received_at", "due_at", "recorded_at", "approved_at", "rejected_at"),
            **technical("completed_at", "last_attempt_at"),
            "holds": Column(
                K.TECHNICAL,
                E.KEEP,
                "why the erasure waited or what it keeps; an erasure removes the numbers of the alerts and holds "
                "they named (privacy.services)",
            ),
            **staff("recorded_by", "approved_by", "rejected_by", "completed_by"),
        },
    ),
    Table(
        model="privacy.LegalHold",
        about="Holds placed by compliance on a client's data",
        subject="client",
        rows=Rows.PSEUDONYMISE,
        basis=ACCOUNTABILITY,
        columns={
            "id": Column(K.TECHNICAL),
            "client": Column(K.LINK, E.UNLINK),
            "details": Column(K.FREE_TEXT, E.CLEAR),
            **technical("reason", "until", "placed_at", "released_at"),
            **staff("placed_by", "released_by"),
        },
    ),
    Table(
        model="privacy.ErasureCertificate",
        about="What each erasure did: counts, times, what was kept and why",
        rows=Rows.NOT_ABOUT_CLIENTS,
        basis="Free of personal data by construction (counts and table names)",
        retention=Retention(
            date_field="request__received_at", setting="RETENTION_GDPR_REQUEST_DAYS", basis=ACCOUNTABILITY
        ),
        columns=technical("id", "request", "issued_at", "document", "sha256"),
    ),
    # --- Django ----------------------------------------------------------------------------
    Table(
        model="admin.LogEntry",
        about="The admin's history of changes (who changed which object)",
        rows=Rows.GENERIC_REFERENCE,
        generic=("content_type", "object_id"),
        basis="Staff accountability; entries about the person's records keep no identifier, nor do entries about "
        "records the retention job deletes (afterwards nothing would lead to them)",
        columns={
            **technical("id", "action_time", "content_type", "object_id", "action_flag"),
            "object_repr": Column(K.IDENTIFIER, E.REDACT, "str() of the object, e.g. a client's external id"),
            "change_message": Column(K.TECHNICAL, note="names of the changed fields, never their values"),
            **staff("user"),
        },
    ),
    Table(
        model="auth.User",
        about="Staff accounts",
        rows=Rows.NOT_ABOUT_CLIENTS,
        columns={
            **staff("username", "first_name", "last_name", "email", "groups", "user_permissions", "last_login"),
            **technical("id", "password", "is_superuser", "is_staff", "is_active", "date_joined"),
        },
    ),
    Table(
        model="auth.Group", about="Roles", rows=Rows.NOT_ABOUT_CLIENTS, columns=technical("id", "name", "permissions")
    ),
    Table(
        model="auth.Permission",
        about="Model permissions",
        rows=Rows.NOT_ABOUT_CLIENTS,
        columns=technical("id", "name", "content_type", "codename"),
    ),
    Table(
        model="contenttypes.ContentType",
        about="Installed models",
        rows=Rows.NOT_ABOUT_CLIENTS,
        columns=technical("id", "app_label", "model"),
    ),
    Table(
        model="sessions.Session",
        about="Staff login sessions",
        rows=Rows.NOT_ABOUT_CLIENTS,
        retention=Retention(date_field="expire_date", days=0, basis="Expired sessions serve no purpose"),
        columns={**technical("session_key", "expire_date"), **staff("session_data")},
    ),
    # --- django-axes (password login lockout) ----------------------------------------------
    Table(
        model="axes.AccessAttempt",
        about="Failed password logins per (username, address), counted for the lockout",
        rows=Rows.NOT_ABOUT_CLIENTS,
        basis="Staff accounts only (clients never log in); a successful login resets the count",
        retention=Retention(
            date_field="attempt_time", days=1, basis="Only needed for the lockout's cool-off (minutes)"
        ),
        columns={
            **technical("id", "attempt_time", "failures_since_start", "path_info", "http_accept"),
            **staff("username", "ip_address", "user_agent", "get_data", "post_data"),
        },
    ),
    Table(
        model="axes.AccessAttemptExpiration",
        about="When a counted attempt expires",
        rows=Rows.NOT_ABOUT_CLIENTS,
        retention=Retention(
            date_field="access_attempt__attempt_time", days=1, basis="Goes with its attempt (unused: no expiry set)"
        ),
        columns=technical("access_attempt", "expires_at"),
    ),
    Table(
        model="axes.AccessLog",
        about="Successful logins (disabled: AXES_DISABLE_ACCESS_LOG; Django's last_login is enough)",
        rows=Rows.NOT_ABOUT_CLIENTS,
        retention=Retention(date_field="attempt_time", days=1, basis="Not used; anything found is removed"),
        columns={
            **technical("id", "attempt_time", "logout_time", "path_info", "http_accept", "session_hash"),
            **staff("username", "ip_address", "user_agent"),
        },
    ),
    Table(
        model="axes.AccessFailureLog",
        about="Failed logins history (disabled: AXES_ENABLE_ACCESS_FAILURE_LOG is off)",
        rows=Rows.NOT_ABOUT_CLIENTS,
        retention=Retention(date_field="attempt_time", days=1, basis="Not used; anything found is removed"),
        columns={
            **technical("id", "attempt_time", "locked_out", "path_info", "http_accept"),
            **staff("username", "ip_address", "user_agent"),
        },
    ),
    # --- django-guardian -----------------------------------------------------------------
    Table(
        model="guardian.UserObjectPermission",
        about="Per-object permissions (an analyst resolving the alert assigned to them)",
        rows=Rows.NOT_ABOUT_CLIENTS,
        columns={**technical("id", "permission", "content_type", "object_pk"), **staff("user")},
    ),
    Table(
        model="guardian.GroupObjectPermission",
        about="Per-object permissions of groups (unused)",
        rows=Rows.NOT_ABOUT_CLIENTS,
        columns=technical("id", "permission", "content_type", "object_pk", "group"),
    ),
    # --- Celery beat and results --------------------------------------------------------------
    Table(
        model="django_celery_results.TaskResult",
        about="Results of background tasks",
        rows=Rows.NOT_ABOUT_CLIENTS,
        basis=(
            "Tasks take record ids, never personal data; a failure's message and traceback are stored "
            "redacted (monitoring.results); CELERY_RESULT_EXPIRES removes old results"
        ),
        columns=technical(
            "id",
            "task_id",
            "periodic_task_name",
            "task_name",
            "task_args",
            "task_kwargs",
            "status",
            "worker",
            "content_type",
            "content_encoding",
            "result",
            "date_created",
            "date_started",
            "date_done",
            "traceback",
            "meta",
        ),
    ),
    Table(
        model="django_celery_results.GroupResult",
        about="Results of task groups",
        rows=Rows.NOT_ABOUT_CLIENTS,
        columns=technical("id", "group_id", "date_created", "date_done", "content_type", "content_encoding", "result"),
    ),
    Table(
        model="django_celery_results.ChordCounter",
        about="Task chord counters",
        rows=Rows.NOT_ABOUT_CLIENTS,
        columns=technical("id", "group_id", "sub_tasks", "count"),
    ),
    Table(
        model="django_celery_beat.PeriodicTask",
        about="The periodic schedule",
        rows=Rows.NOT_ABOUT_CLIENTS,
        columns=technical(
            "id",
            "name",
            "task",
            "interval",
            "crontab",
            "solar",
            "clocked",
            "args",
            "kwargs",
            "queue",
            "exchange",
            "routing_key",
            "headers",
            "priority",
            "expires",
            "expire_seconds",
            "one_off",
            "start_time",
            "enabled",
            "last_run_at",
            "total_run_count",
            "date_changed",
            "description",
        ),
    ),
    Table(
        model="django_celery_beat.PeriodicTasks",
        about="Schedule change marker",
        rows=Rows.NOT_ABOUT_CLIENTS,
        columns=technical("ident", "last_update"),
    ),
    Table(
        model="django_celery_beat.IntervalSchedule",
        about="Schedules",
        rows=Rows.NOT_ABOUT_CLIENTS,
        columns=technical("id", "every", "period"),
    ),
    Table(
        model="django_celery_beat.CrontabSchedule",
        about="Schedules",
        rows=Rows.NOT_ABOUT_CLIENTS,
        columns=technical("id", "minute", "hour", "day_of_month", "month_of_year", "day_of_week", "timezone"),
    ),
    Table(
        model="django_celery_beat.SolarSchedule",
        about="Schedules",
        rows=Rows.NOT_ABOUT_CLIENTS,
        columns=technical("id", "event", "latitude", "longitude"),
    ),
    Table(
        model="django_celery_beat.ClockedSchedule",
        about="Schedules",
        rows=Rows.NOT_ABOUT_CLIENTS,
        columns=technical("id", "clocked_time"),
    ),
]
