"""Choices of the scoring domain."""

from django.db import models


class ModelPurpose(models.TextChoices):
    CREDIT = "credit", "Credit"
    FRAUD = "fraud", "Fraud"


class ModelStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    CHAMPION = "champion", "Champion"
    CHALLENGER = "challenger", "Challenger"
    RETIRED = "retired", "Retired"


class CreditDecisionOutcome(models.TextChoices):
    APPROVE = "approve", "Approve"
    REFER = "refer", "Refer to an underwriter"
    REFUSE = "refuse", "Refuse"


class RiskLevel(models.TextChoices):
    LOW = "LOW", "Low"
    MEDIUM = "MEDIUM", "Medium"
    HIGH = "HIGH", "High"


class LoanPurpose(models.TextChoices):
    CAR = "car", "Car"
    HOME = "home", "Home"
    EDUCATION = "education", "Education"
    BUSINESS = "business", "Business"
    CONSUMER = "consumer", "Consumer goods"
    OTHER = "other", "Other"


class ApplicationStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    DECIDED = "decided", "Decided"
    WITHDRAWN = "withdrawn", "Withdrawn"


class BatchJobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    PARTIAL = "partial", "Completed with dead-lettered chunks"
    FAILED = "failed", "Failed (every chunk dead-lettered)"
    CANCELLED = "cancelled", "Cancelled (what was scored before is kept)"


class BatchCancelReason(models.TextChoices):
    """Why a batch job was cancelled (stored on the job; who asked is in the audit trail)."""

    REQUESTED = "requested", "by its caller or an admin"
    CALLER_ACCESS_REVOKED = (
        "caller_access_revoked",
        "by the platform: its caller may no longer score (API key revoked or expired, user deactivated or demoted)",
    )


class BatchChunkStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    DEAD = "dead", "Dead letter"
    CANCELLED = "cancelled", "Cancelled with its job (never scored)"


class BatchFileFormat(models.TextChoices):
    CSV = "csv", "CSV"
    PARQUET = "parquet", "Parquet"


class BatchSource(models.TextChoices):
    API = "api", "API"
    ADMIN = "admin", "Admin upload"
    COMMAND = "command", "score_batch command"


class ReviewOrigin(models.TextChoices):
    REFERRED = "referred", "Referred by the model"
    OVERRIDE = "override", "Override of an automatic decision"
    CONTEST = "contest", "Contested by the applicant"


class ReviewStatus(models.TextChoices):
    OPEN = "open", "Waiting for an underwriter"
    ASSIGNED = "assigned", "With an underwriter"
    AWAITING_APPROVAL = "awaiting_approval", "Waiting for a second approval"
    CLOSED = "closed", "Closed"
    # Closed by the erasure of its client (docs/privacy.md): no decision taken, no text written.
    WITHDRAWN = "withdrawn", "Withdrawn: client erased"


# A case in one of these states is over: nothing waits on it and nothing more is written on it.
REVIEW_ENDED = (ReviewStatus.CLOSED, ReviewStatus.WITHDRAWN)


class FinalOutcome(models.TextChoices):
    APPROVE = "approve", "Approve"
    REFUSE = "refuse", "Refuse"
