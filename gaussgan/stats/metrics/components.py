"""Each component on its own: a one-sample KS test against its exact marginal."""

from __future__ import annotations

import numpy as np

from gaussgan.stats.constants import ALPHA
from gaussgan.stats.corrections import sidak, sidak_level
from gaussgan.stats.ks import ks_bh_rejections, ks_distance, ks_pvalue, ks_quantile
from gaussgan.stats.metrics.base import Metric, Score, counted


class Components(Metric):
    """Per-component one-sample KS against the exact marginal (whitened components for gauss):
    the largest D, judged by Šidák over the d independent components (exact)."""

    short = "per-component"

    name, label, null = "components", "per-component KS (largest D)", "analytic"

    def score(self, x, context):
        from scipy import special

        parent = context.parent
        whitened = parent.whiten(x) if parent.name == "gauss" else None
        cdf = special.ndtr(whitened) if whitened is not None else parent.marginal_cdf(x)
        statistic = ks_distance(cdf)
        rejected = ks_bh_rejections(statistic, len(x))
        worst = int(np.argmax(statistic))
        what = "whitened component" if parent.name == "gauss" and not parent.is_diagonal else "component"
        detail = f"{counted(int(rejected.sum()), what)} of {parent.dim} rejected (BH); worst: {what} {worst}"
        if whitened is not None:
            worst_values = whitened[:, worst]
            detail += f" (mean {worst_values.mean():.3g}, std {worst_values.std(ddof=1):.3g}; parent: 0, 1)"
        p = sidak(float(ks_pvalue(statistic[worst], len(x))), parent.dim)
        return Score(float(statistic[worst]), p, detail)

    def floor(self, parent, n):
        return ks_quantile(n, sidak_level(ALPHA, parent.dim))
