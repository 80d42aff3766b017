"""Clients, credit applications, the model registry, credit decisions and batch scoring jobs."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from scoring.choices import (
    ApplicationStatus,
    BatchCancelReason,
    BatchChunkStatus,
    BatchFileFormat,
    BatchJobStatus,
    BatchSource,
    CreditDecisionOutcome,
    FinalOutcome,
    LoanPurpose,
    ModelPurpose,
    ModelStatus,
    ReviewOrigin,
    ReviewStatus,
    RiskLevel,
)
from scoring.validators import external_id_validator


class Client(models.Model):
    """A person the bank knows, by the external id its systems use (e.g. ``C1001``).

    The identity fields are personal data: they are erased or pseudonymised by the
    privacy app, never logged in clear.
    """

    client_id = models.CharField(
        max_length=64, unique=True, validators=[external_id_validator], help_text="External id, e.g. C1001."
    )
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    email = models.EmailField(max_length=254, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    birth_date = models.DateField(null=True, blank=True)
    address = models.TextField(max_length=500, blank=True)
    erased_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Set when the identity was erased (GDPR Art. 17)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["client_id"]
        constraints = [
            models.CheckConstraint(condition=~Q(client_id=""), name="client_id_not_empty"),
        ]
        indexes = [models.Index(fields=["last_name", "first_name"], name="client_name_idx")]

    def __str__(self) -> str:
        # The external id only: names are personal data and __str__ ends up in logs.
        return self.client_id


# The constraint name PostgreSQL reports when a row names an erased client (the trigger of
# migration 0022; ``scoring.services.client_erased_meanwhile``).
CLIENT_NOT_ERASED = "client_not_erased"


class CreditApplication(models.Model):
    """A request for credit: the amount asked and the applicant's declared facts."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="applications")
    application_id = models.CharField(
        max_length=64,
        unique=True,
        null=True,
        blank=True,
        validators=[external_id_validator],
        help_text="External id, if the caller has one.",
    )
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    duration_months = models.PositiveSmallIntegerField()
    purpose = models.CharField(max_length=20, choices=LoanPurpose.choices, default=LoanPurpose.OTHER)
    declared_income = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, help_text="Yearly income."
    )
    age = models.PositiveSmallIntegerField(null=True, blank=True)
    past_payment_incidents = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Number of past payment incidents (historique_impaye)."
    )
    employment_years = models.PositiveSmallIntegerField(null=True, blank=True)
    extra = models.JSONField(default=dict, blank=True, help_text="Other applicant facts, by feature name.")
    status = models.CharField(max_length=20, choices=ApplicationStatus.choices, default=ApplicationStatus.RECEIVED)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="application_amount_positive"),
            models.CheckConstraint(
                condition=Q(duration_months__gte=1, duration_months__lte=480),
                name="application_duration_range",
            ),
            models.CheckConstraint(
                condition=Q(declared_income__isnull=True) | Q(declared_income__gte=0),
                name="application_income_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(age__isnull=True) | Q(age__gte=17, age__lte=120),
                name="application_age_range",
            ),
        ]
        indexes = [models.Index(fields=["client", "-created_at"], name="application_client_idx")]

    def __str__(self) -> str:
        return self.application_id or f"application #{self.pk}"


