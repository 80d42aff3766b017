"""Four-eyes promotion: a second admin approves; the requester never approves their own request."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from accounts.roles import Role
from audit.models import AuditEvent
from fraud.models import FraudRule
from governance.models import PromotionRequest
from governance.promotion import promotion_request_approve, promotion_request_create, promotion_request_reject
from scoring.models import ModelVersion
from tests.browser import ARTIFACTS, login
from tests.factories import UserFactory
from tests.models import TrainedModel, register_trained

pytestmark = pytest.mark.four_eyes


@pytest.fixture
def admins(db: None) -> tuple[Any, Any]:
    return UserFactory(username="first-admin", roles=[Role.ADMIN]), UserFactory(
        username="second-admin", roles=[Role.ADMIN]
    )


@pytest.fixture
def challenger(credit_model: ModelVersion, trained_credit: TrainedModel) -> ModelVersion:
    return register_trained(trained_credit, version="credit-next", threshold=0.2)


@pytest.mark.django_db
def test_the_requester_cannot_approve_their_own_request_a_second_admin_can(
    admins: tuple[Any, Any], challenger: ModelVersion
) -> None:
    first, second = admins
    request = promotion_request_create(user=first, model_version=challenger, target_status="champion", reason="better")
    assert request.status == "pending"
    challenger.refresh_from_db()
    assert challenger.status == "draft"  # nothing happens on request
    with pytest.raises(PermissionDenied, match="cannot approve their own"):
        promotion_request_approve(request=request, user=first)
    challenger.refresh_from_db()
    assert challenger.status == "draft"
    done = promotion_request_approve(request=request, user=second, note="checked")
    assert (done.status, done.decided_by) == ("approved", second)
    challenger.refresh_from_db()
    assert challenger.status == "champion" and challenger.activated_by == second
    actions = list(AuditEvent.objects.order_by("seq").values_list("action", "actor"))
    assert ("promotion.requested", f"user:{first.pk}") in actions
    assert ("promotion.approved", f"user:{second.pk}") in actions
    assert ("model.activated", f"user:{second.pk}") in actions
    with pytest.raises(ValidationError, match="already approved"):
        promotion_request_approve(request=request, user=second)


@pytest.mark.django_db
def test_a_second_pending_request_for_the_same_promotion_is_refused_and_one_can_be_withdrawn(
    admins: tuple[Any, Any], challenger: ModelVersion
) -> None:
    first, second = admins
    request = promotion_request_create(user=first, model_version=challenger, target_status="challenger")
    with pytest.raises(ValidationError, match="already pending"):
        promotion_request_create(user=second, model_version=challenger, target_status="challenger")
    assert promotion_request_reject(request=request, user=first).status == "withdrawn"
    other = promotion_request_create(user=second, model_version=challenger, target_status="challenger")
    assert promotion_request_reject(request=other, user=first, note="not yet").status == "rejected"


@pytest.mark.django_db
def test_only_admins_request_or_approve(admins: tuple[Any, Any], challenger: ModelVersion) -> None:
    analyst = UserFactory(roles=[Role.ANALYST])
    with pytest.raises(PermissionDenied):
        promotion_request_create(user=analyst, model_version=challenger, target_status="champion")
    request = promotion_request_create(user=admins[0], model_version=challenger, target_status="champion")
    with pytest.raises(PermissionDenied):
        promotion_request_approve(request=request, user=analyst)


@pytest.mark.django_db
def test_direct_activation_is_refused_while_four_eyes_are_on(
    admins: tuple[Any, Any], challenger: ModelVersion, client: Any, client_as: Any
) -> None:
    api = client_as("admin")
    response = api.post(f"/api/v1/models/{challenger.pk}/activate/", {"status": "champion"}, format="json")
    assert response.status_code == 403 and "Four eyes" in response.json()["detail"]
    client.force_login(admins[0])
    response = client.post(
        "/admin/scoring/modelversion/",
        {"action": "activate_champion", "_selected_action": [challenger.pk]},
        follow=True,
    )
    assert "Four eyes are on" in response.content.decode()
    challenger.refresh_from_db()
    assert challenger.status == "draft"


@pytest.mark.django_db
def test_only_the_platform_installs_a_first_champion_directly(
    admins: tuple[Any, Any], trained_credit: TrainedModel
) -> None:
    from scoring.services import model_version_activate

    first = register_trained(trained_credit, version="credit-first")
    second = register_trained(trained_credit, version="credit-second", threshold=0.2)
    # A fresh install: no champion, nothing in service to protect. An admin still asks.
    with pytest.raises(PermissionDenied, match="Four eyes are on"):
        model_version_activate(model_version=first, status="champion", user=admins[0])
    assert model_version_activate(model_version=first, status="champion").status == "champion"
    # From then on the platform (a command) is held to four eyes like anyone.
    for status in ("champion", "challenger"):
        with pytest.raises(PermissionDenied, match="Four eyes are on"):
            model_version_activate(model_version=second, status=status)
    second.refresh_from_db()
    first.refresh_from_db()
    assert (first.status, second.status) == ("champion", "draft")
    assert model_version_activate(model_version=first, status="champion").status == "champion"  # no change


@pytest.mark.django_db
def test_a_training_command_files_a_promotion_request_instead_of_activating(admins: tuple[Any, Any]) -> None:
    import io

    from django.core.management import call_command
    from django.core.management.base import CommandError

    call_command("train_credit_model", stdout=io.StringIO())  # the first champion of a fresh install
    with pytest.raises(CommandError, match="Four eyes are on .* stays registered as a draft: pass --requested-by"):
        call_command("train_credit_model", "--seed", "7", "--activate", stdout=io.StringIO())
    assert dict(ModelVersion.objects.values_list("metrics__seed", "status")) == {42: "champion", 7: "draft"}
    with pytest.raises(CommandError, match="names an active admin"):
        call_command("train_credit_model", "--seed", "7", "--challenger", "--requested-by", "nobody")
    # An analyst is refused too, before the training (not after it, with the version left as a draft).
    UserFactory(username="an-analyst", roles=[Role.ANALYST])
    with pytest.raises(CommandError, match="names an active admin"):
        call_command("train_credit_model", "--seed", "9", "--challenger", "--requested-by", "an-analyst")
    assert not ModelVersion.objects.filter(metrics__seed=9).exists()
    with pytest.raises(CommandError, match="goes with --activate or --challenger"):
        call_command("train_credit_model", "--seed", "7", "--requested-by", "first-admin")

    out = io.StringIO()
    call_command("train_credit_model", "--seed", "7", "--activate", "--requested-by", "first-admin", stdout=out)
    request = PromotionRequest.objects.get()
    assert f"Promotion request #{request.pk} filed by first-admin" in out.getvalue()
    assert (request.status, request.target_status, request.requested_by) == ("pending", "champion", admins[0])
    assert dict(ModelVersion.objects.values_list("metrics__seed", "status")) == {42: "champion", 7: "draft"}
    promotion_request_approve(request=request, user=admins[1])
    assert dict(ModelVersion.objects.values_list("metrics__seed", "status")) == {42: "retired", 7: "champion"}


@pytest.mark.django_db
def test_a_fraud_rule_is_activated_through_a_request(admins: tuple[Any, Any], client: Any) -> None:
    from fraud.services import fraud_rule_save

    first, second = admins
    rule = fraud_rule_save(user=None, name="night_transfer", condition="amount > 5000", is_active=False)
    with pytest.raises(PermissionDenied, match="Four eyes"):
        fraud_rule_save(user=first, rule=rule, is_active=True)
    request = promotion_request_create(user=first, fraud_rule=rule, reason="seen in the back-test")
    client.force_login(second)
    page = client.get(f"/admin/governance/promotionrequest/{request.pk}/review/").content.decode()
    assert 'id="evidence-rule"' in page and "Run the back-test" in page
    response = client.post(f"/admin/governance/promotionrequest/{request.pk}/review/", {"decision": "approve"})
    assert response.status_code == 302
    rule = FraudRule.objects.get(pk=rule.pk)
    assert rule.is_active and rule.updated_by == second


@pytest.mark.django_db
def test_a_rule_that_cannot_be_activated_is_refused_when_requested_not_when_approved(
    admins: tuple[Any, Any], client: Any
) -> None:
    """A draft stored before the language refused its condition cannot go live: the request
    says so on the rule, not the second admin's approval later."""
    legacy = FraudRule.objects.create(name="legacy", condition="(amount << 30000000) > 0", version=1)
    with pytest.raises(ValidationError) as refused:
        promotion_request_create(user=admins[0], fraud_rule=legacy, reason="old draft")
    assert "Bit shifts (<<, >>) are not allowed." in refused.value.message_dict["fraud_rule"][0]
    client.force_login(admins[0])
    response = client.post(
        "/admin/governance/promotionrequest/add/", {"kind": "rule", "fraud_rule": legacy.pk, "reason": "old draft"}
    )
    assert "Bit shifts" in " ".join(response.context["adminform"].form.errors["fraud_rule"])
    assert not PromotionRequest.objects.exists()


