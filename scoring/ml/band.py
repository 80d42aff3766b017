"""The refer band's cost on a hold-out set (docs/scoring.md#choosing-the-default-band).

A decision outside the band costs what the threshold rule costs (``cost_fn`` for a
defaulter approved, ``cost_fp`` for a good applicant refused); a referred one costs
``cost_refer`` (the underwriter's time) and is assumed decided right: an optimistic bound on
what referral buys, which is why the band is also chosen under a cap on the referral rate
(an underwriting team's capacity).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BandCost:
    lower: float
    upper: float
    refused: int
    referred: int
    approved: int
    false_negatives: int
    false_positives: int
    cost: float

    @property
    def referral_rate(self) -> float:
        return self.referred / max(self.refused + self.referred + self.approved, 1)


def band_cost(
    y: np.ndarray,
    p: np.ndarray,
    threshold: float,
    lower: float,
    upper: float,
    *,
    cost_fn: float = 10.0,
    cost_fp: float = 1.0,
    cost_refer: float = 0.2,
    referred_extra: np.ndarray | None = None,
) -> BandCost:
    """The cost of a band [lower, upper] (bounds included) around ``threshold``."""
    refer = (p >= lower) & (p <= upper)
    if referred_extra is not None:
        refer |= referred_extra
    refuse = (p >= threshold) & ~refer
    approve = (p < threshold) & ~refer
    fn = int(np.sum(approve & (y == 1)))
    fp = int(np.sum(refuse & (y == 0)))
    return BandCost(
        lower,
        upper,
        int(refuse.sum()),
        int(refer.sum()),
        int(approve.sum()),
        fn,
        fp,
        round(cost_fn * fn + cost_fp * fp + cost_refer * int(refer.sum()), 4),
    )


def best_band(
    y: np.ndarray,
    p: np.ndarray,
    threshold: float,
    *,
    max_referral_rate: float = 1.0,
    step: float = 0.005,
    cost_fn: float = 10.0,
    cost_fp: float = 1.0,
    cost_refer: float = 0.2,
) -> BandCost:
    """The cheapest band on a grid around the threshold whose referral rate stays under the cap."""
    lowers = np.round(np.arange(0.0, threshold + 1e-9, step), 6).tolist() + [threshold]
    uppers = [threshold] + np.round(np.arange(threshold, 1.0 + 1e-9, step), 6).tolist()
    best: BandCost | None = None
    for lower in lowers:
        for upper in uppers:
            result = band_cost(y, p, threshold, lower, upper, cost_fn=cost_fn, cost_fp=cost_fp, cost_refer=cost_refer)
            if result.referral_rate > max_referral_rate:
                continue
            if best is None or result.cost < best.cost:
                best = result
    assert best is not None  # a zero-width band refers (almost) nobody
    return best