class ModelVersion(models.Model):
    """One trained model in the registry (credit or fraud), with what is needed to trust it.

    The LightGBM model text lives in ``ModelArtifact`` (its own table, so listing versions
    or decisions never drags megabytes of trees along) in the database, so every web and
    worker process loads the same bytes; ``sha256`` is checked before use. At most one
    champion and one challenger per purpose.
    """

    purpose = models.CharField(max_length=10, choices=ModelPurpose.choices)
    version = models.CharField(max_length=50)
    status = models.CharField(max_length=12, choices=ModelStatus.choices, default=ModelStatus.DRAFT)
    sha256 = models.CharField(max_length=64, help_text="SHA-256 of the model file.")
    feature_schema = models.JSONField(
        default=list, help_text="[{name, type, label, min, max, categories, required}] in model column order."
    )
    metrics = models.JSONField(default=dict, blank=True, help_text="Held-out metrics from training.")
    dataset = models.CharField(max_length=200, blank=True, help_text="What it was trained on.")
    threshold = models.FloatField(help_text="Probability at or above which the decision is adverse.")
    # The refer band (docs/scoring.md#the-refer-band): empty, every decision is approve or refuse.
    refer_lower = models.FloatField(
        null=True, blank=True, help_text="Refer band: lowest probability referred to an underwriter."
    )
    refer_upper = models.FloatField(
        null=True, blank=True, help_text="Refer band: highest probability referred to an underwriter."
    )
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    activated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["purpose", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["purpose", "version"], name="modelversion_unique_version"),
            models.UniqueConstraint(
                fields=["purpose"], condition=Q(status=ModelStatus.CHAMPION), name="modelversion_one_champion"
            ),
            models.UniqueConstraint(
                fields=["purpose"], condition=Q(status=ModelStatus.CHALLENGER), name="modelversion_one_challenger"
            ),
            models.CheckConstraint(
                condition=Q(threshold__gte=0) & Q(threshold__lte=1), name="modelversion_threshold_range"
            ),
            models.CheckConstraint(
                condition=Q(refer_lower__isnull=True, refer_upper__isnull=True)
                | Q(
                    refer_lower__gte=0,
                    refer_lower__lte=models.F("threshold"),
                    refer_upper__gte=models.F("threshold"),
                    refer_upper__lte=1,
                ),
                name="modelversion_refer_band_valid",
            ),
            models.CheckConstraint(condition=Q(purpose__in=ModelPurpose.values), name="modelversion_purpose_valid"),
            models.CheckConstraint(condition=Q(status__in=ModelStatus.values), name="modelversion_status_valid"),
        ]
        indexes = [models.Index(fields=["purpose", "status"], name="modelversion_status_idx")]

    def __str__(self) -> str:
        return f"{self.purpose} {self.version} ({self.status})"

    @property
    def is_live(self) -> bool:
        return self.status in (ModelStatus.CHAMPION, ModelStatus.CHALLENGER)

    @property
    def refer_band_values(self) -> dict[str, float | None]:
        """The band, keyed as audit events and promotion requests record it."""
        return {"refer_lower": self.refer_lower, "refer_upper": self.refer_upper}

    @property
    def has_refer_band(self) -> bool:
        return self.refer_lower is not None and self.refer_upper is not None


class ModelArtifact(models.Model):
    """The bytes of a model version and the reference sample of its training inputs."""

    model_version = models.OneToOneField(ModelVersion, on_delete=models.CASCADE, related_name="artifact_file")
    content = models.BinaryField(help_text="LightGBM model text (Booster.model_to_string).")
    size = models.PositiveIntegerField(default=0)
    reference_data = models.JSONField(
        default=dict,
        blank=True,
        help_text="{columns, rows}: a sample of the training inputs and scores, the drift report's reference.",
    )

    def __str__(self) -> str:
        return f"artifact of {self.model_version_id} ({self.size} bytes)"


