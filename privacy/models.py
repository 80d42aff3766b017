"""GDPR requests (erasure Art. 17, access Art. 15/20), legal holds and erasure certificates."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from scoring.models import Client


class RequestKind(models.TextChoices):
    ERASURE = "erasure", "Erasure (Art. 17)"
    ACCESS = "access", "Access and portability (Art. 15/20)"


class RequestStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    APPROVED = "approved", "Approved"
    DONE = "done", "Done"
    REJECTED = "rejected", "Rejected"


OPEN_STATUSES = (RequestStatus.RECEIVED, RequestStatus.APPROVED)


class GdprRequest(models.Model):
    """A person's request, recorded by a compliance officer and worked to done or rejected.

    received → approved → done, or → rejected with a reason. An erasure is approved by
    another officer than the one who recorded it (four eyes; ``privacy.services``). An
    approved erasure runs as a job; a legal hold (an open fraud alert, a manual hold)
    defers it, and ``holds`` shows which and until when. Once the person is erased the
    request no longer points at them (``client`` is emptied, free text cleared).
    """

    kind = models.CharField(max_length=10, choices=RequestKind.choices)
    status = models.CharField(max_length=10, choices=RequestStatus.choices, default=RequestStatus.RECEIVED)
    client = models.ForeignKey(
        Client,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="gdpr_requests",
        help_text="Emptied once the person is erased.",
    )
    received_at = models.DateTimeField(help_text="When the person's request reached the bank.")
    due_at = models.DateTimeField(help_text="One month after receipt (GDPR Art. 12(3)).")
    details = models.TextField(
        max_length=2000,
        blank=True,
        help_text="How the request came in and was verified. Cleared when the person is erased.",
    )
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    rejected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    rejected_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.TextField(max_length=2000, blank=True)
    completed_by = models.CharField(
        max_length=150, blank=True, help_text="Who completed it: the officer, or the erasure job for its approver."
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    holds = models.JSONField(
        default=list,
        blank=True,
        help_text="Legal holds found at the last attempt: [{kind, effect, detail, until}].",
    )
    last_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "GDPR request"
        ordering = ["due_at"]
        permissions = [("approve_gdprrequest", "Can approve or reject GDPR requests")]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=RequestKind.values), name="gdprrequest_kind_valid"),
            models.CheckConstraint(condition=Q(status__in=RequestStatus.values), name="gdprrequest_status_valid"),
            models.CheckConstraint(condition=Q(due_at__gt=models.F("received_at")), name="gdprrequest_due_after"),
            models.CheckConstraint(
                # Four eyes on erasure: the approver is never the officer who recorded it.
                condition=~Q(kind=RequestKind.ERASURE)
                | Q(approved_by__isnull=True)
                | ~Q(approved_by=models.F("recorded_by")),
                name="gdprrequest_erasure_four_eyes",
            ),
            models.CheckConstraint(
                condition=~Q(status=RequestStatus.REJECTED) | ~Q(rejection_reason=""),
                name="gdprrequest_rejection_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=[RequestStatus.RECEIVED, RequestStatus.APPROVED]) | Q(client__isnull=False),
                name="gdprrequest_open_has_client",
            ),
        ]
        indexes = [models.Index(fields=["status", "due_at"], name="gdprrequest_due_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} request #{self.pk}"


class HoldReason(models.TextChoices):
    LEGAL_CLAIM = "legal_claim", "Legal claims (Art. 17(3)(e))"
    AUTHORITY = "authority", "Request from an authority (Art. 17(3)(b))"
    INVESTIGATION = "investigation", "Ongoing investigation"


class LegalHold(models.Model):
    """A hold placed by compliance on a client's data: erasure waits until it is released or expires."""

    client = models.ForeignKey(
        Client,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="legal_holds",
        help_text="Emptied once erased.",
    )
    reason = models.CharField(max_length=20, choices=HoldReason.choices)
    details = models.TextField(
        max_length=2000, blank=True, help_text="Case reference. Cleared when the person is erased."
    )
    until = models.DateField(null=True, blank=True, help_text="Empty: until released.")
    placed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    placed_at = models.DateTimeField(auto_now_add=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-placed_at"]
        constraints = [
            models.CheckConstraint(condition=Q(reason__in=HoldReason.values), name="legalhold_reason_valid"),
        ]

    def __str__(self) -> str:
        return f"legal hold #{self.pk} ({self.get_reason_display()})"


class ErasureCertificate(models.Model):
    """What an erasure did, table by table: free of personal data, downloadable as JSON."""

    request = models.OneToOneField(GdprRequest, on_delete=models.PROTECT, related_name="certificate")
    issued_at = models.DateTimeField()
    document = models.JSONField(help_text="Counts, times, what was kept and why; no personal data.")
    sha256 = models.CharField(max_length=64, help_text="SHA-256 of the downloaded document.")

    class Meta:
        ordering = ["-issued_at"]

    def __str__(self) -> str:
        return f"erasure certificate of request #{self.request_id}"
