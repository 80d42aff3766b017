"""``/api/v1/score/batch-jobs``: submit a file of applicants, follow its job, download its files.

The same roles and scope as ``/score`` (analyst, admin; API keys with ``score``). A caller
sees its own jobs only (404 for another's); admins see every job (not admin-role API keys:
``batch_jobs_visible``).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.actors import acting
from accounts.permissions import CanScore
from accounts.principals import caller_label
from creditplatform.api.exceptions import Conflict, PayloadTooLarge, ServiceUnavailable
from creditplatform.api.renderers import OrjsonRenderer
from creditplatform.api.serializers import StrictSerializer
from creditplatform.middleware import MULTIPART_OVERHEAD
from scoring.api.views import IDEMPOTENCY_PARAMETER, idempotency_key_header
from scoring.batch.files import BatchFileError
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
    BatchFileTooLarge,
    BatchIdempotencyConflict,
    BatchJobNotCancellable,
    batch_job_cancel,
    batch_job_submit_once,
    batch_upload_size_check,
)
from scoring.choices import BatchCancelReason, BatchSource
from scoring.ml.predictor import ModelUnavailable
from scoring.models import BatchJob

METHOD = (
    "Reasons are exact TreeSHAP contributions, the same as `/score` gives for the same applicant: each chunk's "
    "rows are explained together, memoising each tree's contributions by the path a row takes through it "
    "(see docs/batch.md). Every decision is stored like a `/score` decision and listed by `/api/v1/predictions/` "
    "(filter `batch_job`)."
)


def visible_jobs(request: Request) -> QuerySet[BatchJob]:
    """The caller's own jobs; every job for an admin (``batch_jobs_visible``)."""
    return batch_jobs_visible(user=request.user)


