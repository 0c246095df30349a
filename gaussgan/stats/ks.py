"""The Kolmogorov-Smirnov test, every form the package uses: one sample against an exact CDF (the
metrics), two samples per component (the epoch diagnostics and their figures), and their floors.

scipy where it computes the same number at the cost the caller can pay; below, the vectorised forms
that many columns and thousands of simulated repeats need at once (each tested against scipy).
"""

from __future__ import annotations

import numpy as np

from gaussgan.stats.constants import ALPHA
from gaussgan.stats.corrections import bh_rejections

# scipy is imported where it is used: scipy.stats costs half a second, and a run refused at start-up
# (a damaged file, a busy run directory) should say so at once.


# --- one sample against an exact CDF ------------------------------------------------------------------
def ks_distance(cdf_values: np.ndarray, axis: int = 0) -> np.ndarray:
    """One-sample KS statistic of samples whose exact CDF values are given, along ``axis``.

    The same number scipy.stats.ks_1samp reports, for many columns and repeats at once (the
    simulated nulls compute thousands); tested against scipy.
    """
    u = np.sort(cdf_values, axis=axis)
    n = u.shape[axis]
    shape = [1] * u.ndim
    shape[axis] = n
    steps = np.arange(1, n + 1, dtype=float).reshape(shape) / n
    return np.maximum((steps - u).max(axis=axis), (u - (steps - 1 / n)).max(axis=axis))


def ks_pvalue(statistic, n: int):
    """Exact two-sided p-value of a one-sample KS statistic at sample size ``n``."""
    from scipy import stats

    return stats.kstwo.sf(statistic, n)


def ks_pvalue_approximate(statistic, n: int):
    """Stephens' (1970) approximation of the KS p-value: within 3% of the exact one for p >= 1e-4 and
    n >= 50, and a thousand times faster far in the tail, where scipy's exact value takes 0.4 ms."""
    from scipy import special

    return special.kolmogorov((np.sqrt(n) + 0.12 + 0.11 / np.sqrt(n)) * np.asarray(statistic))


def ks_quantile(n: int, level: float = ALPHA) -> float:
    """The one-sample KS statistic that honest samples of size ``n`` exceed with probability ``level`` (exact)."""
    from scipy import stats

    return float(stats.kstwo.isf(level, n))


def ks_bh_rejections(statistic: np.ndarray, n: int) -> np.ndarray:
    """Which of these KS statistics (each of ``n`` samples) Benjamini-Hochberg rejects, for the details
    that describe a metric (its own p-value stays exact): exact p-values for 100 components of a bad
    generator cost 40 ms, a tenth of an epoch."""
    return bh_rejections(ks_pvalue_approximate(statistic, n))


# --- two samples, per component -----------------------------------------------------------------------
def component_ks(generated: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two-sample KS test per component (column): statistics and p-values, shape (d,) each."""
    from scipy import stats

    result = stats.ks_2samp(generated, reference, axis=0)
    return np.atleast_1d(result.statistic), np.atleast_1d(result.pvalue)


def ks_statistics(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The two-sample KS statistic of every column, all columns at once (no p-values: a figure does not
    draw them, and scipy's exact ones cost far more than the figure).

    The largest gap between the two empirical CDFs, read off the merged and sorted columns: exact for
    continuous data (tested against scipy); a value found in both samples may overstate it by a step.
    """
    n_first, n_second = len(first), len(second)
    merged = np.concatenate([first, second])
    order = np.argsort(merged, axis=0, kind="stable")
    steps = np.where(order < n_first, 1.0 / n_first, -1.0 / n_second)
    with np.errstate(invalid="ignore"):
        return np.abs(np.cumsum(steps, axis=0)).max(axis=0)


def ks_critical_value(n_a: int, n_b: int, alpha: float = ALPHA) -> float:
    """Two-sample KS statistic that two same-parent samples exceed with probability ``alpha`` (asymptotic)."""
    from scipy import stats

    return float(stats.kstwobign.isf(alpha) * np.sqrt((n_a + n_b) / (n_a * n_b)))
