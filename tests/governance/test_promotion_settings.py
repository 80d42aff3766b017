"""Four eyes on the settings that change live decisions: a version's refer band and the fraud
score thresholds are requested by one admin and applied when a second one approves."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from accounts.roles import Role
from audit.models import AuditEvent
from fraud.models import FraudSettings
from fraud.services import BLOCK_AT_MOST_ONE, REVIEW_NOT_BELOW_BLOCK, THRESHOLDS_FOUR_EYES_MESSAGE
from governance.models import PromotionRequest
from governance.promotion import promotion_request_approve, promotion_request_create
from scoring.models import ModelVersion
from scoring.services import REFER_BAND_FOUR_EYES_MESSAGE, model_version_set_refer_band
from tests.factories import UserFactory

pytestmark = [pytest.mark.four_eyes, pytest.mark.django_db]


@pytest.fixture
def admins(db: None) -> tuple[Any, Any]:
    return UserFactory(username="first-admin", roles=[Role.ADMIN]), UserFactory(
        username="second-admin", roles=[Role.ADMIN]
    )


@pytest.fixture
def champion(db: None) -> ModelVersion:
    """A version serving as champion, threshold 0.3, without a band (no model file is needed
    to change a band)."""
    return ModelVersion.objects.create(
        purpose="credit", version="credit-live", sha256="0" * 64, threshold=0.3, status="champion"
    )


def band_form(version: ModelVersion, lower: str, upper: str) -> dict[str, str]:
    return {"refer_lower": lower, "refer_upper": upper, "notes": version.notes}


def test_the_champion_s_band_form_refuses_and_points_to_a_promotion_request(
    admins: tuple[Any, Any], champion: ModelVersion, client: Any
) -> None:
    client.force_login(admins[0])
    url = f"/admin/scoring/modelversion/{champion.pk}/change/"
    assert REFER_BAND_FOUR_EYES_MESSAGE in client.get(url).content.decode()  # said before trying
    response = client.post(url, band_form(champion, "0.2", "0.4"))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["refer_lower"] == [REFER_BAND_FOUR_EYES_MESSAGE]
    champion.refresh_from_db()
    assert (champion.refer_lower, champion.refer_upper) == (None, None)
    # The service refuses whoever calls it, the platform (a command) included.
    with pytest.raises(PermissionDenied, match="Four eyes are on"):
        model_version_set_refer_band(model_version=champion, lower=0.2, upper=0.4, user=admins[0])
    with pytest.raises(PermissionDenied, match="Four eyes are on"):
        model_version_set_refer_band(model_version=champion, lower=0.2, upper=0.4)
    # Its notes are no live decision: they still save alone.
    response = client.post(url, {**band_form(champion, "", ""), "notes": "reviewed"})
    assert response.status_code == 302
    champion.refresh_from_db()
    assert champion.notes == "reviewed" and champion.refer_lower is None


def test_a_band_is_applied_when_a_second_admin_approves_the_request(
    admins: tuple[Any, Any], champion: ModelVersion, client: Any
) -> None:
    first, second = admins
    request = promotion_request_create(user=first, model_version=champion, refer_band=(0.2, 0.4), reason="cost")
    assert request.status == "pending"
    champion.refresh_from_db()
    assert champion.refer_lower is None  # nothing changes on request
    with pytest.raises(PermissionDenied, match="cannot approve their own"):
        promotion_request_approve(request=request, user=first)
    client.force_login(second)
    review = f"/admin/governance/promotionrequest/{request.pk}/review/"
    page = client.get(review).content.decode()
    assert 'id="evidence-setting"' in page and "refer band of credit-live: 0.2 – 0.4" in page
    assert "no band" in page and "0.2 – 0.4" in page  # when requested, proposed
    response = client.post(review, {"decision": "approve"}, follow=True)
    assert "Approved: refer band of credit-live: 0.2 – 0.4" in response.content.decode()
    champion.refresh_from_db()
    assert (champion.refer_lower, champion.refer_upper) == (0.2, 0.4)
    changed = AuditEvent.objects.get(action="model.refer_band_changed")
    assert changed.actor == f"user:{second.pk}" and changed.details["promotion"] == request.pk
    assert AuditEvent.objects.filter(action="promotion.approved", actor=f"user:{second.pk}").exists()


def test_a_band_request_is_checked_by_the_band_s_rule_when_made(
    admins: tuple[Any, Any], champion: ModelVersion, client: Any
) -> None:
    with pytest.raises(ValidationError, match=r"at or below the threshold \(0.3\)"):
        promotion_request_create(user=admins[0], model_version=champion, refer_band=(0.35, 0.4))
    with pytest.raises(ValidationError, match="Set both bounds"):
        promotion_request_create(user=admins[0], model_version=champion, refer_band=(0.2, None))
    # The admin's new-request form shows the same message.
    client.force_login(admins[0])
    form = {"kind": "refer_band", "model_version": champion.pk, "proposed_refer_lower": "0.35",
            "proposed_refer_upper": "0.4", "reason": "x"}  # fmt: skip
    response = client.post("/admin/governance/promotionrequest/add/", form, follow=True)
    assert "at or below the threshold (0.3)" in response.content.decode()
    assert not PromotionRequest.objects.exists()
    response = client.post("/admin/governance/promotionrequest/add/", {**form, "proposed_refer_lower": "0.25"})
    made = PromotionRequest.objects.get()
    assert response.url == f"/admin/governance/promotionrequest/{made.pk}/review/"
    assert (made.kind, made.proposed_refer_lower, made.proposed_refer_upper, made.status) == (
        "refer_band", 0.25, 0.4, "pending",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("asked", "on_the_page"),
    [
        ({"refer_band": (0.2, 0.4)}, "The refer band changed after the request: approving it is refused"),
        # The band goes live with the version: the one the approver reviewed, or none.
        (
            {"target_status": "champion"},
            "The refer band changed after the request (no band when requested): approving it is refused",
        ),
    ],
    ids=["band-request", "version-promotion"],
)
def test_an_approval_never_applies_a_band_that_changed_after_the_request(
    admins: tuple[Any, Any], client: Any, asked: dict[str, Any], on_the_page: str
) -> None:
    first, second = admins
    draft = ModelVersion.objects.create(purpose="credit", version="credit-draft", sha256="1" * 64, threshold=0.3)
    request = promotion_request_create(user=first, model_version=draft, **asked)
    # A draft's band is set directly (it decides nothing); the request was made from "no band".
    model_version_set_refer_band(model_version=draft, lower=0.1, upper=0.5, user=first)
    with pytest.raises(ValidationError, match=r"changed after this request \(no band when requested, 0.1 – 0.5 now"):
        promotion_request_approve(request=request, user=second)
    client.force_login(second)
    assert on_the_page in client.get(f"/admin/governance/promotionrequest/{request.pk}/review/").content.decode()
    draft.refresh_from_db()
    assert (draft.refer_lower, draft.refer_upper, draft.status) == (0.1, 0.5, "draft")
    assert PromotionRequest.objects.get(pk=request.pk).status == "pending"


def test_the_thresholds_form_refuses_and_a_second_admin_approves_the_request(
    admins: tuple[Any, Any], client: Any
) -> None:
    first, second = admins
    row, _ = FraudSettings.objects.get_or_create(pk=1)
    before = (row.review_threshold, row.block_threshold)
    client.force_login(first)
    response = client.post(
        "/admin/fraud/fraudsettings/1/change/", {"review_threshold": "0.4", "block_threshold": "0.9"}
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == [THRESHOLDS_FOUR_EYES_MESSAGE]
    row.refresh_from_db()
    assert (row.review_threshold, row.block_threshold) == before
    with pytest.raises(ValidationError, match=REVIEW_NOT_BELOW_BLOCK):
        promotion_request_create(user=first, fraud_thresholds=(0.95, 0.9))
    # The new-request form shows the thresholds' own messages on its fields.
    add = "/admin/governance/promotionrequest/add/"
    refused = client.post(add, {"kind": "fraud_thresholds", "proposed_review_threshold": "0.95",
                                "proposed_block_threshold": "0.9", "reason": "x"})  # fmt: skip
    errors = refused.context["adminform"].form.errors
    assert errors["proposed_review_threshold"] == [REVIEW_NOT_BELOW_BLOCK]
    refused = client.post(add, {"kind": "fraud_thresholds", "proposed_block_threshold": "", "reason": "x"})
    assert refused.context["adminform"].form.errors["proposed_block_threshold"] == ["The block threshold is required."]
    assert not PromotionRequest.objects.exists()
    request = promotion_request_create(user=first, fraud_thresholds=(0.4, 0.9), reason="fewer blocks")
    page = client.get(f"/admin/governance/promotionrequest/{request.pk}/change/").content.decode()
    assert "review from 0.4, block from 0.9" in page and 'id="proposed-change"' in page
    with pytest.raises(PermissionDenied, match="cannot approve their own"):
        promotion_request_approve(request=request, user=first)
    promotion_request_approve(request=request, user=second, note="checked the back-test")
    row.refresh_from_db()
    assert (row.review_threshold, row.block_threshold, row.updated_by) == (0.4, 0.9, second)
    changed = AuditEvent.objects.get(action="fraud.thresholds.changed")
    assert changed.actor == f"user:{second.pk}" and changed.details["after"] == {
        "review_threshold": 0.4,
        "block_threshold": 0.9,
    }


def test_with_four_eyes_off_a_setting_s_request_is_applied_at_once(
    admins: tuple[Any, Any], champion: ModelVersion, settings: Any
) -> None:
    settings.PROMOTION_FOUR_EYES = False
    request = promotion_request_create(user=admins[0], model_version=champion, refer_band=(0.2, 0.4))
    assert (request.status, request.four_eyes, request.decided_by) == ("approved", False, admins[0])
    champion.refresh_from_db()
    assert (champion.refer_lower, champion.refer_upper) == (0.2, 0.4)
    request = promotion_request_create(user=admins[0], fraud_thresholds=(None, 0.7))
    assert request.status == "approved"
    assert FraudSettings.objects.get().block_threshold == 0.7


def test_a_block_threshold_above_one_is_refused_when_requested_not_when_approved(
    admins: tuple[Any, Any], client: Any
) -> None:
    """A score never passes 1: the thresholds' own rule says so, so a request for 1.5 is refused
    on its field when it is made, not left pending until its approval fails."""
    first, second = admins
    with pytest.raises(ValidationError) as refused:
        promotion_request_create(user=first, fraud_thresholds=(0.5, 1.5))
    assert refused.value.message_dict == {"block_threshold": [BLOCK_AT_MOST_ONE]}
    client.force_login(first)
    response = client.post(
        "/admin/governance/promotionrequest/add/",
        {"kind": "fraud_thresholds", "proposed_review_threshold": "0.5", "proposed_block_threshold": "1.5",
         "reason": "x"},
    )  # fmt: skip
    assert response.context["adminform"].form.errors["proposed_block_threshold"] == [BLOCK_AT_MOST_ONE]
    assert not PromotionRequest.objects.exists()
    assert FraudSettings.objects.get_or_create(pk=1)[0].block_threshold == 0.8
