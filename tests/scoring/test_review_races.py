"""The review loop on two connections (two underwriters, or an underwriter and the lender's system), on PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from scoring.models import Contest, Decision, ModelVersion
from scoring.review import services
from scoring.review.services import contest_record, review_case_close, review_case_open_override
from tests.factories import UserFactory, make_decision
from tests.races import in_thread, wait_for_a_lock_wait
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
    reached, go = threading.Event(), threading.Event()
    real = services._erased_check

    def holding(locked: Decision) -> None:  # the contest, once it holds the decision
        real(locked)
        reached.set()
        assert go.wait(timeout=60)

    monkeypatch.setattr(services, "_erased_check", holding)
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
