"""Velocity features: what a client's recent transactions say about the current one (no Django).

Two halves share one definition of every window:

- ``HistorySummary`` is what the client's *previous* transactions add up to: counts and sums
  per window, the lookback total, and whether this beneficiary, device and country were
  seen before. Serving gets it from one aggregate query (``fraud.selectors``); training and
  tests get it from ``summarize`` over an in-memory list. A test holds the two equal.
- ``velocity`` turns a summary and the current amount into ``Velocity``, the features rules
  and the model see. It is the only place where the current transaction is added in, so the
  counts read naturally: ``count_10m`` is 6 on the sixth transaction within ten minutes.

A previous transaction is in a window when ``at - window <= timestamp <= at`` (same-instant
transactions count: a burst sent in one second is still a burst).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

WINDOWS: dict[str, dt.timedelta] = {
    "10m": dt.timedelta(minutes=10),
    "1h": dt.timedelta(hours=1),
    "24h": dt.timedelta(hours=24),
    "30d": dt.timedelta(days=30),
}
# How far back "seen before" looks (beneficiary, device, country) and what history_count counts.
LOOKBACK = dt.timedelta(days=90)
# The usual amount is the mean of the previous 30 days, once there are at least this many.
USUAL_WINDOW = "30d"
USUAL_MIN_HISTORY = 3


@dataclass(frozen=True)
class PastTransaction:
    """One previous transaction of the client, as ``summarize`` needs it."""

    timestamp: dt.datetime
    amount: float
    beneficiary: str = ""
    device_id: str = ""
    country: str = ""


@dataclass(frozen=True)
class HistorySummary:
    """The client's previous transactions within ``LOOKBACK``, aggregated (the current one excluded)."""

    counts: dict[str, int]
    sums: dict[str, float]
    history_count: int = 0
    beneficiary_seen: bool = False
    device_seen: bool = False
    country_seen: bool = False

    @classmethod
    def empty(cls) -> HistorySummary:
        return cls(counts=dict.fromkeys(WINDOWS, 0), sums=dict.fromkeys(WINDOWS, 0.0))


@dataclass(frozen=True)
class Velocity:
    """Velocity features of one transaction (counts and sums include it)."""

    counts: dict[str, int]
    sums: dict[str, float]
    usual_amount: float | None  # None: fewer than USUAL_MIN_HISTORY previous transactions in 30 days
    amount_vs_usual: float | None
    history_count: int
    new_beneficiary: bool
    new_device: bool
    new_country: bool


def summarize(
    history: Iterable[PastTransaction],
    *,
    at: dt.datetime,
    beneficiary: str = "",
    device_id: str = "",
    country: str = "",
) -> HistorySummary:
    """The in-memory twin of ``fraud.selectors.client_history_summary`` (same windows, same bounds)."""
    counts = dict.fromkeys(WINDOWS, 0)
    sums = dict.fromkeys(WINDOWS, 0.0)
    total = 0
    seen_beneficiary = seen_device = seen_country = False
    since = at - LOOKBACK
    for past in history:
        if not since <= past.timestamp <= at:
            continue
        total += 1
        for name, span in WINDOWS.items():
            if past.timestamp >= at - span:
                counts[name] += 1
                sums[name] += past.amount
        seen_beneficiary = seen_beneficiary or bool(beneficiary and past.beneficiary == beneficiary)
        seen_device = seen_device or bool(device_id and past.device_id == device_id)
        seen_country = seen_country or bool(country and past.country == country)
    return HistorySummary(
        counts=counts,
        sums={k: round(v, 2) for k, v in sums.items()},
        history_count=total,
        beneficiary_seen=seen_beneficiary,
        device_seen=seen_device,
        country_seen=seen_country,
    )


def velocity(
    summary: HistorySummary, *, amount: float, beneficiary: str = "", device_id: str = "", country: str = ""
) -> Velocity:
    """Add the current transaction to its client's history summary.

    "New" needs something to be new against: a beneficiary is new whenever it was never paid
    in the lookback (money to a stranger is a risk even on a first transaction), a device or
    a country only when the client has history at all (a new client's first device is not a
    signal).
    """
    previous_30d = summary.counts[USUAL_WINDOW]
    usual = summary.sums[USUAL_WINDOW] / previous_30d if previous_30d >= USUAL_MIN_HISTORY else None
    has_history = summary.history_count > 0
    return Velocity(
        counts={name: summary.counts[name] + 1 for name in WINDOWS},
        sums={name: round(summary.sums[name] + amount, 2) for name in WINDOWS},
        usual_amount=round(usual, 2) if usual is not None else None,
        amount_vs_usual=round(amount / usual, 4) if usual else None,
        history_count=summary.history_count,
        new_beneficiary=bool(beneficiary) and not summary.beneficiary_seen,
        new_device=bool(device_id) and has_history and not summary.device_seen,
        new_country=bool(country) and has_history and not summary.country_seen,
    )
