"""The exact tests of a Gaussian parent's first two moments: the mean test and the covariance likelihood-ratio test.

In whitened coordinates z = L^-1 (x - mu) an honest sample is N(0, I), so:

* the sample mean is N(0, I/n): n ||z_bar||² is exactly χ²_d (the mean test);
* W = (n - 1) S, S the sample covariance about the sample mean, is Wishart(n - 1, I), independent of the
  mean; the likelihood ratio of "covariance I" is m (tr S - log det S - d) with m = n - 1. Its law has no
  closed form, but Bartlett's decomposition of W (W = T T^T, T lower triangular, T_ii² ~ χ²_{m-i+1},
  T_ij ~ N(0, 1) below the diagonal, all independent) gives det W and tr W from d + 1 independent χ²
  draws: the null is drawn exactly, at a cost of d numbers per draw, whatever n.

Both are the most powerful tests there are for a shift of the mean and for a wrong covariance of a
Gaussian, which the verdict weighs most (:meth:`Metric.weight`); the other metrics catch what
moments cannot show (tails, the radial law, bumps, bounds, copies).
"""

from __future__ import annotations

import functools

import numpy as np

from gaussgan.stats.constants import ALPHA
from gaussgan.stats.metrics.base import Metric, Score

# Draws of the covariance test's null (exact, by Bartlett): p-values resolved to 1 / (DRAWS + 1).
COVARIANCE_NULL_DRAWS = 20_000
# How much of a Gaussian verdict's error rate the two moment tests get, each, against 1 for every other metric.
MOMENT_WEIGHT = 3.0
# Eigenvalues below this count as this (a singular covariance: a large finite value, never infinity).
SMALLEST_EIGENVALUE = 1e-300


class MomentTest(Metric):
    """What the two exact tests share: a Gaussian parent, an exact null, and the larger weight."""

    null = "analytic"

    def undefined(self, parent):
        return "" if parent.name == "gauss" else f"needs a Gaussian parent, not {parent.name}"

    def weight(self, parent):
        return MOMENT_WEIGHT


class MeanTest(MomentTest):
    """n ||z_bar||², z the whitened samples: exactly χ²_d for an honest sample. The value is ||z_bar||²,
    the squared distance of the sample mean from the parent's in the parent's own metric."""

    short = "mean"

    name, label = "mean", "mean test, whitened (||mean||², n·value ~ χ²_d)"

    def score(self, x, context):
        from scipy import stats

        d, n = context.parent.dim, len(x)
        mean = context.parent.whiten(x).mean(axis=0)
        value = float(mean @ mean)
        worst = int(np.argmax(np.abs(mean)))
        detail = (
            f"whitened mean {np.sqrt(value):.3g} from the parent's (largest: component {worst}, {mean[worst]:+.3g})"
        )
        return Score(value, float(stats.chi2.sf(n * value, d)), detail)

    def floor(self, parent, n):
        from scipy import stats

        return float(stats.chi2.isf(ALPHA, parent.dim) / n)


class CovarianceTest(MomentTest):
    """The likelihood-ratio test of the covariance, whitened: tr S - log det S - d (Stein's loss of the
    sample covariance S; 0 when S = I), against its exact null drawn by Bartlett's decomposition.
    Needs more samples than dimensions (S is singular otherwise)."""

    short = "covariance"

    name, label = "covariance", "covariance likelihood ratio, whitened (tr S - log det S - d)"

    def score(self, x, context):
        d, n = context.parent.dim, len(x)
        if n <= d:
            return Score(float("nan"), None, f"left out: needs more samples than dimensions ({d})")
        z = context.parent.whiten(x)
        eigenvalues = np.linalg.eigvalsh(np.atleast_2d(np.cov(z, rowvar=False)))
        # Samples on fewer than d dimensions (a singular covariance) get a large finite value, not infinity.
        value = float(stein_loss(np.maximum(eigenvalues, SMALLEST_EIGENVALUE)))
        null = self.null_draws(context.parent.dim, n)
        p = float((1 + np.count_nonzero(null >= value)) / (len(null) + 1))
        low, high = float(eigenvalues.min()), float(eigenvalues.max())
        detail = f"covariance eigenvalues {low:.3g} to {high:.3g} (parent: all 1)"
        return Score(value, p, detail, floor=float(np.quantile(null, 1 - ALPHA)))

    def floor(self, parent, n):
        return float(np.quantile(self.null_draws(parent.dim, n), 1 - ALPHA))

    @staticmethod
    @functools.lru_cache(maxsize=32)
    def null_draws(d: int, n: int) -> np.ndarray:
        """The exact null at (d, n), seeded by them alone: the same draws whatever else the verdict does."""
        rng = np.random.default_rng(np.random.SeedSequence([0xC0F, d, n]))
        draws = bartlett_null(d, n - 1, COVARIANCE_NULL_DRAWS, rng)
        draws.flags.writeable = False
        return draws


def stein_loss(eigenvalues: np.ndarray) -> np.ndarray:
    """Σ (λ - 1 - log λ) over the last axis, accurate near λ = 1 (log1p, not a difference of large numbers)."""
    excess = eigenvalues - 1
    return np.sum(excess - np.log1p(excess), axis=-1)


def bartlett_null(d: int, m: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """``draws`` values of tr S - log det S - d for S = W / m, W ~ Wishart(m, I_d), m >= d.

    With W = T T^T (Bartlett): det W = Π T_ii² and tr W = Σ T_ii² + Σ_{i>j} T_ij², so the value is
    Σ_i (a_i/m - 1 - log(a_i/m)) + b/m with a_i ~ χ²_{m-i+1} and b ~ χ²_{d(d-1)/2}, all independent.
    Drawn in chunks of about a million numbers.
    """
    degrees = m - np.arange(d)
    values = np.empty(draws)
    chunk = max(1, 1_000_000 // d)
    for start in range(0, draws, chunk):
        size = min(chunk, draws - start)
        diagonal = rng.chisquare(degrees, size=(size, d)) / m
        below = rng.chisquare(d * (d - 1) / 2, size=size) / m if d > 1 else np.zeros(size)
        values[start : start + size] = stein_loss(diagonal) + below
    return values
