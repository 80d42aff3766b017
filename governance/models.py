"""Observed outcomes of credit decisions, and the governance records built on them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from governance.choices import OutcomeSource
from scoring.models import Decision

if TYPE_CHECKING:
    from fraud.models import FraudRule
    from scoring.models import ModelVersion


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


class PerformanceBasis(models.TextChoices):
    OWN = "own", "Its own decisions"
    SHADOW = "shadow", "In shadow, beside the champion"


class PerformanceReport(models.Model):
    """A model version's figures on the decisions whose outcome is known, as of a day.

    ``basis=own``: the version's own decisions. ``basis=shadow``: the decisions the version
    scored in shadow as challenger, with ``champion_metrics`` the deciding version's figures
    on exactly the same matured decisions (side by side). ``metrics`` is empty when fewer
    than ``PERFORMANCE_MIN_OUTCOMES`` matured (``sufficient`` False): the report says nothing then.
    """

    model_version = models.ForeignKey(
        "scoring.ModelVersion", on_delete=models.PROTECT, related_name="performance_reports"
    )
    basis = models.CharField(max_length=10, choices=PerformanceBasis.choices, default=PerformanceBasis.OWN)
    champion = models.ForeignKey(
        "scoring.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Shadow basis: the version that made the decisions.",
    )
    as_of = models.DateField(help_text="Outcomes and decisions up to this day.")
    horizon_months = models.PositiveSmallIntegerField()
    decisions = models.PositiveIntegerField(help_text="Decisions considered.")
    matured = models.PositiveIntegerField(help_text="Of which with a known outcome at the horizon.")
    immature = models.PositiveIntegerField(help_text="Of which still without one.")
    defaults = models.PositiveIntegerField(help_text="Matured decisions that defaulted.")
    sufficient = models.BooleanField(default=False, help_text="Enough matured outcomes of each kind for figures.")
    metrics = models.JSONField(default=dict, blank=True)
    champion_metrics = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-as_of", "model_version"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "basis", "as_of"],
                condition=Q(champion__isnull=True),
                name="performance_unique_own",
            ),
            models.UniqueConstraint(
                fields=["model_version", "basis", "as_of", "champion"],
                condition=Q(champion__isnull=False),
                name="performance_unique_shadow",
            ),
            models.CheckConstraint(condition=Q(basis__in=PerformanceBasis.values), name="performance_basis_valid"),
            models.CheckConstraint(
                condition=Q(basis=PerformanceBasis.OWN, champion__isnull=True)
                | Q(basis=PerformanceBasis.SHADOW, champion__isnull=False),
                name="performance_champion_with_shadow",
            ),
        ]

    def __str__(self) -> str:
        return f"performance of {self.model_version_id} ({self.basis}) as of {self.as_of}"


class FairnessBasis(models.TextChoices):
    MATURED = "matured", "Matured decisions (with outcomes)"
    DECISIONS = "decisions", "All decisions (no outcomes yet)"
    HOLDOUT = "holdout", "Training hold-out set"


class FairnessReport(models.Model):
    """A version's figures per group of one sensitive or proxy feature (governance.fairness)."""

    model_version = models.ForeignKey("scoring.ModelVersion", on_delete=models.PROTECT, related_name="fairness_reports")
    as_of = models.DateField()
    basis = models.CharField(max_length=10, choices=FairnessBasis.choices)
    feature = models.CharField(max_length=64, help_text="The feature that defines the groups.")
    kind = models.CharField(max_length=10, help_text="sensitive or proxy")
    rows = models.PositiveIntegerField(help_text="Decisions (or hold-out rows) considered.")
    groups = models.JSONField(default=list, help_text="[{group, n, approval_rate, ratio, tpr, fpr, judged}]")
    flagged = models.BooleanField(default=False)
    findings = models.JSONField(default=list, help_text="What exceeds the configured disparity, in words.")
    settings_used = models.JSONField(default=dict, help_text="min_ratio, max_gap, min_group, bands.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-as_of", "model_version", "feature"]
        constraints = [
            models.UniqueConstraint(fields=["model_version", "as_of", "basis", "feature"], name="fairness_unique"),
            models.CheckConstraint(condition=Q(basis__in=FairnessBasis.values), name="fairness_basis_valid"),
        ]

    def __str__(self) -> str:
        return f"fairness of {self.model_version_id} by {self.feature} ({self.basis}) as of {self.as_of}"


