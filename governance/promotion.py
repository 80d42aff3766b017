"""Four-eyes promotion: a model version put in service, or a fraud rule activated, only when a
second admin approves the request of a first (``PROMOTION_FOUR_EYES``; off for a one-person demo).

The services here are the only way the admin puts a version in service or activates a rule
while four eyes are on (the registry's and the rules' own actions then refuse and point here).
Every step is an audit event: ``promotion.requested``, ``promotion.approved`` (then the
registry's ``model.activated`` or the rules' ``fraud.rule.activated``), ``promotion.rejected``,
``promotion.withdrawn``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_record
from governance.models import (
    FairnessReport,
    PerformanceReport,
    PromotionKind,
    PromotionRequest,
    PromotionStatus,
)
from scoring.choices import ModelStatus

APPROVE_PERMISSION = "governance.approve_promotionrequest"
OWN_REQUEST = "The requester cannot approve their own request: a second admin must."


def _details(request: PromotionRequest) -> dict[str, Any]:
    out: dict[str, Any] = {"request": request.pk, "kind": request.kind}
    if request.kind == PromotionKind.MODEL:
        out.update(version=request.version_to_promote.version, status=request.target_status)
    else:
        out.update(rule=request.rule_to_activate.name, rule_version=request.rule_version)
    return out


def promotion_request_create(
    *,
    user: Any,
    model_version: Any = None,
    target_status: str = "",
    fraud_rule: Any = None,
    reason: str = "",
) -> PromotionRequest:
    """Ask for a version to become champion or challenger, or for a rule to be activated.

    With four eyes off it is carried out at once (and recorded as such). Raises
    ``ValidationError`` naming the field when there is nothing to promote.
    """
    if not getattr(user, "pk", None) or not user.has_perm(APPROVE_PERMISSION):
        raise PermissionDenied("Only an admin requests a promotion.")
    if (model_version is None) == (fraud_rule is None):
        raise ValidationError({"model_version": "Choose a model version or a fraud rule (one of them)."})
    if model_version is not None:
        if target_status not in (ModelStatus.CHAMPION, ModelStatus.CHALLENGER):
            raise ValidationError({"target_status": "A version is promoted to champion or challenger."})
        if model_version.status == target_status:
            raise ValidationError({"model_version": f"{model_version.version} is already the {target_status}."})
        request = PromotionRequest(kind=PromotionKind.MODEL, model_version=model_version, target_status=target_status)
    else:
        if fraud_rule.is_active:
            raise ValidationError({"fraud_rule": f"Rule {fraud_rule.name} is already active."})
        request = PromotionRequest(kind=PromotionKind.RULE, fraud_rule=fraud_rule, rule_version=fraud_rule.version)
    request.reason = reason[:2000]
    request.requested_by = user
    request.four_eyes = settings.PROMOTION_FOUR_EYES
    try:
        with transaction.atomic():
            request.save()
            audit_record(actor=user, action="promotion.requested", target=request, details=_details(request))
    except IntegrityError as exc:
        raise ValidationError(
            {"model_version" if model_version else "fraud_rule": "A request for this is already pending."}
        ) from exc
    if not request.four_eyes:
        return _carry_out(request, user, note="four eyes off (PROMOTION_FOUR_EYES)")
    return request


def promotion_request_approve(*, request: PromotionRequest, user: Any, note: str = "") -> PromotionRequest:
    """The second admin's approval: the promotion is carried out now.

    Raises ``PermissionDenied`` for the requester themself or a non-admin, ``ValidationError``
    when the request is no longer pending.
    """
    if not getattr(user, "pk", None) or not user.has_perm(APPROVE_PERMISSION):
        raise PermissionDenied("Only an admin approves a promotion.")
    if request.requested_by_id == user.pk:
        raise PermissionDenied(OWN_REQUEST)
    return _carry_out(request, user, note=note)


def _carry_out(request: PromotionRequest, user: Any, *, note: str) -> PromotionRequest:
    from fraud.models import FraudRule
    from fraud.services import fraud_rule_save
    from scoring.services import model_version_activate

    with transaction.atomic():
        locked = PromotionRequest.objects.select_for_update().get(pk=request.pk)
        if locked.status != PromotionStatus.PENDING:
            raise ValidationError({"status": f"This request is already {locked.status}."})
        if locked.kind == PromotionKind.MODEL:
            model_version_activate(model_version=locked.version_to_promote, status=locked.target_status, user=user)
        else:
            # What is approved is the version the request named, the one the approver reviewed:
            # an inactive rule stays editable, and an edit between review and approval (its
            # condition, action or weight) would otherwise go live under the approval.
            rule = FraudRule.objects.select_for_update().get(pk=locked.rule_to_activate.pk)
            if rule.version != locked.rule_version:
                raise ValidationError(
                    {
                        "rule_version": f"The rule changed after this request (version {locked.rule_version} was "
                        f"requested, it is now version {rule.version}): turn this request down and request the "
                        "activation of the version to review."
                    }
                )
            fraud_rule_save(
                user=user,
                rule=rule,
                is_active=True,
                note=f"promotion #{locked.pk}",
                promotion=locked,
            )
        locked.status = PromotionStatus.APPROVED
        locked.decided_by = user
        locked.decided_at = timezone.now()
        locked.decision_note = note[:2000]
        locked.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
        audit_record(
            actor=user,
            action="promotion.approved",
            target=locked,
            details={
                **_details(locked),
                "requested_by": f"user:{locked.requested_by_id}",
                "four_eyes": locked.four_eyes,
            },
        )
    return locked


def promotion_request_reject(*, request: PromotionRequest, user: Any, note: str = "") -> PromotionRequest:
    """Turn a pending request down (an admin), or withdraw it (its requester)."""
    if not getattr(user, "pk", None) or not user.has_perm(APPROVE_PERMISSION):
        raise PermissionDenied("Only an admin decides on a promotion.")
    with transaction.atomic():
        locked = PromotionRequest.objects.select_for_update().get(pk=request.pk)
        if locked.status != PromotionStatus.PENDING:
            raise ValidationError({"status": f"This request is already {locked.status}."})
        own = locked.requested_by_id == user.pk
        locked.status = PromotionStatus.WITHDRAWN if own else PromotionStatus.REJECTED
        locked.decided_by = user
        locked.decided_at = timezone.now()
        locked.decision_note = note[:2000]
        locked.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
        audit_record(actor=user, action=f"promotion.{locked.status}", target=locked, details=_details(locked))
    return locked


def promotion_evidence(request: PromotionRequest) -> dict[str, Any]:
    """What the approver sees on one page: hold-out metrics, the shadow comparison, performance
    on matured labels, fairness, and for a rule its condition and the back-test to run."""
    from scoring.models import ModelVersion
    from scoring.selectors import referral_rate, shadow_agreement

    if request.kind == PromotionKind.RULE:
        rule = request.rule_to_activate
        return {"rule": rule, "rule_changed": rule.version != request.rule_version}
    version = request.version_to_promote
    champion = (
        ModelVersion.objects.filter(purpose=version.purpose, status=ModelStatus.CHAMPION).exclude(pk=version.pk).first()
    )
    performance = list(
        PerformanceReport.objects.filter(model_version=version).select_related("champion").order_by("-as_of")[:4]
    )
    fairness = list(FairnessReport.objects.filter(model_version=version).order_by("-as_of", "basis", "feature")[:6])
    return {
        "version": version,
        "champion": champion,
        "shadow": shadow_agreement(model_version=version),
        # The refer band it would serve with, and what share of its own decisions were referred.
        "referrals": referral_rate(model_version=version),
        "champion_referrals": referral_rate(model_version=champion) if champion else None,
        "performance": performance,
        "fairness": fairness,
    }
