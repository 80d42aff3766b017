"""Fixtures of the fraud tests: condition checks and back-tests whose child never answers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fraud import sandbox
from tests.fraud import sandbox_tasks

DEADLINE = 0.5


@pytest.fixture
def runaway_check(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every condition check runs a child that never answers, with a deadline of 0.5 s."""
    sandbox.forget_verdicts()
    monkeypatch.setattr(sandbox, "_check_task", sandbox_tasks.sleep)
    monkeypatch.setattr(sandbox, "CHECK_WALL_SECONDS", DEADLINE)
    yield
    sandbox.forget_verdicts()


@pytest.fixture
def runaway_backtest(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every back-test runs a child that never answers a chunk, with a deadline of 0.5 s per chunk."""
    monkeypatch.setattr(sandbox, "_backtest_task", sandbox_tasks.stall_after_fields)
    monkeypatch.setattr(sandbox, "BACKTEST_CHUNK_WALL_SECONDS", DEADLINE)