class PromotionKind(models.TextChoices):
    MODEL = "model", "Model version"
    RULE = "rule", "Fraud rule"
    REFER_BAND = "refer_band", "Refer band of a model version"
    FRAUD_THRESHOLDS = "fraud_thresholds", "Fraud score thresholds"


class PromotionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"


class PromotionRequest(models.Model):
    """Putting a model version in service (champion or challenger), activating a fraud rule,
    changing the refer band of a version in service or the fraud score thresholds: requested by
    one admin, carried out only when a second admin approves (four eyes).

    A setting's request (refer band, fraud thresholds) carries the proposed values and the
    values in force when it was made (``current_values``): the approval refuses when those
    changed since, as a rule's approval does when the rule changed (``rule_version``). A version's
    request keeps the version's status when it was made (``version_status``): a version that changed
    role since (made champion by another request, retired by the kill switch) is not what was reviewed.

    With ``PROMOTION_FOUR_EYES`` off (a single-person demo) a request is carried out at once
    and recorded as approved by its requester, ``four_eyes`` False.
    """

    kind = models.CharField(max_length=20, choices=PromotionKind.choices)
    model_version = models.ForeignKey(
        "scoring.ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="promotion_requests"
    )
    target_status = models.CharField(max_length=12, blank=True, help_text="champion or challenger (model versions).")
    version_status = models.CharField(
        max_length=12,
        blank=True,
        help_text="A model version's request: the version's status when requested (a change since makes it stale).",
    )
    fraud_rule = models.ForeignKey(
        "fraud.FraudRule", null=True, blank=True, on_delete=models.PROTECT, related_name="promotion_requests"
    )
    rule_version = models.PositiveIntegerField(null=True, blank=True, help_text="The rule's version when requested.")
    proposed_refer_lower = models.FloatField(
        null=True, blank=True, help_text="Refer band: the proposed lower bound (both bounds empty: no band)."
    )
    proposed_refer_upper = models.FloatField(null=True, blank=True, help_text="Refer band: the proposed upper bound.")
    proposed_review_threshold = models.FloatField(
        null=True, blank=True, help_text="Fraud thresholds: the proposed review threshold (empty: the model's own)."
    )
    proposed_block_threshold = models.FloatField(
        null=True, blank=True, help_text="Fraud thresholds: the proposed block threshold."
    )
    current_values = models.JSONField(
        default=dict, blank=True, help_text="Refer band, fraud thresholds: the values in force when requested."
    )
    reason = models.TextField(max_length=2000, blank=True, help_text="Why: the requester's case for it.")
    status = models.CharField(max_length=10, choices=PromotionStatus.choices, default=PromotionStatus.PENDING)
    four_eyes = models.BooleanField(default=True, help_text="False: carried out without a second admin (demo).")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(max_length=2000, blank=True)

    class Meta:
        ordering = ["-requested_at"]
        permissions = [("approve_promotionrequest", "Can approve a promotion request (second pair of eyes)")]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=PromotionKind.values), name="promotion_kind_valid"),
            models.CheckConstraint(condition=Q(status__in=PromotionStatus.values), name="promotion_status_valid"),
            models.CheckConstraint(
                condition=Q(
                    kind=PromotionKind.MODEL,
                    model_version__isnull=False,
                    fraud_rule__isnull=True,
                    target_status__in=["champion", "challenger"],
                )
                | Q(kind=PromotionKind.RULE, fraud_rule__isnull=False, model_version__isnull=True)
                | Q(
                    kind=PromotionKind.REFER_BAND,
                    model_version__isnull=False,
                    fraud_rule__isnull=True,
                    target_status="",
                )
                | Q(
                    kind=PromotionKind.FRAUD_THRESHOLDS,
                    model_version__isnull=True,
                    fraud_rule__isnull=True,
                    proposed_block_threshold__isnull=False,
                ),
                name="promotion_target_matches_kind",
            ),  # fmt: skip
            models.UniqueConstraint(
                fields=["model_version", "target_status"],
                condition=Q(status=PromotionStatus.PENDING, kind=PromotionKind.MODEL),
                name="promotion_one_pending_per_model",
            ),
            models.UniqueConstraint(
                fields=["fraud_rule"],
                condition=Q(status=PromotionStatus.PENDING, kind=PromotionKind.RULE),
                name="promotion_one_pending_per_rule",
            ),
            models.UniqueConstraint(
                fields=["model_version"],
                condition=Q(status=PromotionStatus.PENDING, kind=PromotionKind.REFER_BAND),
                name="promotion_one_pending_refer_band",
            ),
            models.UniqueConstraint(
                fields=["kind"],
                condition=Q(status=PromotionStatus.PENDING, kind=PromotionKind.FRAUD_THRESHOLDS),
                name="promotion_one_pending_thresholds",
            ),
        ]

    def __str__(self) -> str:
        return f"promotion #{self.pk}: {self.target_label} ({self.status})"

    @property
    def version_to_promote(self) -> ModelVersion:
        """The model version of a model request (a rule request has none: a ``ValueError``)."""
        if self.model_version is None:
            raise ValueError(f"promotion #{self.pk} names no model version")
        return self.model_version

    @property
    def rule_to_activate(self) -> FraudRule:
        """The fraud rule of a rule request (a model request has none: a ``ValueError``)."""
        if self.fraud_rule is None:
            raise ValueError(f"promotion #{self.pk} names no fraud rule")
        return self.fraud_rule

    @property
    def proposed_values(self) -> dict[str, float | None]:
        """What a setting's request would set, keyed like ``current_values`` (empty for the other kinds)."""
        if self.kind == PromotionKind.REFER_BAND:
            return {"refer_lower": self.proposed_refer_lower, "refer_upper": self.proposed_refer_upper}
        if self.kind == PromotionKind.FRAUD_THRESHOLDS:
            return {
                "review_threshold": self.proposed_review_threshold,
                "block_threshold": self.proposed_block_threshold,
            }
        return {}

    @property
    def target_label(self) -> str:
        if self.kind == PromotionKind.MODEL and self.model_version is not None:
            return f"{self.model_version.version} as {self.target_status}"
        if self.kind == PromotionKind.REFER_BAND and self.model_version is not None:
            return f"refer band of {self.model_version.version}: {refer_band_label(self.proposed_values)}"
        if self.kind == PromotionKind.FRAUD_THRESHOLDS:
            return f"fraud thresholds: {thresholds_label(self.proposed_values)}"
        if self.fraud_rule is not None:
            return f"rule {self.fraud_rule.name} active"
        return "?"


def refer_band_label(values: dict[str, Any]) -> str:
    """``0.1 – 0.3``, or ``no band`` (a refer band's values, proposed or in force)."""
    lower, upper = values.get("refer_lower"), values.get("refer_upper")
    return "no band" if lower is None and upper is None else f"{lower:g} – {upper:g}"


def thresholds_label(values: dict[str, Any]) -> str:
    """``review from 0.4, block from 0.9`` (the fraud thresholds, proposed or in force)."""
    review, block = values.get("review_threshold"), values.get("block_threshold")
    return f"review from {'the model threshold' if review is None else f'{review:g}'}, block from {block:g}"
