"""Four-eyes promotion: a model version put in service, a fraud rule activated, the refer band of a
version in service or the fraud score thresholds changed, only when a second admin approves the
request of a first (``PROMOTION_FOUR_EYES``; off for a one-person demo).

The services here are the only way the admin puts a version in service, activates a rule or
changes those settings while four eyes are on (the registry's and the rules' own actions, the
version's and the thresholds' forms, ``refer_band_analysis --apply`` then refuse and point here).
Every step is an audit event: ``promotion.requested``, ``promotion.approved`` (then the
registry's ``model.activated``, the rules' ``fraud.rule.activated``, ``model.refer_band_changed``
or ``fraud.thresholds.changed``), ``promotion.rejected``, ``promotion.withdrawn``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_record
from governance.models import (
    PerformanceReport,
    PromotionKind,
    PromotionRequest,
    PromotionStatus,
    refer_band_label,
    thresholds_label,
)
from scoring.choices import ModelStatus

APPROVE_PERMISSION = "governance.approve_promotionrequest"
OWN_REQUEST = "The requester cannot approve their own request: a second admin must."


def _details(request: PromotionRequest) -> dict[str, Any]:
    out: dict[str, Any] = {"request": request.pk, "kind": request.kind}
    if request.kind == PromotionKind.MODEL:
        out.update(version=request.version_to_promote.version, status=request.target_status)
    elif request.kind == PromotionKind.RULE:
        out.update(rule=request.rule_to_activate.name, rule_version=request.rule_version)
    else:
        if request.kind == PromotionKind.REFER_BAND:
            out.update(version=request.version_to_promote.version)
        out.update(before=request.current_values, after=request.proposed_values)
    return out


def promotion_request_check(
    *,
    model_version: Any = None,
    target_status: str = "",
    fraud_rule: Any = None,
    refer_band: tuple[float | None, float | None] | None = None,
    fraud_thresholds: tuple[float | None, float | None] | None = None,
) -> tuple[PromotionRequest, str]:
    """The one home of what a request may ask (the new-request form shows its messages).

    Returns the unsaved request and the field a duplicate pending request is reported on.
    Raises ``ValidationError`` naming the field when there is nothing to promote or a value is
    refused: proposed values are checked by the settings' own rules (``refer_band_check``,
    ``fraud_thresholds_check``; their field names), a rule by what activating it checks
    (``fraud_rule_check``), and again at approval.
    """
    from fraud.services import RULE_FIELDS, fraud_rule_check, fraud_settings_current, fraud_thresholds_check
    from scoring.services import model_version_role_check, refer_band_check

    if refer_band is not None and model_version is None:
        raise ValidationError({"model_version": "Choose the model version whose refer band changes."})
    if sum(x is not None for x in (model_version, fraud_rule, fraud_thresholds)) != 1:
        raise ValidationError(
            {"model_version": "Choose a model version, a fraud rule or the fraud thresholds (one of them)."}
        )
    if model_version is not None and refer_band is not None:
        lower, upper = refer_band
        refer_band_check(threshold=model_version.threshold, lower=lower, upper=upper)
        request = PromotionRequest(
            kind=PromotionKind.REFER_BAND,
            model_version=model_version,
            proposed_refer_lower=lower,
            proposed_refer_upper=upper,
            current_values=model_version.refer_band_values,
        )
        if request.current_values == request.proposed_values:
            raise ValidationError({"model_version": f"{model_version.version} already has this refer band."})
        return request, "model_version"
    if model_version is not None:
        if target_status not in (ModelStatus.CHAMPION, ModelStatus.CHALLENGER):
            raise ValidationError({"target_status": "A version is promoted to champion or challenger."})
        if model_version.status == target_status:
            raise ValidationError({"model_version": f"{model_version.version} is already the {target_status}."})
        try:  # what activating it will check: the champion is never made challenger
            model_version_role_check(model_version=model_version, status=target_status)
        except ValidationError as exc:
            raise ValidationError({"target_status": exc.message_dict["status"]}) from exc
        request = PromotionRequest(
            kind=PromotionKind.MODEL,
            model_version=model_version,
            target_status=target_status,
            # The band goes live with the version: an edit of a draft's band after the review
            # makes the request stale at approval (as a rule's edit does).
            current_values=model_version.refer_band_values,
            # So does a change of its role: made champion by another request, retired by the kill switch.
            version_status=model_version.status,
        )
        return request, "model_version"
    if fraud_thresholds is not None:
        review, block = fraud_thresholds
        if block is None:
            raise ValidationError({"block_threshold": "The block threshold is required."})
        fraud_thresholds_check(review_threshold=review, block_threshold=block)
        request = PromotionRequest(
            kind=PromotionKind.FRAUD_THRESHOLDS,
            proposed_review_threshold=review,
            proposed_block_threshold=block,
            current_values=fraud_settings_current(),
        )
        if request.current_values == request.proposed_values:
            raise ValidationError({"block_threshold": "These are the thresholds in force already."})
        return request, "block_threshold"
    if fraud_rule.is_active:
        raise ValidationError({"fraud_rule": f"Rule {fraud_rule.name} is already active."})
    try:  # what activating it will check (fraud_rule_save): a draft the language now refuses never goes live
        fraud_rule_check(**{name: getattr(fraud_rule, name) for name in RULE_FIELDS})
    except ValidationError as exc:
        raise ValidationError(
            {"fraud_rule": f"Rule {fraud_rule.name} cannot be activated: {' '.join(exc.messages)}"}
        ) from exc
    request = PromotionRequest(kind=PromotionKind.RULE, fraud_rule=fraud_rule, rule_version=fraud_rule.version)
    return request, "fraud_rule"


def promotion_request_create(
    *,
    user: Any,
    model_version: Any = None,
    target_status: str = "",
    fraud_rule: Any = None,
    refer_band: tuple[float | None, float | None] | None = None,
    fraud_thresholds: tuple[float | None, float | None] | None = None,
    reason: str = "",
) -> PromotionRequest:
    """Ask for a version to become champion or challenger, for a rule to be activated, for a
    version's refer band (``model_version`` and ``refer_band=(lower, upper)``, two Nones: no
    band) or for the fraud thresholds (``fraud_thresholds=(review, block)``) to change.

    The request is checked by ``promotion_request_check``. With four eyes off it is carried
    out at once (and recorded as such).
    """
    if not getattr(user, "pk", None) or not user.has_perm(APPROVE_PERMISSION):
        raise PermissionDenied("Only an admin requests a promotion.")
    request, field = promotion_request_check(
        model_version=model_version,
        target_status=target_status,
        fraud_rule=fraud_rule,
        refer_band=refer_band,
        fraud_thresholds=fraud_thresholds,
    )
    request.reason = reason[:2000]
    request.requested_by = user
    request.four_eyes = settings.PROMOTION_FOUR_EYES
    try:
        with transaction.atomic():
            request.save()
            audit_record(actor=user, action="promotion.requested", target=request, details=_details(request))
    except IntegrityError as exc:
        raise ValidationError({field: "A request for this is already pending."}) from exc
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


def _stale(what: str, requested: str, now: str) -> ValidationError:
    return ValidationError(
        {
            "current_values": f"The {what} changed after this request ({requested} when requested, {now} now): "
            f"turn this request down and request the change from the {what} in force."
        }
    )


def promotion_stale_status(request: PromotionRequest) -> str | None:
    """A version's request: its status when requested, if the version has another now (the approval
    is then refused); None otherwise. The review page says so."""
    if request.kind != PromotionKind.MODEL or not request.version_status:
        return None
    return request.version_status if request.version_to_promote.status != request.version_status else None


def _carry_out(request: PromotionRequest, user: Any, *, note: str) -> PromotionRequest:
    from fraud.models import FraudRule, FraudSettings
    from fraud.services import fraud_rule_save, fraud_settings_update
    from scoring.models import ModelVersion
    from scoring.services import model_version_activate, model_version_set_refer_band

    with transaction.atomic():
        locked = PromotionRequest.objects.select_for_update().get(pk=request.pk)
        if locked.status != PromotionStatus.PENDING:
            raise ValidationError({"status": f"This request is already {locked.status}."})
        if locked.kind in (PromotionKind.MODEL, PromotionKind.REFER_BAND):
            # What is approved is the band the request saw (a version's goes live with it): one
            # changed since (a draft's band edited directly, a change while four eyes were off)
            # makes it stale, as for a rule. A version's request made before bands were recorded
            # with it holds no values: nothing to compare.
            version = ModelVersion.objects.select_for_update().get(pk=locked.version_to_promote.pk)
            band = version.refer_band_values
            if locked.current_values and band != locked.current_values:
                raise _stale("refer band", refer_band_label(locked.current_values), refer_band_label(band))
            # What is approved is the version in the role it had when reviewed: one made champion
            # since (by another request) would be demoted, leaving no champion; one retired since (the
            # kill switch) would be put back in service. Requests made before the status was kept: none.
            if locked.kind == PromotionKind.MODEL and locked.version_status and version.status != locked.version_status:
                raise _stale("version's status", locked.version_status, version.status)
        if locked.kind == PromotionKind.MODEL:
            model_version_activate(model_version=version, status=locked.target_status, user=user, promotion=locked)
        elif locked.kind == PromotionKind.REFER_BAND:
            # The service checks the band again (refer_band_check) under its own lock.
            model_version_set_refer_band(
                model_version=version,
                lower=locked.proposed_refer_lower,
                upper=locked.proposed_refer_upper,
                user=user,
                promotion=locked,
            )
        elif locked.kind == PromotionKind.FRAUD_THRESHOLDS:
            row, _ = FraudSettings.objects.select_for_update().get_or_create(pk=1)
            if row.threshold_values != locked.current_values:
                raise _stale(
                    "fraud thresholds", thresholds_label(locked.current_values), thresholds_label(row.threshold_values)
                )
            block = locked.proposed_block_threshold
            if block is None:  # the table's constraint forbids it
                raise ValueError(f"promotion #{locked.pk} proposes no block threshold")
            # The service checks them again (fraud_thresholds_check).
            fraud_settings_update(
                user=user,
                review_threshold=locked.proposed_review_threshold,
                block_threshold=block,
                promotion=locked,
            )
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
    on matured labels, fairness; for a rule its condition and the back-test to run; for a
    setting the values in force, those the request saw, and those proposed."""
    from fraud.services import fraud_settings_current
    from governance.model_card import latest_fairness_reports
    from scoring.models import ModelVersion
    from scoring.selectors import referral_rate, shadow_agreement

    if request.kind == PromotionKind.RULE:
        rule = request.rule_to_activate
        return {"rule": rule, "rule_changed": rule.version != request.rule_version}
    if request.kind == PromotionKind.REFER_BAND:
        banded = request.version_to_promote
        return {
            "setting": "refer band",
            "version": banded,
            "current": banded.refer_band_values,
            "requested_from": request.current_values,
            "proposed": request.proposed_values,
            "referrals": referral_rate(model_version=banded),
        }
    if request.kind == PromotionKind.FRAUD_THRESHOLDS:
        return {
            "setting": "fraud thresholds",
            "current": fraud_settings_current(),
            "requested_from": request.current_values,
            "proposed": request.proposed_values,
        }
    version = request.version_to_promote
    champion = (
        ModelVersion.objects.filter(purpose=version.purpose, status=ModelStatus.CHAMPION).exclude(pk=version.pk).first()
    )
    performance = list(
        PerformanceReport.objects.filter(model_version=version).select_related("champion").order_by("-as_of")[:4]
    )
    # Every feature's latest report (and the hold-out's), as the model card shows them: the six
    # newest rows hid a feature's disparity once more than six were reported on one day.
    fairness = latest_fairness_reports(version)
    return {
        "version": version,
        "champion": champion,
        "shadow": shadow_agreement(model_version=version),
        # The refer band it would serve with, and what share of its own decisions were referred.
        "referrals": referral_rate(model_version=version),
        # Set when the band changed since the request was made: its approval is then refused.
        "band_requested": request.current_values
        if request.current_values and request.current_values != version.refer_band_values
        else None,
        # Set when the version changed role since the request was made: its approval is then refused.
        "status_requested": promotion_stale_status(request),
        "champion_referrals": referral_rate(model_version=champion) if champion else None,
        "performance": performance,
        "fairness": fairness,
    }
