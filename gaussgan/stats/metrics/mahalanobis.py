"""The joint spread of a Gaussian parent: squared Mahalanobis distances against their exact χ²_d law."""

from __future__ import annotations

import numpy as np

from gaussgan.stats.constants import ALPHA
from gaussgan.stats.ks import ks_distance, ks_pvalue, ks_quantile
from gaussgan.stats.metrics.base import Metric, Score


class Mahalanobis(Metric):
    """KS of the squared Mahalanobis distances against χ²_d: the joint spread, exactly."""

    short = "Mahalanobis"

    name, label, null = "mahalanobis", "Mahalanobis² vs χ²_d (KS D)", "analytic"

    def undefined(self, parent):
        return "" if parent.name == "gauss" else f"needs a Gaussian parent, not {parent.name}"

    def score(self, x, context):
        from scipy import stats

        d = context.parent.dim
        squared = np.einsum("ij,ij->i", z := context.parent.whiten(x), z)
        statistic = float(ks_distance(stats.chi2.cdf(squared, d)))
        mean = float(squared.mean())
        shape = "too narrow" if mean < d else "too wide"
        return Score(
            statistic, float(ks_pvalue(statistic, len(x))), f"mean Mahalanobis² {mean:.4g} (parent: {d}): {shape}"
        )

    def floor(self, parent, n):
        return ks_quantile(n, ALPHA)
