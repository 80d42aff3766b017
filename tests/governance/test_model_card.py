"""The model card of a registry version, from its page, as HTML or Markdown."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from accounts.roles import Role
from governance.promotion import promotion_request_approve, promotion_request_create
from scoring.models import ModelVersion
from scoring.services import model_version_set_refer_band
from tests.factories import UserFactory
from tests.models import TrainedModel, register_trained

pytestmark = [pytest.mark.django_db, pytest.mark.four_eyes]


def test_the_card_has_every_section_and_who_approved_it(
    credit_model: ModelVersion, trained_credit: TrainedModel, client: Any
) -> None:
    first, second = (UserFactory(username=n, roles=[Role.ADMIN]) for n in ("card-requester", "card-approver"))
    draft = register_trained(trained_credit, version="credit-card", threshold=0.2)
    model_version_set_refer_band(model_version=draft, lower=0.1, upper=0.3)
    request = promotion_request_create(user=first, model_version=draft, target_status="challenger", reason="try it")
    promotion_request_approve(request=request, user=second)
    call_command("fairness_report", "--holdout", draft.version, stdout=StringIO())
    client.force_login(UserFactory(roles=[Role.VIEWER]))
    page = client.get(f"/admin/scoring/modelversion/{draft.pk}/change/").content.decode()
    assert f'href="/admin/governance/model-card/{draft.pk}/"' in page
    html = client.get(f"/admin/governance/model-card/{draft.pk}/").content.decode()
    for title in ("Identity", "Data set", "Features", "Training parameters", "Hold-out metrics",
                  "Threshold, cost and decision bands", "Fairness", "Performance on matured labels", "Known limits",
                  "Approvals"):  # fmt: skip
        assert f">{title}</h2>" in html, title
    response = client.get(f"/admin/governance/model-card/{draft.pk}/?format=md")
    assert response["Content-Type"].startswith("text/markdown")
    card = response.content.decode()
    assert card.startswith("# Model card: credit credit-card")
    assert f"| Model file SHA-256 | {draft.sha256} |" in card
    age = next(line for line in card.splitlines() if line.startswith("| age |"))
    assert "| integer |" in age and age.endswith("| yes | sensitive |")
    assert "| Refer band (referred to an underwriter) | 0.1 – 0.3 (bounds included) |" in card
    assert "| Referral rate of its decisions | no decisions yet |" in card
    assert "DISPARITY: Group <25" in card  # the default model's hold-out figures are flagged
    assert f"| #{request.pk} | challenger | card-requester | card-approver | approved | yes |" in card
    client.force_login(UserFactory(roles=[Role.COMPLIANCE]))
    assert client.get(f"/admin/governance/model-card/{draft.pk}/").status_code == 403


def test_the_card_shows_the_latest_fairness_reports_not_an_older_months_finding(credit_model: ModelVersion) -> None:
    """Found by review: the card took the four newest fairness reports, so with two features it
    showed last month's beside this month's, and last month's disparity, since gone, as a finding
    of the version ("DISPARITY: ..." without its date)."""
    from datetime import date

    from governance.model_card import model_card_markdown
    from governance.models import FairnessReport
    from tests.factories import FairnessReportFactory

    finding = "Group <25: approval rate 40.0% is 50% of the most-approved group's (below 80%)."
    for day, flagged in ((date(2026, 10, 31), True), (date(2026, 11, 30), False)):
        for feature in ("age", "marital_status"):
            disparity = flagged and feature == "age"
            FairnessReportFactory(
                model_version=credit_model,
                as_of=day,
                feature=feature,
                flagged=disparity,
                findings=[finding] if disparity else [],
            )
    card = model_card_markdown(credit_model)
    fairness = card.split("## Fairness")[1].split("## ")[0]
    assert "DISPARITY" not in fairness and "No disparity above the configured limits." in fairness
    assert "2026-11-30" in fairness and "2026-10-31" not in fairness
    # The latest day's finding is shown, with the report it comes from.
    FairnessReport.objects.filter(as_of=date(2026, 11, 30), feature="age").update(flagged=True, findings=[finding])
    fairness = model_card_markdown(credit_model).split("## Fairness")[1].split("## ")[0]
    assert f"DISPARITY: {finding} (age, matured decisions (with outcomes), 2026-11-30)" in fairness
