"""A contest arriving while a proposal waits for its second approval sends the proposal back to its underwriter:
no one approves a decision taken without what the applicant said (in turn, and racing on PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from audit.models import AuditEvent
from scoring.models import Decision, ModelVersion, ReviewCase
from scoring.review import services
from scoring.review.services import contest_record, review_case_approve, review_case_close, review_case_open_override
from tests.factories import UserFactory, make_decision
from tests.races import hold_after, in_thread, wait_for_a_lock_wait
from tests.services import require_postgresql


def proposed_approval(model: ModelVersion) -> tuple[ReviewCase, Any, Any]:
    """An automatic refusal Alice asked to override and proposes to approve (four eyes: it waits for Bob)."""
    alice = UserFactory(username="alice", roles=["analyst"])
    bob = UserFactory(username="bob", roles=["analyst"])
    decision = make_decision(
        model, probability_default=0.5, prediction=1, decision="refuse", risk_level="HIGH", threshold_used=0.1
    )
    case = review_case_open_override(decision=decision, user=alice, note="New payslips.")
    review_case_close(
        case=case, user=alice, final_decision="approve", justification="Payslips check out.", contests_seen=0
    )
    case.refresh_from_db()
    assert case.status == "awaiting_approval"
    return case, alice, bob


@pytest.mark.django_db
def test_a_contest_sends_a_proposal_awaiting_approval_back_to_its_underwriter(credit_model: ModelVersion) -> None:
    case, alice, bob = proposed_approval(credit_model)
    contest_record(decision=case.decision, statement="I also sold my car.", caller="apikey:abcd1234")
    case.refresh_from_db()
    assert (case.status, case.assignee, case.proposed_decision, case.proposed_by) == ("assigned", alice, "", None)
    event = AuditEvent.objects.filter(action="review.sent_back").get()
    assert event.details["reason"] == "contested" and event.details["proposed"] == "approve"
    with pytest.raises(ValidationError) as exc:
        review_case_approve(case=case, user=bob)
    assert "approved_by" in exc.value.message_dict
    assert Decision.objects.get(pk=case.decision_id).final_decision is None
    # Alice reads the contest and decides again.
    review_case_close(case=case, user=alice, final_decision="approve", justification="Seen it.", contests_seen=1)
    review_case_approve(case=case, user=bob)
    assert Decision.objects.get(pk=case.decision_id).final_decision == "approve"


@pytest.mark.django_db(transaction=True)
def test_an_approval_racing_a_contest_waits_for_it_and_approves_nothing(
    credit_model: ModelVersion, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_postgresql()
    case, _alice, bob = proposed_approval(credit_model)
    reached, go = hold_after(monkeypatch, services, "_erased_check")  # the contest, once it holds the decision
    results: dict[str, Any] = {}
    contest = in_thread(
        results, "contest", lambda: contest_record(decision=case.decision, statement="More.", caller="apikey:abc")
    )
    assert reached.wait(timeout=60)
    approve = in_thread(results, "approve", lambda: review_case_approve(case=case, user=bob))
    wait_for_a_lock_wait()
    go.set()
    contest.join(timeout=60)
    approve.join(timeout=60)
    assert not isinstance(results["contest"], BaseException), results["contest"]
    assert isinstance(results["approve"], ValidationError), results["approve"]
    case.refresh_from_db()
    assert (case.status, case.approved_by) == ("assigned", None)
    assert Decision.objects.get(pk=case.decision_id).final_decision is None
