"""Observed outcomes of credit decisions, and the governance records built on them."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from governance.choices import OutcomeSource
from scoring.models import Decision


class Outcome(models.Model):
    """What became of a decided loan: defaulted or not, observed on a date, over a horizon.

    Stored beside the decision, never on it (a decision is evidence and is not edited). One
    outcome per decision and horizon: an import that says otherwise is refused, not merged.
    """

    decision = models.ForeignKey(Decision, on_delete=models.PROTECT, related_name="outcomes", db_index=False)
    defaulted = models.BooleanField(help_text="Whether the borrower defaulted within the horizon.")
    observed_on = models.DateField(help_text="When the outcome was observed.")
    horizon_months = models.PositiveSmallIntegerField(help_text="Months after the decision the outcome covers.")
    source = models.CharField(max_length=10, choices=OutcomeSource.choices)
    caller = models.CharField(max_length=100, help_text="Who imported it: apikey:PREFIX, oidc:HASH or user:ID.")
    import_id = models.UUIDField(help_text="The import that brought it (one per API call, file or upload).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["decision", "horizon_months"], name="outcome_unique_horizon"),
            models.CheckConstraint(condition=Q(horizon_months__gte=1), name="outcome_horizon_positive"),
            models.CheckConstraint(condition=Q(source__in=OutcomeSource.values), name="outcome_source_valid"),
        ]
        indexes = [models.Index(fields=["import_id"], name="outcome_import_idx")]

    def __str__(self) -> str:
        return f"{'default' if self.defaulted else 'no default'} at {self.horizon_months} months ({self.decision_id})"

