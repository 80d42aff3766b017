"""What a decision endpoint answers, independent of the request cycle that serves it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DecisionAnswer:
    """The status, the body and the endpoint's own headers of a decision.

    Built by the decision views' ``decide`` (``/score``, ``/fraude``), which both the DRF
    view and the decision fast path (``creditplatform.fastpath``) call: one home for what a
    decision answers, whichever request cycle carries it.
    """

    status: int
    body: dict[str, Any]
    headers: dict[str, str]
