"""The first two moments: the Fréchet distance between the Gaussians with the sample's and the
parent's mean and covariance."""

from __future__ import annotations

import numpy as np

from gaussgan.stats.metrics.base import SIMULATION_SAMPLES, Context, Metric, Score


class Frechet(Metric):
    """Fréchet distance between N(mean, cov) of the sample and of the parent, in coordinates where each
    component has the parent's mean 0 and variance 1 (standardised), on the last SIMULATION_SAMPLES rows;
    its bias grows like d²/n, so only its simulated floor judges it. Gaussian parents have the exact mean
    and covariance tests instead (:mod:`.gaussian`), more powerful against both moments."""

    short = "Fréchet"

    name, label = "frechet", f"Fréchet distance, standardised (last {SIMULATION_SAMPLES:,} rows)"
    cap = SIMULATION_SAMPLES

    def undefined(self, parent):
        if parent.name == "gauss":
            return "gauss: the exact mean and covariance tests replace it"
        # Parent.moments() is None for cauchy alone; asking it would build a distribution per component.
        return "undefined for cauchy: the parent has no mean or covariance" if parent.name == "cauchy" else ""

    def score(self, x, context):
        parent = context.parent
        if len(x) <= parent.dim:
            return Score(float("nan"), None, f"left out: needs more samples than dimensions ({parent.dim})")
        z = standardised(x, context)
        mean, covariance = z.mean(axis=0), np.atleast_2d(np.cov(z, rowvar=False))
        eigenvalues = np.linalg.eigvalsh(covariance)
        value = float(frechet_from_moments(mean, covariance, eigenvalues))
        low, high = float(eigenvalues.min()), float(eigenvalues.max())
        return Score(value, None, f"covariance eigenvalues {low:.3g} to {high:.3g} (parent: all 1)")


def standardised(x: np.ndarray, context: Context) -> np.ndarray:
    """Coordinates with the parent's mean 0 and variance 1 in each component (independent parents)."""
    parent = context.parent

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
