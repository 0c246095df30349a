"""What a verdict could have seen: the smallest defects its tests detect with 80% power at a sample size.

A verdict that does not reject says "no test saw a difference", which means little without the size of
difference the tests would have seen. For each test with a known power function:

* the mean test (Gaussian parents): n ||z_bar||² is noncentral χ²_d with noncentrality n δ², δ the
  whitened distance of the generator's mean from the parent's; the δ with 80% power at its level is exact;
* the covariance likelihood-ratio test (Gaussian parents): for a covariance Σ_w = I + E near I (whitened),
  its statistic is close to noncentral χ² with d(d+1)/2 degrees of freedom and noncentrality m ||E||_F² / 2,
  m = n - 1 (the usual local approximation): the ||E||_F with 80% power at its level is about right, not exact;
* the per-component KS test (every parent): a component whose CDF is off by Δ at some point has its
  empirical CDF there within 0.5/sqrt(n) (one standard deviation, at most) of the shifted value, so a gap
  Δ >= D_crit + z_0.8 · 0.5/sqrt(n) is seen with at least about 80% power (normal approximation).
"""

from __future__ import annotations

import functools

import numpy as np

POWER = 0.8


@functools.lru_cache(maxsize=256)
def noncentrality_for_power(df: float, level: float, power: float = POWER) -> float:
    """The noncentrality at which a χ²_df test at ``level`` rejects with probability ``power``."""
    from scipy import optimize, stats

    critical = stats.chi2.isf(level, df)
    gap = lambda nc: stats.ncx2.sf(critical, df, nc) - power  # noqa: E731 (one line, read where it is used)
    upper = 1.0
    while gap(upper) < 0:
        upper *= 2
    return float(optimize.brentq(gap, 1e-9, upper, xtol=1e-6))


def detectable_mean_shift(d: int, n: int, level: float) -> float:
    """The whitened mean shift δ the mean test at ``level`` sees with 80% power on n samples."""
    return float(np.sqrt(noncentrality_for_power(d, level) / n))


def detectable_covariance_error(d: int, n: int, level: float) -> float:
    """About the ||Σ_w - I||_F the covariance test at ``level`` sees with 80% power on n samples (n > d)."""
    return float(np.sqrt(2 * noncentrality_for_power(d * (d + 1) / 2, level) / (n - 1)))


def detectable_cdf_gap(d: int, n: int, level: float) -> float:
    """The gap between a component's CDF and its marginal that the per-component KS test at ``level``
    (Šidák over the d components) sees with at least about 80% power on n samples."""
    from scipy import stats

    from gaussgan.stats.corrections import sidak_level
    from gaussgan.stats.ks import ks_quantile

    return float(ks_quantile(n, sidak_level(level, d)) + stats.norm.ppf(POWER) * 0.5 / np.sqrt(n))
