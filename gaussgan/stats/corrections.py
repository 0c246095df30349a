"""Multiple testing: several tests judged as one family, the correction each family uses.

Holm across the metrics of a verdict, Šidák across the independent components of one metric, and
Benjamini-Hochberg for the details that say how many components or directions a metric rejects.
"""

from __future__ import annotations

import numpy as np

from gaussgan.stats.constants import ALPHA


def sidak(p_min: float, tests: int) -> float:
    """p-value of the smallest of ``tests`` independent p-values (exact when they are independent)."""
    return float(-np.expm1(tests * np.log1p(-min(p_min, 1.0)))) if p_min < 1 else 1.0


def sidak_level(alpha: float, tests: int) -> float:
    """The level of each of ``tests`` independent tests at which the smallest p-value has level ``alpha``
    (the inverse of :func:`sidak`)."""
    return float(-np.expm1(np.log1p(-alpha) / tests))


def holm(pvalues: list[float], alpha: float = ALPHA) -> list[bool]:
    """Holm's step-down procedure: which hypotheses to reject, controlling the family-wise error at ``alpha``."""
    order = np.argsort(pvalues)
    rejected = [False] * len(pvalues)
    for rank, index in enumerate(order):
        if pvalues[index] > alpha / (len(pvalues) - rank):
            break
        rejected[index] = True
    return rejected


def bh_rejections(pvalues: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """Which of ``pvalues`` Benjamini-Hochberg rejects (false discovery rate ``alpha``)."""
    from scipy import stats

    return stats.false_discovery_control(pvalues) <= alpha
