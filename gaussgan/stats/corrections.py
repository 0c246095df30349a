"""Multiple testing: several tests judged as one family, the correction each family uses.

Weighted Holm across the metrics of a verdict, Šidák across the independent components of one metric, and
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
    """Holm's step-down procedure: which hypotheses to reject, controlling the family-wise error at ``alpha``
    (:func:`weighted_holm` with equal weights)."""
    return weighted_holm(pvalues, [1.0] * len(pvalues), alpha)


def weighted_holm(pvalues: list[float], weights: list[float], alpha: float = ALPHA) -> list[bool]:
    """Holm's procedure with weights (Holm 1979): which hypotheses to reject, family-wise error ``alpha``.

    Among the hypotheses not yet rejected, the one with the smallest p_i / w_i is rejected when
    p_i <= alpha * w_i / (the sum of their weights); then the next, until one is not. Equal weights give
    :func:`holm`. It is the shortcut of the closed test of weighted Bonferroni tests, so the family-wise
    error is at most ``alpha`` whatever the dependence between the tests.
    """
    p, w = np.asarray(pvalues, dtype=float), np.asarray(weights, dtype=float)
    if np.any(w <= 0):
        raise ValueError("weights must be positive")
    rejected = np.zeros(len(p), dtype=bool)
    for index in np.argsort(p / w, kind="stable"):
        if p[index] > alpha * w[index] / w[~rejected].sum():
            break
        rejected[index] = True
    return rejected.tolist()


def bh_rejections(pvalues: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """Which of ``pvalues`` Benjamini-Hochberg rejects (false discovery rate ``alpha``)."""
    from scipy import stats

    return stats.false_discovery_control(pvalues) <= alpha
