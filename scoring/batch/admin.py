"""Admin of batch jobs: upload a file, follow its progress, download its result and rejects.

Registered from ``scoring/admin.py``. Analysts see, upload and cancel their own jobs; admins
see and cancel every job and may give dead-lettered chunks a fresh set of attempts. A job page is
read-only (its figures are written by the workers) and refreshes itself while it runs.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from accounts.actors import acting_user
from accounts.principals import caller_label
from creditplatform.admin_mixins import PlatformModelAdmin
from scoring.admin_forms import BatchUploadForm
from scoring.batch.selectors import (
    REJECT_COLUMNS,
    RESULT_COLUMNS,
    batch_file_name,
    batch_job_dead_letters,
    batch_job_reject_rows,
    batch_job_result_rows,
    batch_jobs_visible,
    csv_lines,
)
from scoring.batch.services import (
    BatchJobNotCancellable,
    batch_job_cancel,
    batch_job_create,
    batch_job_download_record,
    batch_job_retry_dead_letters,
)
from scoring.choices import BatchCancelReason, BatchJobStatus, BatchSource
from scoring.models import BatchJob


@admin.register(BatchJob)
class BatchJobAdmin(PlatformModelAdmin):
    change_form_template = "admin/scoring/batchjob/change_form.html"
    list_display = [
        "short_id",
        "created_at",
        "filename",
        "status",
        "progress_bar",
        "rows_scored",
        "rows_rejected",
        "chunks_dead",
        "model_version",
        "caller",
    ]
    list_filter = ["status", "source", "created_at"]
    search_fields = ["=id", "filename", "caller"]
    list_select_related = ["model_version"]
    date_hierarchy = "created_at"
    actions = ["cancel_jobs", "retry_dead_letters"]
    fields = [
        "status",
        "progress_bar",
        "counts",
        "downloads",
        "dead_letters",
        "filename",
        "file_format",
        "file_size",
        "file_sha256",
        "columns",
        "model_version",
        "caller",
        "source",
        "chunk_rows",
        "chunk_retries",
        "created_at",
        "started_at",
        "finished_at",
        "cancel_reason",
    ]
    readonly_fields = fields

    # --- who sees what ---------------------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet[BatchJob]:
        return batch_jobs_visible(user=request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # its decisions are evidence (and protect it)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = BatchUploadForm
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None:  # the upload token is the uploader's (their Idempotency-Key)
            form = type(form.__name__, (form,), {"caller": caller_label(request.user)})
        return form

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["file", "upload_token"] if obj is None else self.fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [] if obj is None else self.readonly_fields

    # --- uploading -------------------------------------------------------------------------

    def save_model(self, request: HttpRequest, obj: BatchJob, form: Any, change: bool) -> None:
        if change:
            return  # nothing on a job page is edited by hand
        job = batch_job_create(
            checked=form.cleaned_data["file"],
            caller=caller_label(request.user),
            source=BatchSource.ADMIN,
            idempotency_key=form.idempotency_key,  # the same page sent twice: the job stored the first time
        )
        # The admin goes on with ``obj`` (log entry, redirect): point it at the stored job.
        obj.pk, obj._state.adding = job.pk, False
        obj.refresh_from_db()

    def response_add(self, request: HttpRequest, obj: BatchJob, post_url_continue: str | None = None) -> HttpResponse:
        self.message_user(
            request, f"Job {str(obj.pk)[:8]}: {obj.total_rows:,} rows in {obj.chunk_count} chunk(s).", messages.SUCCESS
        )
        return HttpResponseRedirect(reverse("admin:scoring_batchjob_change", args=[obj.pk]))

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        extra = dict(extra_context or {})
        if object_id is not None:  # a job page: read-only, no save buttons
            extra.update(show_save=False, show_save_and_continue=False, show_save_and_add_another=False)
            job = self.get_object(request, object_id)
            extra["can_cancel"] = (
                job is not None
                and job.status in (BatchJobStatus.QUEUED, BatchJobStatus.RUNNING)
                and self.has_cancel_permission(request)
            )
        return super().changeform_view(request, object_id, form_url, extra)

    # --- the job page ---------------------------------------------------------------------

    @admin.display(description="Job")
    def short_id(self, obj: BatchJob) -> str:
        return str(obj.pk)[:8]

    @admin.display(description="Progress")
    def progress_bar(self, obj: BatchJob) -> str:
        return format_html(
            '<progress value="{}" max="1" style="width: 10em"></progress> {} ({} of {} chunks)',
            f"{obj.progress:.4f}",
            f"{obj.progress:.0%}",
            obj.chunks_done + obj.chunks_dead,
            obj.chunk_count,
        )

    @admin.display(description="Rows")
    def counts(self, obj: BatchJob) -> str:
        return format_html(
            "{} in the file: <strong>{}</strong> scored, <strong>{}</strong> rejected; {} chunk(s) dead-lettered, "
            "{} chunk attempt(s) retried.",
            f"{obj.total_rows:,}",
            f"{obj.rows_scored:,}",
            f"{obj.rows_rejected:,}",
            obj.chunks_dead,
            obj.chunk_retries,
        )

    @admin.display(description="Files")
    def downloads(self, obj: BatchJob) -> str:
        if not obj.is_finished:
            return "The result and rejects files are ready when the job ends (this page refreshes itself)."
        return format_html(
            '{}<a href="{}">Result (CSV)</a> · <a href="{}">Rejected rows (CSV)</a> · <a href="{}">Its decisions</a>',
            format_html(
                "Cancelled ({}): the files hold the {} chunk(s) scored before. ",
                obj.get_cancel_reason_display(),
                obj.chunks_done,
            )
            if obj.status == BatchJobStatus.CANCELLED
            else "",
            reverse("admin:scoring_batchjob_result", args=[obj.pk]),
            reverse("admin:scoring_batchjob_rejects", args=[obj.pk]),
            reverse("admin:scoring_decision_changelist") + f"?q={obj.pk}",
        )

    @admin.display(description="Dead letters")
    def dead_letters(self, obj: BatchJob) -> str:
        chunks = list(batch_job_dead_letters(job=obj))
        if not chunks:
            return "None."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}–{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((c.number, c.first_row, c.last_row, c.attempts, c.finished_at, c.last_error) for c in chunks),
        )
        return format_html(
            '<table class="dead-letters"><tr><th>chunk</th><th>rows</th><th>attempts</th><th>given up at</th>'
            "<th>last error</th></tr>{}</table>",
            rows,
        )

    # --- downloads and actions -------------------------------------------------------------

    def get_urls(self) -> list[Any]:
        own = [
            path("<uuid:pk>/result/", self.admin_site.admin_view(self.result_view), name="scoring_batchjob_result"),
            path("<uuid:pk>/rejects/", self.admin_site.admin_view(self.rejects_view), name="scoring_batchjob_rejects"),
            path(
                "<uuid:pk>/cancel/",
                self.admin_site.admin_view(require_POST(self.cancel_view)),
                name="scoring_batchjob_cancel",
            ),
        ]
        return own + super().get_urls()

    def _finished_job(self, request: HttpRequest, pk: Any) -> BatchJob:
        if not self.has_view_permission(request):
            raise PermissionDenied
        job = get_object_or_404(self.get_queryset(request), pk=pk)
        if not job.is_finished:
            raise PermissionDenied("The job has not finished.")
        return job

    def result_view(self, request: HttpRequest, pk: Any) -> StreamingHttpResponse:
        job = self._finished_job(request, pk)
        batch_job_download_record(job=job, user=acting_user(request.user), file="result")
        return _csv_download(csv_lines(RESULT_COLUMNS, batch_job_result_rows(job=job)), job, "result")

    def rejects_view(self, request: HttpRequest, pk: Any) -> StreamingHttpResponse:
        job = self._finished_job(request, pk)
        batch_job_download_record(job=job, user=acting_user(request.user), file="rejects")
        return _csv_download(csv_lines(REJECT_COLUMNS, batch_job_reject_rows(job=job)), job, "rejects")

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        """Whoever may upload a job may cancel the jobs they see (``batch_jobs_visible``: their own; an
        admin's, every job), as the API lets its caller or an admin cancel one."""
        return self.has_view_permission(request) and (
            self.has_add_permission(request) or self.has_change_permission(request)
        )

    def cancel_view(self, request: HttpRequest, pk: Any) -> HttpResponse:
        if not self.has_cancel_permission(request):
            raise PermissionDenied
        job = get_object_or_404(self.get_queryset(request), pk=pk)
        try:
            job = batch_job_cancel(job=job, by=acting_user(request.user), reason=BatchCancelReason.REQUESTED)
        except BatchJobNotCancellable as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.log_change(request, job, "Cancelled the job.")
            self.message_user(
                request,
                f"Job {str(job.pk)[:8]} cancelled: {job.rows_scored:,} row(s) scored before are kept, "
                "the chunks not yet scored never will be.",
                messages.SUCCESS,
            )
        return HttpResponseRedirect(reverse("admin:scoring_batchjob_change", args=[job.pk]))

    @admin.action(description="Cancel the selected jobs", permissions=["cancel"])
    def cancel_jobs(self, request: HttpRequest, queryset: QuerySet[BatchJob]) -> None:
        cancelled, refused = 0, []
        for job in queryset:
            try:
                batch_job_cancel(job=job, by=acting_user(request.user), reason=BatchCancelReason.REQUESTED)
            except BatchJobNotCancellable as exc:
                refused.append(f"{str(job.pk)[:8]}: {exc}")
            else:
                self.log_change(request, job, "Cancelled the job.")
                cancelled += 1
        if cancelled:
            self.message_user(request, f"{cancelled} job(s) cancelled.", messages.SUCCESS)
        for message in refused:
            self.message_user(request, message, messages.ERROR)

    @admin.action(description="Retry the dead-lettered chunks", permissions=["change"])
    def retry_dead_letters(self, request: HttpRequest, queryset: QuerySet[BatchJob]) -> None:
        total = 0
        for job in queryset:
            retried = batch_job_retry_dead_letters(job=job, user=acting_user(request.user))
            if retried:
                self.log_change(request, job, f"Retried {retried} dead-lettered chunk(s).")
            total += retried
        self.message_user(request, f"{total} dead-lettered chunk(s) sent to the workers again.", messages.SUCCESS)


def _csv_download(lines: Any, job: BatchJob, suffix: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{batch_file_name(job, suffix)}"'
    response["X-Batch-Job-Status"] = job.status
    return response