class BatchJob(models.Model):
    """A file of applicants scored by the workers, chunk by chunk (docs/batch.md).

    Created with all its chunks in one transaction; the chunk tasks are enqueued after it
    commits. The counters below are updated in the same transaction as each chunk's
    decisions, so they never disagree with what is stored. The job is scored entirely by
    ``model_version``, the credit champion when it was submitted.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(max_length=10, choices=BatchJobStatus.choices, default=BatchJobStatus.QUEUED)
    source = models.CharField(max_length=10, choices=BatchSource.choices)
    filename = models.CharField(max_length=255, help_text="Name of the uploaded file (no directory).")
    file_format = models.CharField(max_length=10, choices=BatchFileFormat.choices)
    file_size = models.PositiveBigIntegerField(help_text="Bytes.")
    file_sha256 = models.CharField(max_length=64)
    columns = models.JSONField(default=list, help_text="The file's columns, in file order.")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="batch_jobs")
    caller = models.CharField(
        max_length=100, help_text="Who submitted it: apikey:PREFIX, oidc:HASH or user:ID (never a name)."
    )
    total_rows = models.PositiveIntegerField(default=0, help_text="Applicant rows in the file.")
    chunk_rows = models.PositiveIntegerField(help_text="Rows per chunk.")
    chunk_count = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    chunks_dead = models.PositiveIntegerField(default=0, help_text="Chunks given up after the capped attempts.")
    chunk_retries = models.PositiveIntegerField(default=0, help_text="Chunk attempts beyond the first.")
    rows_scored = models.PositiveIntegerField(default=0)
    rows_rejected = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    idempotency_key = models.CharField(
        max_length=200,
        null=True,
        blank=True,
        help_text="The API caller's Idempotency-Key: a retried upload is this job.",
    )
    cancel_reason = models.CharField(
        max_length=30,
        choices=BatchCancelReason.choices,
        blank=True,
        default="",
        help_text="Why the job was cancelled (who asked is in the audit trail); empty unless cancelled.",
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["caller", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="batchjob_unique_idempotency_key",
            ),
            models.CheckConstraint(condition=Q(status__in=BatchJobStatus.values), name="batchjob_status_valid"),
            models.CheckConstraint(condition=Q(chunk_rows__gte=1), name="batchjob_chunk_rows_positive"),
            models.CheckConstraint(
                condition=Q(chunks_done__lte=models.F("chunk_count") - models.F("chunks_dead")),
                name="batchjob_chunks_consistent",
            ),
            models.CheckConstraint(
                condition=(Q(status=BatchJobStatus.CANCELLED) & ~Q(cancel_reason=""))
                | (~Q(status=BatchJobStatus.CANCELLED) & Q(cancel_reason="")),
                name="batchjob_cancel_reason_iff_cancelled",
            ),
        ]
        indexes = [models.Index(fields=["caller", "-created_at"], name="batchjob_caller_idx")]

    def __str__(self) -> str:
        return f"batch {str(self.id)[:8]} ({self.status})"

    @property
    def is_finished(self) -> bool:
        """Ended, whichever way: its result and rejects files hold what it scored (a cancelled job's too)."""
        return self.status in (
            BatchJobStatus.COMPLETED,
            BatchJobStatus.PARTIAL,
            BatchJobStatus.FAILED,
            BatchJobStatus.CANCELLED,
        )

    @property
    def rows_processed(self) -> int:
        return self.rows_scored + self.rows_rejected

    @property
    def progress(self) -> float:
        """Share of the chunks finished (done or dead-lettered), 0-1."""
        if not self.chunk_count:
            return 1.0 if self.is_finished else 0.0
        return (self.chunks_done + self.chunks_dead) / self.chunk_count


class BatchChunk(models.Model):
    """A slice of a batch file: the unit a worker claims, scores and stores in one transaction.

    ``payload`` holds the slice as CSV text (header line first, zlib-compressed) until it is
    scored, then it is emptied: the decisions hold the inputs from then on. ``attempts`` counts claims,
    whatever ended them (an error, a killed worker): past ``BATCH_CHUNK_MAX_ATTEMPTS`` the
    chunk is not run again but becomes a dead letter (``status=dead``, ``last_error``).
    """

    job = models.ForeignKey(BatchJob, on_delete=models.CASCADE, related_name="chunks")
    number = models.PositiveIntegerField(help_text="Position in the file, from 0.")
    first_row = models.PositiveIntegerField(help_text="Row (CSV: line) of its first applicant.")
    last_row = models.PositiveIntegerField(help_text="Row (CSV: line) of its last applicant.")
    row_count = models.PositiveIntegerField()
    payload = models.BinaryField(default=bytes, help_text="The rows as CSV text (compressed); emptied once scored.")
    status = models.CharField(max_length=10, choices=BatchChunkStatus.choices, default=BatchChunkStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    enqueued_at = models.DateTimeField(null=True, blank=True, help_text="Empty: the broker did not take it.")
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=200, blank=True, help_text="Worker node and process of the last claim.")
    finished_at = models.DateTimeField(null=True, blank=True)
    rows_scored = models.PositiveIntegerField(default=0)
    rows_rejected = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, help_text="Why the last attempt failed (no applicant data).")

    class Meta:
        ordering = ["job", "number"]
        constraints = [
            models.UniqueConstraint(fields=["job", "number"], name="batchchunk_unique_number"),
            models.CheckConstraint(condition=Q(status__in=BatchChunkStatus.values), name="batchchunk_status_valid"),
            models.CheckConstraint(condition=Q(first_row__lte=models.F("last_row")), name="batchchunk_rows_ordered"),
        ]
        indexes = [
            # The reconciler's look-up: open chunks only, so the index stays small.
            models.Index(
                fields=["status", "enqueued_at"],
                condition=Q(status__in=[BatchChunkStatus.PENDING, BatchChunkStatus.RUNNING]),
                name="batchchunk_open_idx",
            )
        ]

    def __str__(self) -> str:
        return f"chunk {self.number} of {self.job_id} ({self.status})"


