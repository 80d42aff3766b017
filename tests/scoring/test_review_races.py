"""The review loop on two connections (two underwriters, or an underwriter and the lender's system), on PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from scoring.models import Contest, Decision, ModelVersion
from scoring.review import services
from scoring.review.services import contest_record, review_case_close, review_case_open_override
from tests.factories import UserFactory, make_decision
from tests.races import hold_after, in_thread, wait_for_a_lock_wait
from tests.services import require_postgresql

pytestmark = pytest.mark.django_db(transaction=True)


def refused(model: ModelVersion) -> Decision:
    return make_decision(
        model, probability_default=0.5, prediction=1, decision="refuse", risk_level="HIGH", threshold_used=0.1
    )


def test_a_contest_arriving_while_the_underwriter_closes_the_case_neither_deadlocks_nor_is_lost(
    credit_model: ModelVersion, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The contest holds the decision when the underwriter closes the case: the close waits for it (it
    locks the decision before the case), where both used to wait on each other (a deadlock: the
    underwriter's page a 500)."""
    require_postgresql()
    decision = refused(credit_model)
    alice = UserFactory(username="alice", roles=["analyst"])
    case = review_case_open_override(decision=decision, user=alice, note="Income proof arrived.")
    reached, go = hold_after(monkeypatch, services, "_erased_check")  # the contest, once it holds the decision
    results: dict[str, Any] = {}
    contest = in_thread(
        results, "contest", lambda: contest_record(decision=decision, statement="I repaid it.", caller="apikey:abc")
    )
    assert reached.wait(timeout=60)
    close = in_thread(
        results,
        "close",
        lambda: review_case_close(
            case=case, user=alice, final_decision="refuse", justification="Still refused.", refusal_reasons=["U08"]
        ),
    )
    wait_for_a_lock_wait()
    go.set()
    contest.join(timeout=60)
    close.join(timeout=60)
    assert not isinstance(results["contest"], BaseException), results["contest"]
    assert not isinstance(results["close"], BaseException), results["close"]
    recorded = Contest.objects.get()
    decision.refresh_from_db()
    assert (decision.final_decision, recorded.review_case_id) == ("refuse", case.pk)


def _held_after_the_lock(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event]:
    """The first write of the loop to lock its case waits there (holding the lock) until ``go``."""
    return hold_after(monkeypatch, services, "review_case_writable_check")


@pytest.mark.parametrize("second", ["approve", "send_back"])
def test_two_second_approvers_at_once_make_one_final_decision(
    credit_model: ModelVersion, monkeypatch: pytest.MonkeyPatch, second: str
) -> None:
    """Bob approves while Carol approves (or sends back) the same proposal: the second waits for the first,
    finds the case closed and is refused; one final decision, one ``review.closed``."""
    require_postgresql()
    from audit.models import AuditEvent
    from scoring.review.services import review_case_approve, review_case_send_back

    decision = refused(credit_model)
    alice, bob, carol = (UserFactory(username=n, roles=["analyst"]) for n in ("alice", "bob", "carol"))
    case = review_case_open_override(decision=decision, user=alice, note="New payslips.")
    review_case_close(case=case, user=alice, final_decision="approve", justification="Checked.")
    reached, go = _held_after_the_lock(monkeypatch)
    results: dict[str, Any] = {}
    first = in_thread(results, "bob", lambda: review_case_approve(case=case, user=bob))
    assert reached.wait(timeout=60)
    call = review_case_approve if second == "approve" else review_case_send_back
    other = in_thread(results, "carol", lambda: call(case=case, user=carol))
    wait_for_a_lock_wait()
    go.set()
    first.join(timeout=60)
    other.join(timeout=60)
    assert not isinstance(results["bob"], BaseException), results["bob"]
    assert isinstance(results["carol"], ValidationError | PermissionDenied), results["carol"]
    decision.refresh_from_db()
    assert (decision.final_decision, decision.decided_by_id) == ("approve", alice.pk)
    assert AuditEvent.objects.filter(action="review.closed").count() == 1
    assert not AuditEvent.objects.filter(action="review.sent_back").exists()


def test_an_admin_and_the_assignee_deciding_at_once_make_one_final_decision(
    credit_model: ModelVersion, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_postgresql()
    from audit.models import AuditEvent
    from scoring.models import ReviewCase
    from scoring.review.services import review_case_take

    decision = make_decision(credit_model, decision="refer", probability_default=0.05, caller="apikey:abcd1234")
    case = ReviewCase.objects.create(decision=decision)
    alice = UserFactory(username="alice", roles=["analyst"])
    boss = UserFactory(username="boss", roles=["admin"])
    review_case_take(case=case, user=alice)
    reached, go = _held_after_the_lock(monkeypatch)
    results: dict[str, Any] = {}
    first = in_thread(
        results,
        "alice",
        lambda: review_case_close(case=case, user=alice, final_decision="approve", justification="Ok."),
    )
    assert reached.wait(timeout=60)
    other = in_thread(
        results,
        "boss",
        lambda: review_case_close(
            case=case, user=boss, final_decision="refuse", justification="No.", refusal_reasons=["U02"]
        ),
    )
    wait_for_a_lock_wait()
    go.set()
    first.join(timeout=60)
    other.join(timeout=60)
    assert not isinstance(results["alice"], BaseException), results["alice"]
    assert isinstance(results["boss"], ValidationError), results["boss"]
    decision.refresh_from_db()
    assert (decision.final_decision, decision.decided_by_id) == ("approve", alice.pk)
    assert AuditEvent.objects.filter(action="review.closed").count() == 1
