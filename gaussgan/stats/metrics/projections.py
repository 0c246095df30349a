"""The joint shape seen from fixed random directions: a KS test of each projection against the
projected parent."""

from __future__ import annotations

import numpy as np

from gaussgan.stats.ks import ks_bh_rejections, ks_distance
from gaussgan.stats.metrics.base import SIMULATION_SAMPLES, Context, Metric, Score, counted

# Directions of the projection test (fixed per parent dimension and seed).
N_DIRECTIONS = 64


def directions(context: Context) -> np.ndarray:
    """Unit vectors (d, k) of the projection test, fixed for the context; in 1-d the one direction there is."""

    def build():
        d = context.parent.dim
        u = context.rng("directions").standard_normal((d, N_DIRECTIONS if d > 1 else 1))
        return u / np.linalg.norm(u, axis=0)

    return context.cached("directions", build)


class Projections(Metric):
    """KS of the projections on fixed random directions against their exact marginal (gauss, cauchy)
    or a fixed parent sample (the others): the largest D, null simulated."""

    short = "projection"
    name, label = "projections", f"random projections, {N_DIRECTIONS} directions (largest KS D)"
    cap = SIMULATION_SAMPLES
    REFERENCE = 20_000

    def distances(self, x, context) -> tuple[np.ndarray, np.ndarray, int]:
        """KS D per direction, the parent's spread of each projection, and the KS test's effective n."""
        from scipy import special

        parent = context.parent
        projected = x @ directions(context)
        centre, spread, reference = context.cached("projections", lambda: self.fixed(context))
        if parent.name == "gauss":
            return ks_distance(special.ndtr((projected - centre) / spread)), spread, len(x)
        if parent.name == "cauchy":
            return ks_distance(0.5 + np.arctan((projected - centre) / spread) / np.pi), spread, len(x)
        # Row by row, sorted (the KS statistic sorts them anyway): searchsorted then walks the contiguous
        # reference row once, where unsorted values from a column of the (n, 64) array cost it 3 to 5 times more.
        keys = np.sort(projected.T, axis=1)
        cdf = np.column_stack([np.searchsorted(row, values) for row, values in zip(reference, keys, strict=True)])
        effective = round(len(x) * reference.shape[1] / (len(x) + reference.shape[1]))
        return ks_distance(cdf / reference.shape[1]), spread, effective

    def fixed(self, context) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per direction: the centre and spread of the projected parent, and (bounded parents) the sorted
        projections of a fixed parent sample, one row per direction."""
        parent, u = context.parent, directions(context)
        centre = parent.mu * u.sum(axis=0)
        if parent.name == "gauss":
            return centre, np.sqrt(np.einsum("ik,ij,jk->k", u, parent.sigma, u)), np.empty((0, 0))
        if parent.name == "cauchy":  # a sum of independent Cauchy variables is Cauchy: scales add in absolute value
            return centre, np.abs(u).T @ np.diag(parent.sigma), np.empty((0, 0))
        # No closed form: the empirical CDF of a large fixed parent sample stands in for the exact one
        # (the null is simulated against the same sample, so the test stays exact).
        reference = np.sort((context.reference("projections", self.REFERENCE) @ u).T, axis=1)
        return centre, reference.std(axis=1), reference

    def value(self, x, context):
        return float(self.distances(x, context)[0].max())

    def simulate_null(self, context, n, repeats, rng):
        """gauss: an honest sample's standardised projections are N(0, C), C the correlation of the
        directions under the parent's covariance: drawn as such, n × rank(C) normals per draw whatever d is
        (at most 64, and d below 64 dimensions). In float32, as MMD's null: twice as fast, and its rounding
        (1e-7 of a CDF value) is far below the KS floor (1e-2)."""
        from scipy import special

        parent = context.parent
        if parent.name != "gauss":
            return None
        u = directions(context)
        spread = context.cached("projections", lambda: self.fixed(context))[1]
        correlation = np.einsum("ik,ij,jl->kl", u, parent.sigma, u) / np.outer(spread, spread)
        # A square root of C by its eigenvalues, keeping only the directions it spans: C is singular when
        # there are more directions than dimensions.
        eigenvalues, vectors = np.linalg.eigh(correlation)
        kept = eigenvalues > eigenvalues.max() * 1e-10
        root = (vectors[:, kept] * np.sqrt(eigenvalues[kept])).T.astype(np.float32)
        values = np.empty(repeats)
        for index in range(repeats):
            # One row per direction: each KS sort then runs along contiguous memory (a third faster than
            # down the columns of an (n, 64) array).
            standardised = root.T @ rng.standard_normal((len(root), n), dtype=np.float32)
            values[index] = ks_distance(special.ndtr(standardised), axis=1).max()
        return values

    def score(self, x, context):
        statistic, spread, effective = self.distances(x, context)
        rejected = ks_bh_rejections(statistic, effective)
        projected = x @ directions(context)
        if context.parent.name == "cauchy":  # no standard deviation: compare interquartile ranges
            q = np.percentile(projected, [25, 75], axis=0)
            wide = (q[1] - q[0]) / (2 * spread)
        else:
            wide = projected.std(axis=0, ddof=1) / spread
        narrow_count, wide_count = int(np.sum(rejected & (wide < 1))), int(np.sum(rejected & (wide >= 1)))
        parts = [f"too narrow in {counted(narrow_count, 'direction')}"] if narrow_count else []
        parts += [f"too wide in {counted(wide_count, 'direction')}"] if wide_count else []
        detail = (", ".join(parts) or "no direction rejected") + f" of {len(spread)} (BH)"
        return Score(float(statistic.max()), None, detail)
