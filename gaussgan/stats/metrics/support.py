"""Where the samples fall: the tails of a heavy-tailed parent, the bounds of a bounded one."""

from __future__ import annotations

import numpy as np

from gaussgan.stats.constants import ALPHA
from gaussgan.stats.ks import ks_distance, ks_pvalue, ks_quantile
from gaussgan.stats.metrics.base import Metric, Score


class Tail(Metric):
    """Heavy tails (cauchy): KS of log|x - loc| over all components against its exact law, and the
    Hill estimate of the tail index (the parent's is 1)."""

    short = "tail"

    name, label, null = "tail", "log|x| KS (tails)", "analytic"

    def undefined(self, parent):
        return "" if parent.name == "cauchy" else "for heavy-tailed parents (cauchy) only"

    def score(self, x, context):
        parent = context.parent
        magnitude = np.abs(x - parent.mu) / np.diag(parent.sigma)  # half-Cauchy(1) under the parent
        values = magnitude.ravel()
        statistic = float(ks_distance(2 / np.pi * np.arctan(values)))
        index = hill_index(values)
        reading = "tails too light" if index > 1.2 else "tails too heavy" if index < 0.8 else "tails about right"
        return Score(
            statistic, float(ks_pvalue(statistic, len(values))), f"Hill tail index {index:.3g} (parent: 1): {reading}"
        )

    def floor(self, parent, n):
        return ks_quantile(n * parent.dim, ALPHA)


def hill_index(values: np.ndarray) -> float:
    """Hill's estimate of the tail index from the largest sqrt(N) of ``values`` (positive numbers)."""
    ordered = np.sort(values)[::-1]
    k = max(int(np.sqrt(len(ordered))), 2)
    top = ordered[: k + 1]
    if top[k] <= 0:
        return float("inf")
    return float(1 / np.mean(np.log(top[:k] / top[k])))


class Outside(Metric):
    """Bounded parents: the fraction of samples outside [xlo, xhi], which the parent never produces."""

    short = "bounds"

    name, label, null = "outside", "share outside the bounds", "analytic"

    def undefined(self, parent):
        return "" if parent.name in ("trunc_gauss", "uniform") else "for bounded parents only"

    def score(self, x, context):
        parent = context.parent
        outside = np.any((x < parent.xlo) | (x > parent.xhi), axis=1)
        count = int(outside.sum())
        detail = f"{count} of {len(x)} samples outside [{parent.xlo:g}, {parent.xhi:g}]"
        return Score(count / len(x), 1.0 if count == 0 else 0.0, detail)

    def floor(self, parent, n):
        return 0.0
