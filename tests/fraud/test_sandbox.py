"""Conditions are checked and back-tested in a child process with a CPU limit (fraud.sandbox)."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraud import sandbox
from fraud.conditions import RuleError
from fraud.sandbox import ChildProcess, SandboxError, SandboxTimeout, backtest_condition, check_condition
from tests.fraud import sandbox_tasks
from tests.fraud.contexts import context
from tests.fraud.strategies import HOSTILE, hostile_conditions


@pytest.fixture(autouse=True)
def _fresh_verdicts() -> Iterator[None]:
    sandbox.forget_verdicts()
    yield
    sandbox.forget_verdicts()


def test_a_child_answers_over_its_pipe() -> None:
    with ChildProcess(sandbox_tasks.answer, 42, cpu_seconds=2, too_long=sandbox.TOO_LONG) as child:
        assert child.receive(60) == 42


def test_a_child_past_its_cpu_limit_is_killed_by_the_kernel_and_reported_as_too_long() -> None:
    with ChildProcess(sandbox_tasks.spin, cpu_seconds=1, too_long=sandbox.TOO_LONG) as child:
        with pytest.raises(SandboxTimeout, match="took too long to check \\(the limit is 1 s of CPU\\)"):
            child.receive(120)  # a generous deadline: the CPU limit is what stops it
        assert child.process.exitcode == -signal.SIGXCPU


def test_a_child_past_its_deadline_is_killed_even_when_it_uses_no_cpu() -> None:
    with ChildProcess(sandbox_tasks.sleep, cpu_seconds=2, too_long=sandbox.TOO_LONG) as child:
        with pytest.raises(SandboxTimeout, match="the limit is 0.5 s"):
            child.receive(0.5)
        assert not child.process.is_alive()


def test_a_child_that_maps_too_much_memory_is_refused_not_the_web_process() -> None:
    child = ChildProcess(sandbox_tasks.allocate, cpu_seconds=5, too_long=sandbox.TOO_LONG)
    with child, pytest.raises(RuleError, match="needs too much memory"):
        child.receive(60)


def test_a_child_that_dies_is_reported_as_a_failed_check() -> None:
    child = ChildProcess(sandbox_tasks.crash, cpu_seconds=2, too_long=sandbox.TOO_LONG)
    with child, pytest.raises(SandboxError, match="could not be checked"):
        child.receive(60)


def test_a_condition_is_checked_in_the_child_and_its_fields_come_back() -> None:
    assert check_condition('amount >= 1000 and type == "virement"') == ("amount", "type")
    with pytest.raises(RuleError, match="Bit shifts"):
        check_condition("(amount << 30000000) > 0")


@pytest.mark.parametrize("condition", HOSTILE)
def test_each_hostile_condition_is_refused_or_finishes_in_the_child_never_killed(condition: str) -> None:
    # Before the fix, the folded ones hung the child at parse time and the others at evaluation.
    try:
        check_condition(condition)
    except SandboxError:
        pytest.fail(f"the child had to be killed (or failed) on {condition[:60]!r}")
    except RuleError:
        pass


def test_a_condition_whose_check_outlives_the_deadline_is_refused_as_too_long(runaway_check: None) -> None:
    with pytest.raises(SandboxTimeout, match="This condition took too long to check \\(the limit is 0.5 s\\)"):
        check_condition("amount > 12345")


def test_a_verdict_is_kept_but_never_a_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    real_task = sandbox._check_task
    monkeypatch.setattr(sandbox, "_check_task", sandbox_tasks.sleep)
    monkeypatch.setattr(sandbox, "CHECK_WALL_SECONDS", 0.5)
    with pytest.raises(SandboxTimeout):
        check_condition("amount > 23456")
    monkeypatch.setattr(sandbox, "_check_task", real_task)
    monkeypatch.setattr(sandbox, "CHECK_WALL_SECONDS", 60.0)
    assert check_condition("amount > 23456") == ("amount",)
    monkeypatch.setattr(sandbox, "_check_task", sandbox_tasks.sleep)
    assert check_condition("amount > 23456") == ("amount",)  # kept: no second child


def test_a_backtest_in_the_child_counts_hits_failures_labels_and_old_snapshots() -> None:
    rows = [
        (context(amount=5000.0, count_10m=2), True),  # hit, fraud
        (context(amount=5000.0, count_10m=1), True),  # division by zero: a failure, read as a miss
        (context(amount=5000.0, count_10m=3), False),  # hit, legitimate
        (context(amount=10.0, count_10m=2), None),  # quiet, unlabelled
        ({"amount": 9000.0, "count_10m": 4}, None),  # an old snapshot: defaults for the rest
    ]
    result = backtest_condition("amount / (count_10m - 1) >= 1000", rows * 3000)
    assert (result.rows, result.hits, result.failures, result.incomplete) == (15000, 9000, 3000, 3000)
    assert (result.true_positives, result.false_negatives, result.false_positives) == (3000, 3000, 3000)


def test_a_backtest_of_a_refused_condition_says_why() -> None:
    with pytest.raises(RuleError, match="Comprehensions"):
        backtest_condition("[x for x in [1]].length > 0", [(context(), None)])


def test_a_backtest_that_outlives_its_deadline_is_stopped(runaway_backtest: None) -> None:
    with pytest.raises(SandboxTimeout, match="The back-test took too long \\(the limit is 0.5 s\\)"):
        backtest_condition("amount > 1", [(context(), None)])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(condition=hostile_conditions())
def test_any_condition_is_refused_or_accepted_and_evaluated_within_the_child_cpu_limit(condition: str) -> None:
    try:
        check_condition(condition)  # accepted: compiled and evaluated on the probes in the child
    except SandboxError:
        pytest.fail(f"the child had to be killed (or failed) on {condition!r}")
    except RuleError:
        pass  # refused, with a reason


@settings(max_examples=10, deadline=None)
@given(amounts=st.lists(st.floats(min_value=0, max_value=1e7), min_size=1, max_size=50))
def test_a_backtest_in_the_child_agrees_with_one_in_process(amounts: list[float]) -> None:
    from fraud.rules import CompiledRule, RuleSpec, backtest

    rows = [(context(amount=a), [True, False, None][i % 3]) for i, a in enumerate(amounts)]
    condition = "amount >= 5000 or amount % 7 == 0"
    assert backtest_condition(condition, rows) == backtest(CompiledRule.build(RuleSpec("r", condition)), rows)