class BatchJobSerializer(serializers.ModelSerializer):
    """A batch job: what was sent, how far it is, where its files are."""

    model_version = serializers.CharField(source="model_version.version")
    progress = serializers.FloatField(help_text="Share of the chunks finished (done or dead-lettered), 0-1.")
    url = serializers.SerializerMethodField()
    result_url = serializers.SerializerMethodField()
    rejects_url = serializers.SerializerMethodField()

    class Meta:
        model = BatchJob
        fields = [
            "id",
            "url",
            "status",
            "source",
            "filename",
            "file_format",
            "file_size",
            "model_version",
            "total_rows",
            "rows_scored",
            "rows_rejected",
            "progress",
            "chunk_count",
            "chunks_done",
            "chunks_dead",
            "chunk_retries",
            "created_at",
            "started_at",
            "finished_at",
            "cancel_reason",
            "result_url",
            "rejects_url",
        ]
        read_only_fields = fields

    def _url(self, name: str, job: BatchJob) -> str:
        path = reverse(name, args=[job.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    def get_url(self, job: BatchJob) -> str:
        return self._url("batch-job-detail", job)

    def get_result_url(self, job: BatchJob) -> str:
        return self._url("batch-job-result", job)

    def get_rejects_url(self, job: BatchJob) -> str:
        return self._url("batch-job-rejects", job)


class DeadLetterSerializer(serializers.Serializer):
    chunk = serializers.IntegerField(source="number")
    first_row = serializers.IntegerField()
    last_row = serializers.IntegerField()
    rows = serializers.IntegerField(source="row_count")
    attempts = serializers.IntegerField()
    error = serializers.CharField(source="last_error")
    at = serializers.DateTimeField(source="finished_at")


class BatchJobDetailSerializer(BatchJobSerializer):
    dead_letters = serializers.SerializerMethodField(help_text="Chunks given up after the capped attempts.")

    class Meta(BatchJobSerializer.Meta):
        fields = [*BatchJobSerializer.Meta.fields, "dead_letters"]
        read_only_fields = fields

    @extend_schema_field(DeadLetterSerializer(many=True))
    def get_dead_letters(self, job: BatchJob) -> list[dict[str, Any]]:
        return DeadLetterSerializer(batch_job_dead_letters(job=job), many=True).data  # type: ignore[return-value]


class BatchUploadSerializer(StrictSerializer):
    """One ``file`` part and nothing else: another form field, or a second file, is refused rather than
    ignored (the last of two files would be scored and the first silently dropped)."""

    file = serializers.FileField(help_text="CSV (UTF-8; comma, semicolon or tab) or Parquet, with a header row.")


class BatchJobListApi(generics.ListAPIView):
    """``GET`` your batch jobs (newest first); ``POST`` a file to start one."""

    permission_classes = [CanScore]
    throttle_scope = "score"
    serializer_class = BatchJobSerializer
    parser_classes = [MultiPartParser]
    ordering_fields = ["created_at"]
    ordering = ["-created_at"]
    filterset_fields = ["status"]
    search_fields: list[str] = []

    def get_queryset(self) -> QuerySet[BatchJob]:
        return visible_jobs(self.request)

    @extend_schema(summary="Batch jobs you submitted (admins: every job)")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Score a file of applicants (a batch job)",
        description=(
            "Multipart upload, one field `file` (another field, or a second file, is a 400 naming it): a CSV "
            "(UTF-8, header row; comma, semicolon or tab separated) or a Parquet file whose columns are the "
            "champion's features (seed 000's `age,revenu,historique_impaye` are enough), plus optional "
            "`client_id` and `application_id`. Columns are checked at once, strictly as `/score` checks "
            "fields: an unknown or duplicate column, a missing required one, a file that is not CSV or Parquet, "
            "or one without rows is a 400 naming the problem; a file over "
            "`BATCH_UPLOAD_MAX_BYTES` is a 413. Rows are checked one by one by the workers: a bad row is "
            "rejected with its row number (a CSV file's line) and reason, the others are scored.\n\n"
            "Answers 202 with the job (also at `Location`); follow `url` until `status` is `completed`, "
            "`partial`, `failed` or `cancelled`, then download `result_url` and `rejects_url` (CSV).\n\n"
            "Send an `Idempotency-Key` header to make a retried upload safe: the same key and file return the "
            "job stored the first time (200, `Idempotent-Replayed: true`), not a second job deciding every "
            "applicant again; the same key with another file is a 409.\n\n" + METHOD
        ),
        request={"multipart/form-data": BatchUploadSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            202: BatchJobDetailSerializer,
            200: OpenApiResponse(BatchJobDetailSerializer, description="The job stored earlier (Idempotency-Key)."),
            409: OpenApiResponse(description="Idempotency-Key reused with another file."),
            400: OpenApiResponse(description="The file cannot be scored (the message says why)."),
            413: OpenApiResponse(description="The file is larger than BATCH_UPLOAD_MAX_BYTES."),
            503: OpenApiResponse(description="No credit model can serve."),
        },
        examples=[OpenApiExample("A seed file", value={"file": "applicants.csv"}, request_only=True)],
    )
    def post(self, request: Request) -> Response:
        try:
            # The multipart body is refused before it is parsed when it cannot hold an allowed file.
            batch_upload_size_check(size=max(_content_length(request) - MULTIPART_OVERHEAD, 0))
            payload = BatchUploadSerializer(data=request.data)
            payload.is_valid(raise_exception=True)
            upload = payload.validated_data["file"]
            batch_upload_size_check(size=upload.size)
        except BatchFileTooLarge as exc:
            raise PayloadTooLarge(str(exc)) from exc
        key = idempotency_key_header(request.META)
        try:
            submitted = batch_job_submit_once(
                data=upload.read(),
                filename=upload.name or "",
                caller=caller_label(request.user),
                source=BatchSource.API,
                idempotency_key=key,
            )
        except BatchFileTooLarge as exc:
            raise PayloadTooLarge(str(exc)) from exc
        except BatchFileError as exc:
            raise serializers.ValidationError({"file": [str(exc)]}) from exc
        except BatchIdempotencyConflict as exc:
            raise Conflict(str(exc)) from exc
        except ModelUnavailable as exc:
            raise ServiceUnavailable(f"{exc} An admin activates one in the model registry.") from exc
        body = BatchJobDetailSerializer(submitted.job, context={"request": request}).data
        headers = {"Location": body["url"]}
        if submitted.replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(
            body, status=status.HTTP_200_OK if submitted.replayed else status.HTTP_202_ACCEPTED, headers=headers
        )


def _content_length(request: Request) -> int:
    """The body's declared length (0 when not given); a value that is not a number is a 400 naming it."""
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isascii() or not declared.isdigit():
        raise serializers.ValidationError({"Content-Length": ["Send the length of the body in bytes."]})
    return int(declared)


class BatchJobDetailApi(generics.RetrieveAPIView):
    """``GET`` a batch job: its progress, its counts and its dead letters."""

    permission_classes = [CanScore]
    throttle_scope = "score"
    serializer_class = BatchJobDetailSerializer

    def get_queryset(self) -> QuerySet[BatchJob]:
        return visible_jobs(self.request)

    @extend_schema(summary="A batch job: progress, counts, dead letters")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class BatchJobCancelApi(APIView):
    """``POST`` to cancel a queued or running batch job (its caller's, or any for an admin)."""

    permission_classes = [CanScore]
    throttle_scope = "score"

    @extend_schema(
        summary="Cancel a queued or running batch job",
        description=(
            "Chunks not yet scored never will be; the decisions of the chunks already stored stay (decisions are "
            "records) and are counted, and a chunk being stored at that instant is stored whole or not at all. "
            "Answers 200 with the job, `status` `cancelled` (`cancel_reason` `requested`); its `result_url` and "
            "`rejects_url` then hold what was scored. A job whose caller lost its access (API key revoked or "
            "expired, user deactivated or demoted) is cancelled by the platform, `cancel_reason` "
            "`caller_access_revoked`. A job that has ended (`completed`, `partial`, `failed`, `cancelled`) is a "
            "409 naming its `status`."
        ),
        request=None,
        responses={
            200: BatchJobDetailSerializer,
            404: OpenApiResponse(description="No such job among yours."),
            409: OpenApiResponse(description="The job has ended: the message names its status."),
        },
    )
    def post(self, request: Request, pk: str) -> Response:
        job = generics.get_object_or_404(visible_jobs(request), pk=pk)
        try:
            job = batch_job_cancel(job=job, by=acting(request.user), reason=BatchCancelReason.REQUESTED)
        except BatchJobNotCancellable as exc:
            raise Conflict(str(exc)) from exc
        job = visible_jobs(request).get(pk=job.pk)
        return Response(BatchJobDetailSerializer(job, context={"request": request}).data)


class _BatchFileApi(APIView):
    permission_classes = [CanScore]
    throttle_scope = "score"
    renderer_classes = [OrjsonRenderer]  # errors only (the file is streamed): JSON, never the browsable API
    suffix = ""

    def csv(self, job: BatchJob) -> StreamingHttpResponse:
        raise NotImplementedError

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # The file is CSV, streamed as is (never rendered): "Accept: text/csv" must not be a
        # 406. Errors (404, 409) are JSON, whatever the Accept header asked for.
        return super().perform_content_negotiation(request, force=True)

    def get(self, request: Request, pk: str) -> StreamingHttpResponse:
        job = generics.get_object_or_404(visible_jobs(request), pk=pk)
        if not job.is_finished:
            raise Conflict(f"The job is {job.status} ({job.progress:.0%} of its chunks done); try again when it ends.")
        response = self.csv(job)
        response["Content-Disposition"] = f'attachment; filename="{batch_file_name(job, self.suffix)}"'
        # The file alone does not say whether it is complete: a cancelled job's holds what was scored.
        response["X-Batch-Job-Status"] = job.status
        return response


class BatchJobResultApi(_BatchFileApi):
    """``GET`` the result file of a finished job (CSV)."""

    suffix = "result"

    @extend_schema(
        summary="Result file of a finished batch job (CSV)",
        description=(
            "One line per scored row, in file order: `row` (a CSV file's line number; a Parquet file's position), "
            "the decision's `id`, `client_id`, `application_id`, `probability_default`, `decision`, `risk_level` "
            "and `reasons` (`feature:+contribution; …`, largest first). 409 while the job runs. A cancelled job's "
            "file holds the rows scored before it was cancelled (header `X-Batch-Job-Status: cancelled`, "
            "file name `…-cancelled.csv`).\n\n" + METHOD
        ),
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            409: OpenApiResponse(description="The job has not finished."),
        },
    )
    def get(self, request: Request, pk: str) -> StreamingHttpResponse:
        return super().get(request, pk)

    def csv(self, job: BatchJob) -> StreamingHttpResponse:
        return StreamingHttpResponse(
            csv_lines(RESULT_COLUMNS, batch_job_result_rows(job=job)), content_type="text/csv; charset=utf-8"
        )


class BatchJobRejectsApi(_BatchFileApi):
    """``GET`` the rejects file of a finished job (CSV)."""

    suffix = "rejects"

    @extend_schema(
        summary="Rejected rows of a finished batch job (CSV)",
        description=(
            "One line per refused value: `row` (a CSV file's line number, the header being line 1; a Parquet "
            "file's position), `field` and `reason`. Values themselves are not repeated. 409 while the job runs. "
            "A cancelled job's file holds the chunks checked before it was cancelled "
            "(header `X-Batch-Job-Status: cancelled`, file name `…-cancelled.csv`)."
        ),
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            409: OpenApiResponse(description="The job has not finished."),
        },
    )
    def get(self, request: Request, pk: str) -> StreamingHttpResponse:
        return super().get(request, pk)

    def csv(self, job: BatchJob) -> StreamingHttpResponse:
        return StreamingHttpResponse(
            csv_lines(REJECT_COLUMNS, batch_job_reject_rows(job=job)), content_type="text/csv; charset=utf-8"
        )