@pytest.mark.django_db
def test_an_approval_never_activates_a_rule_edited_after_the_request(admins: tuple[Any, Any], client: Any) -> None:
    from fraud.services import fraud_rule_save

    first, second = admins
    analyst = UserFactory(username="an-analyst", roles=[Role.ANALYST])
    rule = fraud_rule_save(
        user=None, name="big_amount", condition="amount > 1000000000", action="flag", is_active=False
    )
    request = promotion_request_create(user=first, fraud_rule=rule, reason="harmless flag")
    client.force_login(second)
    review = f"/admin/governance/promotionrequest/{request.pk}/review/"
    assert "amount &gt; 1000000000" in client.get(review).content.decode()
    # Between the review and the click, the still inactive rule is edited into something else.
    fraud_rule_save(user=analyst, rule=rule, condition="amount > 0", action="block")
    with pytest.raises(ValidationError, match="changed after this request"):
        promotion_request_approve(request=request, user=second)
    response = client.post(review, {"decision": "approve"}, follow=True)
    assert "changed after this request" in response.content.decode()  # the approver is told why
    rule = FraudRule.objects.get(pk=rule.pk)
    assert not rule.is_active and rule.condition == "amount > 0"
    assert PromotionRequest.objects.get(pk=request.pk).status == "pending"


