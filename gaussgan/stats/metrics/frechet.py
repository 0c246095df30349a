"""The first two moments: the Fréchet distance between the Gaussians with the sample's and the
parent's mean and covariance."""

from __future__ import annotations

import numpy as np

from gaussgan.stats.metrics.base import SIMULATION_SAMPLES, Context, Metric, Score


class Frechet(Metric):
    """Fréchet distance between N(mean, cov) of the sample and of the parent, in coordinates where the
    parent's covariance is the identity; its bias grows like d²/n, so only its simulated floor judges it."""

    short = "Fréchet"

    name, label = "frechet", "Fréchet distance, whitened"

    def undefined(self, parent):
        # Parent.moments() is None for cauchy alone; asking it would build a distribution per component.
        return "undefined for cauchy: the parent has no mean or covariance" if parent.name == "cauchy" else ""

    def used(self, n, parent):
        # gauss: the null is drawn from the exact law of the sample mean and covariance at any n.
        return n if parent.name == "gauss" else min(n, SIMULATION_SAMPLES)

    def simulate_null(self, context, n, repeats, rng):
        """gauss: whitened, the sample mean is N(0, I/n) and (n-1) times the sample covariance is
        Wishart(n-1, I), independent of each other: drawn directly, at a cost that does not grow with n."""
        parent = context.parent
        if parent.name != "gauss" or n <= parent.dim:
            return None
        from scipy import stats

        d = parent.dim
        values = np.empty(repeats)
        chunk = max(1, 4_000_000 // (d * d))  # covariances held at once: 32 MB
        for start in range(0, repeats, chunk):
            size = min(chunk, repeats - start)
            means = rng.standard_normal((size, d)) / np.sqrt(n)
            covariances = stats.wishart.rvs(df=n - 1, scale=np.eye(d) / (n - 1), size=size, random_state=rng)
            eigenvalues = np.linalg.eigvalsh(np.reshape(covariances, (size, d, d)))
            values[start : start + size] = frechet_from_moments(means, None, eigenvalues)
        return values

    def score(self, x, context):
        parent = context.parent
        if len(x) <= parent.dim:
            return Score(float("nan"), None, f"needs more samples than dimensions ({parent.dim})")
        z = standardised(x, context)
        mean, covariance = z.mean(axis=0), np.atleast_2d(np.cov(z, rowvar=False))
        eigenvalues = np.linalg.eigvalsh(covariance)
        value = float(frechet_from_moments(mean, covariance, eigenvalues))
        low, high = float(eigenvalues.min()), float(eigenvalues.max())
        return Score(value, None, f"covariance eigenvalues {low:.3g} to {high:.3g} (parent: all 1)")


def standardised(x: np.ndarray, context: Context) -> np.ndarray:
    """Coordinates with the parent's mean 0 and covariance I: whitened (gauss), standardised (independent)."""
    parent = context.parent
    if parent.name == "gauss":
        return parent.whiten(x)

    def moments():
        exact = parent.moments()
        assert exact is not None
        mean, covariance = exact
        return mean, np.sqrt(np.diag(covariance))

    mean, scale = context.cached("moments", moments)  # a scipy distribution per component: once
    return (x - mean) / scale


def frechet_from_moments(mean: np.ndarray, covariance: np.ndarray | None, eigenvalues: np.ndarray | None = None):
    """||mean||² + tr(C + I - 2 C^1/2): the Fréchet distance of N(mean, C) from N(0, I).

    Also for a stack of them: means (r, d) and eigenvalues (r, d) give r distances.
    """
    if eigenvalues is None:
        assert covariance is not None
        eigenvalues = np.linalg.eigvalsh(covariance)
    roots = np.sqrt(np.clip(eigenvalues, 0, None))
    return np.sum(mean * mean, axis=-1) + np.sum(eigenvalues - 2 * roots, axis=-1) + mean.shape[-1]
