"""A value against its noise floor: what honest samples of the same size show.

The floor is the value that 5% of honest samples exceed. Where the null is drawn (simulated honest
samples, random splits of a permutation test) the floor is those draws' 95th percentile and the
p-value counts the draws at or above the value; anywhere a value is shown, it is shown as a ratio to
its floor (1: at the floor).
"""

from __future__ import annotations

import numpy as np

from gaussgan.stats.constants import ALPHA


def drawn_floor(null: np.ndarray) -> float:
    """The value that ``ALPHA`` of the null's draws exceed (their 95th percentile)."""
    return float(np.quantile(null, 1 - ALPHA))


def drawn_pvalue(null: np.ndarray, value: float) -> float:
    """Monte Carlo p-value of ``value`` against draws of its null: (1 + #{null >= value}) / (draws + 1).
    The value counts as one more draw: honest samples then get p <= a at most a of the time, never p = 0."""
    return float((1 + np.count_nonzero(null >= value)) / (len(null) + 1))


def ratio_to_floor(values, floors):
    """``values`` ÷ ``floors``, element by element (numbers, arrays or table columns alike): 1 at the floor.

    No warning where a floor is 0 or missing: NaN where both are 0 or either is NaN, infinite where only
    the floor is 0 (a metric whose floor is 0, such as the share outside the bounds, failed).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return values / floors