class BatchReject(models.Model):
    """A row of a batch file that was not scored, with why (field -> message; no values)."""

    job = models.ForeignKey(BatchJob, on_delete=models.CASCADE, related_name="rejects")
    row = models.PositiveIntegerField(help_text="Row (CSV: line number) in the file.")
    errors = models.JSONField(help_text="{field: message}.")

    class Meta:
        ordering = ["job", "row"]
        constraints = [models.UniqueConstraint(fields=["job", "row"], name="batchreject_unique_row")]

    def __str__(self) -> str:
        return f"row {self.row} of {self.job_id}"


class Decision(models.Model):
    """A credit decision: evidence of what was decided, why, by which model, for whom.

    Never edited in place. ``features`` is the exact input snapshot the model saw, so the
    decision can be replayed with the stored model version. Decisions of a batch job
    name the job and their row in its file.
    """

    # Every index below is paid by each stored decision (a million of them per big batch
    # job), so the foreign keys carry none of their own: the composite and partial indexes
    # of Meta serve their look-ups.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey(
        Client, null=True, blank=True, on_delete=models.PROTECT, related_name="decisions", db_index=False
    )
    application = models.ForeignKey(
        CreditApplication, null=True, blank=True, on_delete=models.PROTECT, related_name="decisions", db_index=False
    )
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="decisions", db_index=False)
    # What an exact replay needs besides the snapshot (replay_decisions): the model file's
    # hash as it was, and the version of the code from inputs to probability and reasons.
    # Empty on decisions stored before they were kept.
    artifact_sha256 = models.CharField(
        max_length=64, blank=True, default="", db_default="", help_text="SHA-256 of the model file that decided."
    )
    pipeline_version = models.CharField(
        max_length=40, blank=True, default="", db_default="", help_text="Feature pipeline and LightGBM versions."
    )
    # The refer rule in force when it was decided (the version's band may change afterwards):
    # the band (empty: none) and SCORE_REFER_MISSING_SHARE. All empty on decisions stored
    # before they were kept; replay then falls back to the version's band and today's setting.
    refer_lower_used = models.FloatField(null=True, blank=True, help_text="Refer band's lower bound in force.")
    refer_upper_used = models.FloatField(null=True, blank=True, help_text="Refer band's upper bound in force.")
    refer_missing_share_used = models.FloatField(null=True, blank=True, help_text="SCORE_REFER_MISSING_SHARE in force.")
    features = models.JSONField(help_text="Input snapshot, by feature name.")
    probability_default = models.FloatField()
    prediction = models.PositiveSmallIntegerField(help_text="The model's verdict: 0 = accept, 1 = refuse.")
    decision = models.CharField(max_length=10, choices=CreditDecisionOutcome.choices)
    risk_level = models.CharField(max_length=6, choices=RiskLevel.choices)
    threshold_used = models.FloatField()
    reasons = models.JSONField(default=list, help_text="Features that pushed the score most.")
    # The challenger's verdict on the same inputs, scored in shadow: stored, never returned.
    shadow_model_version = models.ForeignKey(
        ModelVersion,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="shadow_decisions",
        db_index=False,
    )
    shadow_probability = models.FloatField(
        null=True, blank=True, help_text="Empty when the challenger could not take these inputs."
    )
    shadow_prediction = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.FloatField(default=0)
    caller = models.CharField(max_length=100, help_text="apikey:<prefix> or user:<id>.")
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    # Decisions made by a batch job: the job and the row of the file (unique together, so a
    # chunk run twice can never store a row twice). The unique index serves the look-ups.
    batch_job = models.ForeignKey(
        BatchJob, null=True, blank=True, on_delete=models.PROTECT, related_name="decisions", db_index=False
    )
    batch_row = models.PositiveIntegerField(null=True, blank=True, help_text="Row (CSV: line) in the batch file.")
    request_hash = models.CharField(
        max_length=80,
        blank=True,
        help_text="Fingerprint of the applicant sent with an Idempotency-Key: 'v2:' and the SHA-256 of the "
        "validated input (before v2: 64 hex digits, the SHA-256 of the body as sent).",
    )
    # ``decision`` is the automated decision, never changed. A person's decision goes here
    # (docs/review.md): empty, the automated one is final, unless it is ``refer`` (pending review).
    final_decision = models.CharField(max_length=10, choices=FinalOutcome.choices, null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        help_text="The underwriter whose decision is final (empty: the model's).",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["batch_job", "batch_row"],
                condition=Q(batch_job__isnull=False),
                name="decision_unique_batch_row",
            ),
            models.CheckConstraint(
                condition=Q(batch_job__isnull=True, batch_row__isnull=True)
                | Q(batch_job__isnull=False, batch_row__isnull=False),
                name="decision_batch_row_with_job",
            ),
            models.UniqueConstraint(
                fields=["caller", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="decision_unique_idempotency_key",
            ),
            models.CheckConstraint(
                condition=Q(probability_default__gte=0) & Q(probability_default__lte=1),
                name="decision_probability_range",
            ),
            models.CheckConstraint(condition=Q(prediction__in=[0, 1]), name="decision_prediction_binary"),
            models.CheckConstraint(
                condition=Q(prediction=1, decision=CreditDecisionOutcome.REFUSE)
                | Q(prediction=0, decision=CreditDecisionOutcome.APPROVE)
                | Q(prediction__in=[0, 1], decision=CreditDecisionOutcome.REFER),
                name="decision_prediction_matches_decision",
            ),
            models.CheckConstraint(
                condition=Q(threshold_used__gte=0) & Q(threshold_used__lte=1), name="decision_threshold_range"
            ),
            models.CheckConstraint(
                condition=Q(final_decision__isnull=True, decided_by__isnull=True, decided_at__isnull=True)
                | Q(final_decision__in=FinalOutcome.values, decided_by__isnull=False, decided_at__isnull=False),
                name="decision_final_by_someone",
            ),
            models.CheckConstraint(
                condition=Q(shadow_probability__isnull=True)
                | (Q(shadow_probability__gte=0, shadow_probability__lte=1) & Q(shadow_prediction__in=[0, 1])),
                name="decision_shadow_consistent",
            ),
        ]
        indexes = [
            models.Index(
                fields=["client", "-created_at"], condition=Q(client__isnull=False), name="decision_client_idx"
            ),
            models.Index(fields=["model_version", "-created_at"], name="decision_model_idx"),
            models.Index(
                fields=["application"], condition=Q(application__isnull=False), name="decision_application_idx"
            ),
            models.Index(
                fields=["shadow_model_version"],
                condition=Q(shadow_model_version__isnull=False),
                name="decision_shadow_model_idx",
            ),
        ]

    def __str__(self) -> str:
        probability = "no probability" if self.probability_default is None else f"{self.probability_default:.3f}"
        return f"{self.decision or 'no decision'} {probability} ({self.id})"

    @property
    def automated_decision(self) -> str:
        return self.decision

    @property
    def final_outcome(self) -> str | None:
        """The decision that stands: a person's, else the model's; None while a referral waits."""
        if self.final_decision:
            return self.final_decision
        return None if self.decision == CreditDecisionOutcome.REFER else self.decision


