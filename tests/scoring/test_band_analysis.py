"""The refer band's cost on a hold-out set (scoring.ml.band) and the command that sets the default band."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from scoring.ml.band import band_cost, best_band
from scoring.models import ModelVersion

Y = np.array([0, 0, 1, 0, 1, 0, 0, 1])
P = np.array([0.01, 0.05, 0.08, 0.11, 0.15, 0.30, 0.12, 0.90])


def test_the_cost_counts_errors_outside_the_band_and_the_review_cost_inside() -> None:
    none = band_cost(Y, P, 0.1, 2.0, 2.0)  # no band: approve below 0.1, refuse at or above
    assert (none.refused, none.referred, none.approved) == (5, 0, 3)
    assert (none.false_negatives, none.false_positives, none.cost) == (1, 3, 13.0)
    band = band_cost(Y, P, 0.1, 0.07, 0.2, cost_refer=0.2)  # 0.08, 0.11, 0.15, 0.12 referred
    assert (band.refused, band.referred, band.approved) == (2, 4, 2)
    assert (band.false_negatives, band.false_positives) == (0, 1)
    assert band.cost == pytest.approx(1 + 4 * 0.2)


def test_the_best_band_respects_the_referral_cap() -> None:
    free = best_band(Y, P, 0.1, cost_refer=0.2)
    capped = best_band(Y, P, 0.1, max_referral_rate=0.25, cost_refer=0.2)
    assert capped.referral_rate <= 0.25 < free.referral_rate
    assert free.cost < capped.cost < band_cost(Y, P, 0.1, 2.0, 2.0).cost


@pytest.mark.django_db
def test_the_command_reports_the_default_model_and_applies_its_band_to_it_only(credit_model: ModelVersion) -> None:
    out = io.StringIO()
    call_command("refer_band_analysis", "--apply", stdout=out)
    text = out.getvalue()
    assert "| no band – | 717 | 0 (0.0%) | 397 | 17 | 420 | 590 | 0.530 |" in text
    credit_model.refresh_from_db()
    assert (credit_model.refer_lower, credit_model.refer_upper) == (0.099, 0.179)
    assert f"default band (referrals <= 15%): {credit_model.refer_lower}-{credit_model.refer_upper}" in text
    with pytest.raises(CommandError):
        call_command("refer_band_analysis", "--apply", "--seed", "7", stdout=io.StringIO())


@pytest.mark.four_eyes
@pytest.mark.django_db
def test_while_four_eyes_are_on_apply_sets_nothing_and_files_a_request_by_a_named_admin(
    credit_model: ModelVersion,
) -> None:
    from accounts.roles import Role
    from governance.models import PromotionRequest
    from tests.factories import UserFactory

    with pytest.raises(CommandError, match="Four eyes are on .* pass --requested-by ADMIN"):
        call_command("refer_band_analysis", "--apply", stdout=io.StringIO())
    credit_model.refresh_from_db()
    assert (credit_model.refer_lower, credit_model.refer_upper) == (None, None)
    UserFactory(username="band-admin", roles=[Role.ADMIN])
    out = io.StringIO()
    call_command("refer_band_analysis", "--apply", "--requested-by", "band-admin", stdout=out)
    request = PromotionRequest.objects.get()
    assert (request.kind, request.status, request.requested_by.username) == ("refer_band", "pending", "band-admin")
    assert (request.proposed_refer_lower, request.proposed_refer_upper) == (0.099, 0.179)
    assert f"Promotion request #{request.pk} filed by band-admin" in out.getvalue()
    credit_model.refresh_from_db()
    assert credit_model.refer_lower is None  # a second admin approves it first