@pytest.mark.django_db
def test_the_evidence_shows_the_refer_band_and_the_referral_rate(
    admins: tuple[Any, Any], challenger: ModelVersion, client: Any
) -> None:
    from scoring.ml.datasets import applicant_sample
    from scoring.ml.predictor import require_model_version
    from scoring.models import Decision
    from scoring.services import ScoreRequest, applications_score, model_version_set_refer_band

    first, second = admins
    model_version_set_refer_band(model_version=challenger, lower=0.1, upper=0.3)
    model = require_model_version(challenger.pk)
    assert (model.refer_lower, model.refer_upper) == (0.1, 0.3)
    rows = applicant_sample(60, seed=4, columns=None).to_dict("records")
    requests = []
    for raw in rows:
        clean, errors = model.schema.validate(
            {k: (v if isinstance(v, str) else int(v)) for k, v in raw.items() if v is not None and v == v}
        )
        assert not errors
        requests.append(ScoreRequest(features=clean))
    applications_score(model=model, requests=requests, caller="user:0")
    referred = Decision.objects.filter(model_version=challenger, decision="refer").count()
    assert 0 < referred < 60
    request = promotion_request_create(user=first, model_version=challenger, target_status="champion", reason="x")
    client.force_login(second)
    page = client.get(f"/admin/governance/promotionrequest/{request.pk}/review/").content.decode()
    assert 'id="evidence-refer"' in page
    assert "0.1 – 0.3 (bounds included)" in page
    assert f"{referred / 60:.1%} ({referred} of 60 decisions)" in page
    # The champion now: no band, no decisions of its own.
    assert "none: every decision is approve or refuse" in page and "no decisions yet" in page


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["admin", "compliance"])  # accounts/roles.py: who may view promotion requests
def test_a_request_s_own_page_shows_it_read_only_for_a_rule_and_for_a_model_version(
    admins: tuple[Any, Any], client_as: Any, role: str
) -> None:
    from fraud.services import fraud_rule_save

    rule = fraud_rule_save(user=None, name="night_transfer", condition="amount > 5000", is_active=False)
    version = ModelVersion.objects.create(purpose="credit", version="credit-draft", sha256="0" * 64, threshold=0.3)
    for_rule = promotion_request_create(user=admins[0], fraud_rule=rule, reason="seen in the back-test")
    for_model = promotion_request_create(
        user=admins[0], model_version=version, target_status="challenger", reason="shadow it first"
    )
    browser = client_as(role)
    listed = browser.get("/admin/governance/promotionrequest/")
    assert listed.status_code == 200
    for request, target in ((for_rule, "night_transfer v1"), (for_model, "credit-draft")):
        page = browser.get(f"/admin/governance/promotionrequest/{request.pk}/change/")
        assert page.status_code == 200, request.kind
        text = page.content.decode()
        assert target in text and request.reason in text and "Pending" in text
        assert f"/admin/governance/promotionrequest/{request.pk}/review/" in text
        assert 'name="fraud_rule"' not in text and 'name="model_version"' not in text  # nothing to edit
        assert request.target_label in listed.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["analyst", "viewer"])