class ReviewCase(models.Model):
    """A credit decision in the underwriters' queue (docs/review.md).

    Opened for a referred decision (with it, in the same transaction), for an override an
    analyst asks for, or for a contest. An analyst takes it, or an admin assigns it; the
    assignee then holds the ``scoring.close_reviewcase`` object permission (django-guardian),
    as fraud alerts do, and closes it with a final decision and a written justification.
    Approving an applicant the model would refuse needs a second person's approval (four
    eyes): the case then waits in ``awaiting_approval``. Closed cases are never reopened: a
    contest opens a new case. A person's refusal states its principal reasons as codes of a
    fixed catalogue (``refusal_reasons``): the adverse-action notice lists them. A case still
    open when its client is erased is ``withdrawn`` by the erasure: no decision, no text, and
    nothing written on it afterwards.
    """

    decision = models.ForeignKey(Decision, on_delete=models.PROTECT, related_name="review_cases")
    origin = models.CharField(max_length=10, choices=ReviewOrigin.choices, default=ReviewOrigin.REFERRED)
    status = models.CharField(max_length=20, choices=ReviewStatus.choices, default=ReviewStatus.OPEN)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    opening_note = models.TextField(max_length=2000, blank=True, help_text="Why an override review was asked for.")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="review_cases"
    )
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assigned_at = models.DateTimeField(null=True, blank=True)
    proposed_decision = models.CharField(max_length=10, choices=FinalOutcome.choices, blank=True)
    justification = models.TextField(max_length=4000, blank=True, help_text="The underwriter's written reasons.")
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    proposed_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    final_decision = models.CharField(max_length=10, choices=FinalOutcome.choices, blank=True)
    refusal_reasons = models.JSONField(
        default=list,
        blank=True,
        help_text="A person's refusal: the principal reasons, codes of scoring.reasons.UNDERWRITER_REASONS, in order.",
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        permissions = [
            ("assign_reviewcase", "Can assign review cases to any analyst"),
            ("take_reviewcase", "Can take an unassigned review case"),
            ("close_reviewcase", "Can close review cases (per case: its assignee)"),
            ("approve_reviewcase", "Can give the second approval of an override"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=ReviewStatus.values), name="reviewcase_status_valid"),
            models.CheckConstraint(condition=Q(origin__in=ReviewOrigin.values), name="reviewcase_origin_valid"),
            models.UniqueConstraint(
                fields=["decision"],
                condition=~Q(status__in=[ReviewStatus.CLOSED, ReviewStatus.WITHDRAWN]),
                name="reviewcase_one_open_per_decision",
            ),
            models.CheckConstraint(
                condition=Q(status=ReviewStatus.OPEN, assignee__isnull=True)
                | Q(status__in=[ReviewStatus.ASSIGNED, ReviewStatus.AWAITING_APPROVAL], assignee__isnull=False)
                | Q(status=ReviewStatus.CLOSED, final_decision__in=FinalOutcome.values, closed_at__isnull=False)
                # Withdrawn by an erasure: no decision, no proposal, no justification (docs/privacy.md).
                | Q(
                    status=ReviewStatus.WITHDRAWN,
                    final_decision="",
                    proposed_decision="",
                    justification="",
                    closed_at__isnull=False,
                ),
                name="reviewcase_status_consistent",
            ),
            models.CheckConstraint(
                condition=~Q(status=ReviewStatus.AWAITING_APPROVAL)
                | Q(proposed_decision__in=FinalOutcome.values, proposed_by__isnull=False),
                name="reviewcase_proposal_complete",
            ),
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True) | ~Q(approved_by=models.F("proposed_by")),
                name="reviewcase_four_eyes",
            ),
            models.CheckConstraint(  # the service's rule (scoring/review/services.py), kept by the table too
                condition=Q(refusal_reasons=[]) | Q(final_decision=FinalOutcome.REFUSE),
                name="reviewcase_refusal_reasons_only_for_a_refusal",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "created_at"], name="reviewcase_queue_idx"),
            models.Index(fields=["decision"], name="reviewcase_decision_idx"),
        ]

    def __str__(self) -> str:
        return f"review {self.pk} ({self.status})"


class Contest(models.Model):
    """An applicant contests a final decision (GDPR Art. 22(3)); it reopens the decision for review.

    Recorded by the lender's system (``POST /api/v1/predictions/{id}/contest``) with the
    applicant's own words; it opens a review case (``origin=contest``), or joins the one
    already open.
    """

    decision = models.ForeignKey(Decision, on_delete=models.PROTECT, related_name="contests")
    statement = models.TextField(max_length=4000, help_text="The applicant's point of view, in their words.")
    review_case = models.ForeignKey(ReviewCase, on_delete=models.PROTECT, related_name="contests")
    caller = models.CharField(max_length=100, help_text="Who recorded it: apikey:PREFIX, oidc:HASH or user:ID.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["decision", "-created_at"], name="contest_decision_idx")]

    def __str__(self) -> str:
        return f"contest {self.pk} of {self.decision_id}"


class DecisionWebhook(models.Model):
    """A caller's URL, told (HMAC-signed) when one of its decisions becomes final by a person.

    Registered through ``POST /api/v1/webhooks``; the signing secret is generated then and
    shown once. A decision belongs to the caller that asked for it (``Decision.caller``).
    A caller has one active webhook per URL: a second would post every event twice, each
    signed with another secret.
    """

    caller = models.CharField(max_length=100, help_text="Whose decisions: apikey:PREFIX, oidc:HASH or user:ID.")
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=100, editable=False, help_text="HMAC-SHA256 key (never displayed again).")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["caller", "is_active"], name="decisionwebhook_caller_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["caller", "url"],
                condition=models.Q(is_active=True),
                name="decisionwebhook_active_url_uniq",
                violation_error_message="This caller already has an active webhook for this URL.",
            )
        ]

    def __str__(self) -> str:
        return f"webhook {self.pk} of {self.caller}"