def test_other_roles_do_not_open_a_request_s_page(admins: tuple[Any, Any], client_as: Any, role: str) -> None:
    version = ModelVersion.objects.create(purpose="credit", version="credit-draft", sha256="0" * 64, threshold=0.3)
    request = promotion_request_create(user=admins[0], model_version=version, target_status="challenger")
    assert client_as(role).get(f"/admin/governance/promotionrequest/{request.pk}/change/").status_code == 403


@pytest.mark.django_db
def test_the_new_request_form_offers_only_inactive_rules(admins: tuple[Any, Any], client_as: Any) -> None:
    from fraud.services import fraud_rule_save

    fraud_rule_save(user=None, name="night_transfer", condition="amount > 5000", is_active=False)
    fraud_rule_save(user=None, name="already_live", condition="amount > 9000", is_active=True)
    page = client_as("admin").get("/admin/governance/promotionrequest/add/")
    assert page.status_code == 200
    rules = page.context["adminform"].form.fields["fraud_rule"]
    assert [r.name for r in rules.queryset] == ["night_transfer"]
    assert rules.help_text == "Or an inactive fraud rule to activate."


@pytest.mark.django_db
def test_with_four_eyes_off_a_request_is_carried_out_at_once(
    admins: tuple[Any, Any], challenger: ModelVersion, settings: Any
) -> None:
    settings.PROMOTION_FOUR_EYES = False
    request = promotion_request_create(user=admins[0], model_version=challenger, target_status="champion")
    assert (request.status, request.four_eyes, request.decided_by) == ("approved", False, admins[0])
    challenger.refresh_from_db()
    assert challenger.status == "champion"


@pytest.mark.browser
@pytest.mark.oidc
@pytest.mark.django_db(transaction=True)
def test_the_promotion_page_in_a_browser(site: str, chromium: Any, trained_credit: TrainedModel) -> None:
    """The requester sees no approve button on their own request; a second admin sees the evidence and approves."""
    champion = register_trained(trained_credit, version="credit-old", status="champion")
    draft = register_trained(trained_credit, version="credit-new", threshold=0.2)
    page = login(chromium, site, "admin")
    page.goto(f"{site}/admin/governance/promotionrequest/add/")
    page.select_option("select[name=model_version]", str(draft.pk))
    page.select_option("select[name=target_status]", "champion")
    page.fill("textarea[name=reason]", "Lower business cost on the hold-out set.")
    page.click("[name=_save]")
    page.wait_for_selector("#promotion-summary")
    assert page.locator("#own-request").inner_text().startswith("The requester cannot approve their own request")
    assert page.locator("#approve").count() == 0
    for section in ("evidence-metrics", "evidence-shadow", "evidence-performance", "evidence-fairness"):
        assert page.locator(f"#{section}").count() == 1, section
    page.screenshot(path=str(ARTIFACTS / "promotion-own-request.png"), full_page=True)
    mine = PromotionRequest.objects.get(model_version=draft)
    assert mine.status == "pending"

    # Another admin's request for the same version as challenger: this admin approves it.
    other_admin = UserFactory(username="other-admin", roles=[Role.ADMIN])
    theirs = promotion_request_create(user=other_admin, model_version=draft, target_status="challenger")
    page.goto(f"{site}/admin/governance/promotionrequest/{theirs.pk}/review/")
    assert "credit-old (champion now)" in page.locator("#evidence-metrics").inner_text()
    page.fill("textarea[name=note]", "Metrics and fairness reviewed.")
    page.click("#approve")
    page.wait_for_selector("text=Approved: credit-new as challenger")
    assert page.locator("#promotion-status").inner_text() == "Approved"
    page.screenshot(path=str(ARTIFACTS / "promotion-approved.png"), full_page=True)
    assert dict(ModelVersion.objects.values_list("version", "status")) == {
        champion.version: "champion",
        draft.version: "challenger",
    }
    page.context.close()


@pytest.mark.django_db
def test_the_rule_form_refuses_to_activate_while_four_eyes_are_on(admins: tuple[Any, Any], client: Any) -> None:
    client.force_login(admins[0])
    form = {
        "name": "big_cash", "condition": "amount >= 9000", "reason": "", "action": "review", "weight": "0.2",
        "order": "30", "is_active": "on", "versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0",
        "versions-MIN_NUM_FORMS": "0", "versions-MAX_NUM_FORMS": "1000",
    }  # fmt: skip
    response = client.post("/admin/fraud/fraudrule/add/", form)
    assert response.status_code == 200 and "Four eyes are on" in response.content.decode()
    assert not FraudRule.objects.filter(name="big_cash").exists()
    response = client.post("/admin/fraud/fraudrule/add/", {k: v for k, v in form.items() if k != "is_active"})
    assert response.status_code == 302 and not FraudRule.objects.get(name="big_cash").is_active


@pytest.mark.django_db
def test_what_an_active_rule_does_changes_only_through_a_promotion(admins: tuple[Any, Any], client: Any) -> None:
    from fraud.services import FOUR_EYES_CHANGE_MESSAGE, fraud_rule_save

    first, second = admins
    rule = fraud_rule_save(user=None, name="night_cash", condition="amount > 5000", is_active=True)
    with pytest.raises(PermissionDenied, match="change only through a promotion"):
        fraud_rule_save(user=first, rule=rule, condition="amount > 50")
    rule.refresh_from_db()
    assert rule.condition == "amount > 5000" and rule.version == 1
    # Its name and description are not what it does; the same values are no change.
    renamed = fraud_rule_save(user=first, rule=rule, description="cash at night", condition="amount > 5000")
    assert renamed.description == "cash at night" and renamed.is_active
    # Deactivate, change, then the activation is a request a second admin approves.
    fraud_rule_save(user=first, rule=rule, is_active=False)
    changed = fraud_rule_save(user=first, rule=rule, condition="amount > 50")
    request = promotion_request_create(user=first, fraud_rule=changed, reason="lower bound after the back-test")
    promotion_request_approve(request=request, user=second)
    changed.refresh_from_db()
    assert changed.is_active and changed.condition == "amount > 50"
    # The admin's form shows the service's message.
    client.force_login(first)
    form = {
        "name": "night_cash", "condition": "amount > 7", "reason": "", "action": "flag", "weight": "0.3",
        "order": str(changed.order), "is_active": "on", "versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0",
        "versions-MIN_NUM_FORMS": "0", "versions-MAX_NUM_FORMS": "1000",
    }  # fmt: skip
    response = client.post(f"/admin/fraud/fraudrule/{changed.pk}/change/", form)
    assert response.status_code == 200 and FOUR_EYES_CHANGE_MESSAGE.split(":")[0] in response.content.decode()
    changed.refresh_from_db()
    assert changed.condition == "amount > 50"