class WebhookDelivery(models.Model):
    """One event for one webhook: its attempts and what the receiver answered (shown in the admin)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending (retrying)"
        DELIVERED = "delivered", "Delivered"
        REFUSED = "refused", "Refused by the receiver (4xx)"
        FAILED = "failed", "Failed after the retries"
        # The SSRF guard refused the target (an internal address): nothing sent, never retried.
        BLOCKED = "blocked", "Refused: target address not allowed"
        # Its webhook was deactivated (by an admin, or with its caller's revoked key) before it was sent.
        CANCELLED = "cancelled", "Not sent: webhook deactivated"

    webhook = models.ForeignKey(DecisionWebhook, on_delete=models.CASCADE, related_name="deliveries")
    decision = models.ForeignKey(Decision, on_delete=models.PROTECT, related_name="webhook_deliveries")
    event = models.CharField(max_length=40, default="decision.final")
    payload = models.JSONField(help_text="What is sent: ids and outcomes, never the applicant's data.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_outcome = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # When its next attempt's message is due (sent now, or a retry's countdown); empty when the
    # broker refused the message. The reconciler re-sends a pending delivery long overdue.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "-created_at"], name="webhookdelivery_status_idx")]

    def __str__(self) -> str:
        return f"delivery {self.pk} ({self.status})"