@pytest.mark.django_db
def test_the_review_page_shows_every_features_latest_fairness_report(
    admins: tuple[Any, Any], challenger: ModelVersion
) -> None:
    """Found by review: the page took the six newest reports, so with eight on the latest day
    two features' reports, one of them a disparity, were not shown to the approver."""
    from datetime import date

    from governance.promotion import promotion_evidence
    from tests.factories import FairnessReportFactory

    features = ["age", "sex", "marital_status", "foreign_worker", "housing", "job", "telephone", "purpose"]
    for day in (date(2026, 10, 31), date(2026, 11, 30)):
        for feature in features:
            FairnessReportFactory(model_version=challenger, as_of=day, feature=feature, flagged=feature == "telephone")
    request = promotion_request_create(user=admins[0], model_version=challenger, target_status="champion")
    shown = promotion_evidence(request)["fairness"]
    assert sorted(r.feature for r in shown) == sorted(features)
    assert {r.as_of for r in shown} == {date(2026, 11, 30)}
    assert [r.feature for r in shown if r.flagged] == ["telephone"]


@pytest.mark.django_db
def test_an_approval_never_carries_out_a_request_whose_version_changed_role_since(
    admins: tuple[Any, Any], credit_model: ModelVersion, challenger: ModelVersion, client: Any
) -> None:
    """The review was of "this draft as challenger": once it became the champion through another
    request, approving the stale one would demote it and leave no champion (/score answers 503)."""
    first, second = admins
    as_challenger = promotion_request_create(user=first, model_version=challenger, target_status="challenger")
    as_champion = promotion_request_create(user=first, model_version=challenger, target_status="champion")
    promotion_request_approve(request=as_champion, user=second)
    with pytest.raises(ValidationError, match="changed after this request"):
        promotion_request_approve(request=as_challenger, user=second)
    challenger.refresh_from_db()
    assert challenger.status == "champion"
    assert ModelVersion.objects.filter(purpose="credit", status="champion").count() == 1
    as_challenger.refresh_from_db()
    assert as_challenger.status == "pending"  # to be turned down
    client.force_login(second)
    page = client.get(f"/admin/governance/promotionrequest/{as_challenger.pk}/review/").content.decode()
    assert "status changed after the request (draft when requested, champion now)" in page
    assert promotion_request_reject(request=as_challenger, user=second).status == "rejected"


@pytest.mark.django_db
def test_a_version_retired_by_the_kill_switch_is_not_put_back_by_an_older_request(
    admins: tuple[Any, Any], credit_model: ModelVersion, challenger: ModelVersion
) -> None:
    from scoring.services import model_version_retire

    first, second = admins
    request = promotion_request_create(user=first, model_version=challenger, target_status="challenger")
    model_version_retire(model_version=challenger, user=first)  # gone wrong: one admin stops it at once
    with pytest.raises(ValidationError, match=r"draft when requested, retired now"):
        promotion_request_approve(request=request, user=second)
    challenger.refresh_from_db()
    assert challenger.status == "retired"


@pytest.mark.django_db
def test_a_request_to_make_the_champion_challenger_is_refused_when_made(
    admins: tuple[Any, Any], credit_model: ModelVersion
) -> None:
    """Approved, it would leave the purpose without a champion: refused up front, naming the field."""
    with pytest.raises(ValidationError) as refused:
        promotion_request_create(user=admins[0], model_version=credit_model, target_status="challenger")
    assert "without a champion" in refused.value.message_dict["target_status"][0]
    credit_model.refresh_from_db()
    assert credit_model.status == "champion"
