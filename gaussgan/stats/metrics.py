"""Joint metrics of a generated sample against the exactly known parent, each a test with a null.

Every metric turns a sample ``x`` (n, d) into one number, larger meaning further from the parent,
and says how that number is judged:

* ``analytic``: the null distribution is known exactly (a one-sample KS against an exact CDF,
  a binomial count, a permutation of the sample's own rows); the metric returns its p-value and
  :meth:`Metric.floor` gives the value that 5% of honest samples exceed (a permutation null's floor
  depends on the sample and comes with the score).
* ``simulated``: the null is drawn by :mod:`gaussgan.stats.nulls` from honest parent samples of the
  same size; floor and p-value come from those draws.

A metric never sees a torch model: numpy arrays and the :class:`~gaussgan.distributions.Parent`
only. Two-sample metrics compare with parent samples that :class:`Context` draws from its own
seeded generator, so the same context gives the same reference every time (the null is simulated
conditional on it, which keeps it exact).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gaussgan.distributions import Parent
from gaussgan.stats.constants import ALPHA

# Directions of the projection test (fixed per parent dimension and seed).
N_DIRECTIONS = 64
# Samples a costly metric looks at, at most: beyond these its cost grows faster than its use.
MMD_SAMPLES = 1000
CLASSIFIER_SAMPLES = 20_000
MEMORISATION_SAMPLES = 1000
MEMORISATION_TRAIN_ROWS = 20_000
# Simulated nulls draw ``repeats`` honest samples of the size tested: above this many samples per
# draw, the metric looks at this many of them (still exact, a little less powerful).
SIMULATION_SAMPLES = 5000
# Pairwise products of the classifier's quadratic features: all of them up to this dimension,
# the products of as many random projections above it.
QUADRATIC_COMPONENTS = 16


@dataclass(frozen=True)
class Score:
    """One metric on one sample: its value, and its p-value when the null is analytic (and its floor
    when that null is conditional on the sample, as a permutation null is)."""

    value: float
    p: float | None = None
    detail: str = ""
    floor: float | None = None


@dataclass
class Context:
    """What a metric may use besides the sample: the parent, seeded reference samples, the training set."""

    parent: Parent
    seed: int = 0
    train: np.ndarray | None = None
    _fixed: dict = field(default_factory=dict, repr=False)

    def rng(self, purpose: str) -> np.random.Generator:
        """A generator for one purpose, the same stream every time it is asked for."""
        words = [ord(c) for c in purpose]
        return np.random.default_rng(np.random.SeedSequence([self.seed, self.parent.dim, *words]))

    def cached(self, key, build):
        """``build()``, computed once for this context (fixed reference samples and what derives from them)."""
        if key not in self._fixed:
            self._fixed[key] = build()
        return self._fixed[key]

    def reference(self, purpose: str, n: int) -> np.ndarray:
        """``n`` parent samples, fixed for this context and purpose (drawn once, then reused)."""
        return self.cached((purpose, n), lambda: self.parent.sample(n, self.rng(purpose)))

    def directions(self) -> np.ndarray:
        """Unit vectors (d, k) of the projection test; in 1-d the one direction there is."""

        def build():
            d = self.parent.dim
            u = self.rng("directions").standard_normal((d, N_DIRECTIONS if d > 1 else 1))
            return u / np.linalg.norm(u, axis=0)

        return self.cached("directions", build)


class Metric:
    """Base: a name, how its null is known, what it applies to, and at most how many samples it uses."""

    name = ""
    short = ""  # in a sentence: "the Mahalanobis and projection tests"
    label = ""  # for people: "Mahalanobis² vs χ²_d"
    null = "simulated"  # or "analytic"
    costly = False  # computed every --eval-every epochs only, not every epoch
    cap: int | None = None  # samples used at most (None: all)
    least = 2  # samples needed at least (fewer: no value, said why): a spread needs two

    def undefined(self, parent: Parent) -> str:
        """Why the metric means nothing for this parent ('' when it applies)."""
        return ""

    def score(self, x: np.ndarray, context: Context) -> Score:
        raise NotImplementedError

    def value(self, x: np.ndarray, context: Context) -> float:
        """The value alone, as the simulated null needs it thousands of times (no detail to compute)."""
        return self.score(x, context).value

    def floor(self, parent: Parent, n: int) -> float:
        """Analytic nulls only: the value 5% of honest samples of size ``n`` exceed."""
        raise NotImplementedError

    def used(self, n: int, parent: Parent) -> int:
        """How many of ``n`` samples the metric looks at (the last ones: :func:`gaussgan.stats.nulls.judge`)."""
        return n if self.cap is None else min(n, self.cap)

    def simulate_null(self, context: Context, n: int, repeats: int, rng: np.random.Generator) -> np.ndarray | None:
        """A faster exact way to draw the null than scoring honest samples, where one exists; else None."""
        return None


# --- helpers -----------------------------------------------------------------------------------------
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


def sidak(p_min: float, tests: int) -> float:
    """p-value of the smallest of ``tests`` independent p-values (exact when they are independent)."""
    return float(-np.expm1(tests * np.log1p(-min(p_min, 1.0)))) if p_min < 1 else 1.0


def holm(pvalues: list[float], alpha: float = ALPHA) -> list[bool]:
    """Holm's step-down procedure: which hypotheses to reject, controlling the family-wise error at ``alpha``."""
    order = np.argsort(pvalues)
    rejected = [False] * len(pvalues)
    for rank, index in enumerate(order):
        if pvalues[index] > alpha / (len(pvalues) - rank):
            break
        rejected[index] = True
    return rejected


def bh_rejections(pvalues: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """Which of ``pvalues`` Benjamini-Hochberg rejects (false discovery rate ``alpha``)."""
    from scipy import stats

    return stats.false_discovery_control(pvalues) <= alpha


def ks_pvalue_approximate(statistic, n: int):
    """Stephens' (1970) approximation of the KS p-value: within 3% of the exact one for p >= 1e-4 and
    n >= 50, and a thousand times faster far in the tail, where scipy's exact value takes 0.4 ms."""
    from scipy import special

    return special.kolmogorov((np.sqrt(n) + 0.12 + 0.11 / np.sqrt(n)) * np.asarray(statistic))


def ks_bh_rejections(statistic: np.ndarray, n: int) -> np.ndarray:
    """Which of these KS statistics (each of ``n`` samples) Benjamini-Hochberg rejects, for the details
    that describe a metric (its own p-value stays exact): exact p-values for 100 components of a bad
    generator cost 40 ms, a tenth of an epoch."""
    return bh_rejections(ks_pvalue_approximate(statistic, n))


def _count(k: int, noun: str, plural: str = "") -> str:
    return f"{k} {noun if k == 1 else plural or noun + 's'}"


def one_blas_thread():
    """A context in which numpy's BLAS runs on one thread.

    The statistics multiply small matrices (100 x 100, 1000 x 100) thousands of times: on a shared
    machine a second BLAS thread made the simulated nulls 5 to 10 times slower, and the number of
    threads would otherwise decide the last bits of a verdict (same seed, same bytes, any machine).
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def component_cdf(parent: Parent, x: np.ndarray) -> np.ndarray:
    """Every component of ``x`` through its exact marginal CDF (:meth:`Parent.marginal`), in one call:
    the scipy distribution takes one parameter per column, where a frozen distribution per column
    cost ten times more at d = 100."""
    from scipy import stats

    scale = np.sqrt(np.diag(parent.sigma))
    if parent.name == "gauss":
        return stats.norm.cdf(x, parent.mu, scale)
    if parent.name == "cauchy":  # DIAG is the scale
        return stats.cauchy.cdf(x, parent.mu, np.diag(parent.sigma))
    if parent.name == "uniform":
        return stats.uniform.cdf(x, parent.xlo, parent.xhi - parent.xlo)
    return stats.truncnorm.cdf(x, (parent.xlo - parent.mu) / scale, (parent.xhi - parent.mu) / scale, parent.mu, scale)


def normal_scores(x: np.ndarray, parent: Parent) -> np.ndarray:
    """:meth:`Parent.normal_scores`, all components at once (see :func:`component_cdf`): N(0, I) exactly
    when ``x`` follows the parent, whatever the parent."""
    if parent.name == "gauss":
        return parent.whiten(x)
    from scipy import special

    return special.ndtri(np.clip(component_cdf(parent, x), 1e-16, 1 - 1e-16))


# --- the metrics -------------------------------------------------------------------------------------
class Components(Metric):
    """Per-component one-sample KS against the exact marginal (whitened components for gauss):
    the largest D, judged by Šidák over the d independent components (exact)."""

    short = "per-component"

    name, label, null = "components", "per-component KS (largest D)", "analytic"

    def score(self, x, context):
        from scipy import special

        parent = context.parent
        whitened = parent.whiten(x) if parent.name == "gauss" else None
        cdf = special.ndtr(whitened) if whitened is not None else component_cdf(parent, x)
        statistic = ks_distance(cdf)
        rejected = ks_bh_rejections(statistic, len(x))
        worst = int(np.argmax(statistic))
        what = "whitened component" if parent.name == "gauss" and not parent.is_diagonal else "component"
        detail = f"{_count(int(rejected.sum()), what)} of {parent.dim} rejected (BH); worst: {what} {worst}"
        if whitened is not None:
            worst_values = whitened[:, worst]
            detail += f" (mean {worst_values.mean():.3g}, std {worst_values.std(ddof=1):.3g}; parent: 0, 1)"
        p = sidak(float(ks_pvalue(statistic[worst], len(x))), parent.dim)
        return Score(float(statistic[worst]), p, detail)

    def floor(self, parent, n):
        from scipy import stats

        return float(stats.kstwo.isf(-np.expm1(np.log1p(-ALPHA) / parent.dim), n))


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
        from scipy import stats

        return float(stats.kstwo.isf(ALPHA, n))


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

        parent, u = context.parent, context.directions()
        projected = x @ u
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
        parent, u = context.parent, context.directions()
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

    def score(self, x, context):
        statistic, spread, effective = self.distances(x, context)
        rejected = ks_bh_rejections(statistic, effective)
        projected = x @ context.directions()
        if context.parent.name == "cauchy":  # no standard deviation: compare interquartile ranges
            q = np.percentile(projected, [25, 75], axis=0)
            wide = (q[1] - q[0]) / (2 * spread)
        else:
            wide = projected.std(axis=0, ddof=1) / spread
        narrow_count, wide_count = int(np.sum(rejected & (wide < 1))), int(np.sum(rejected & (wide >= 1)))
        parts = [f"too narrow in {_count(narrow_count, 'direction')}"] if narrow_count else []
        parts += [f"too wide in {_count(wide_count, 'direction')}"] if wide_count else []
        detail = (", ".join(parts) or "no direction rejected") + f" of {len(spread)} (BH)"
        return Score(float(statistic.max()), None, detail)


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


class MMD(Metric):
    """Unbiased MMD² with a Gaussian kernel against a fixed parent sample, in normal-score coordinates;
    bandwidth: the median distance within that sample (fixed, so the simulated null is exact).

    Kernels in float32: twice as fast in the products and four times in exp, and the rounding (1e-7 of
    a kernel value) is far below the floor (1e-4 of them); the null is drawn through the same code.
    """

    short = "MMD"

    name, label, costly, cap = "mmd", "MMD² (Gaussian kernel)", True, MMD_SAMPLES

    def fixed_side(self, context) -> tuple[np.ndarray, float, float]:
        """The reference's normal scores, the bandwidth², and the reference's own term of MMD²."""

        def build():
            y = normal_scores(context.reference("mmd", MMD_SAMPLES), context.parent).astype(np.float32)
            squared = _squared_distances(y, y)
            # The median over every pair, each counted twice (a view without the diagonal: the flat
            # array from its second element, in rows of n + 1, less their last column): the same
            # median as over the upper triangle, without its index arrays.
            m = len(y)
            bandwidth2 = float(np.median(squared.ravel()[1:].reshape(m - 1, m + 1)[:, :-1]))
            return y, bandwidth2, _mean_off_diagonal(_gaussian_kernel(squared, bandwidth2))

        return context.cached("mmd", build)

    def statistic(self, z: np.ndarray, context) -> float:
        """MMD² of normal scores ``z`` against the fixed reference."""
        y, bandwidth2, reference_term = self.fixed_side(context)
        z = np.asarray(z, dtype=np.float32)
        within = _mean_off_diagonal(_gaussian_kernel(_squared_distances(z, z), bandwidth2))
        between = float(_gaussian_kernel(_squared_distances(z, y), bandwidth2).mean(dtype=np.float64))
        return within + reference_term - 2 * between

    def score(self, x, context):
        return Score(self.statistic(normal_scores(x, context.parent), context))

    def simulate_null(self, context, n, repeats, rng):
        """The normal scores of an honest sample are N(0, I) exactly, whatever the parent: drawn as such,
        without the parent's sampler and CDFs."""
        return np.array(
            [
                self.statistic(rng.standard_normal((n, context.parent.dim), dtype=np.float32), context)
                for _ in range(repeats)
            ]
        )


def _gaussian_kernel(squared: np.ndarray, bandwidth2: float) -> np.ndarray:
    """exp(-squared / bandwidth2), in place."""
    squared *= -1 / bandwidth2
    return np.exp(squared, out=squared)


def _mean_off_diagonal(kernel: np.ndarray) -> float:
    n = len(kernel)
    return float((kernel.sum(dtype=np.float64) - np.trace(kernel, dtype=np.float64)) / (n * (n - 1)))


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """||a_i - b_j||² for every pair, in one (len(a), len(b)) array and no other of that size."""
    squared = a @ b.T
    squared *= -2
    squared += (a * a).sum(axis=1)[:, None]
    squared += (b * b).sum(axis=1)[None, :]
    return np.maximum(squared, 0, out=squared)


class Classifier(Metric):
    """Logistic regression (scikit-learn) on polynomial features of the normal scores, trained on the first
    half of the generated and of fresh parent samples; the accuracy on the other halves.

    Null: given the trained model, every held-out point is labelled 1 with the same probability q
    whichever its source, so the count of correct labels is Binomial(m, q) + Binomial(m, 1 - q): mean m,
    and by Hoeffding's theorem (1956) upper tails no heavier than Binomial(2m, 1/2)'s, which the
    p-value uses (exact at q = 1/2, conservative otherwise). Every held-out point counts, where a coin
    that kept one of each pair would lose half of them.
    """

    short = "classifier"

    name, label, null, costly = "classifier", "classifier accuracy (logistic, 4th powers)", "analytic", True
    cap = CLASSIFIER_SAMPLES
    least = 4  # two of each class to train on

    def score(self, x, context):
        from scipy import stats
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        half = len(x) // 2
        fresh = context.parent.sample(2 * half, context.rng("classifier"))
        labels = np.r_[np.ones(half), np.zeros(half)]
        train = self.features(np.vstack([x[:half], fresh[:half]]), context)
        held_out = self.features(np.vstack([x[half : 2 * half], fresh[half:]]), context)
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)).fit(train, labels)
        correct = int(np.sum(model.predict(held_out) == labels))
        p = float(stats.binom.sf(correct - 1, 2 * half, 0.5))
        return Score(correct / (2 * half), p, f"{correct} of {2 * half} held-out samples told apart")

    def features(self, x, context):
        """Powers 1 to 4 of each normal score, products of pairs (of 16 fixed mixtures above 16
        components) and the squared squared norm.

        With the right mean and covariance, every feature of degree 1 or 2 has the same mean for both
        classes, and a linear classifier on them sees nothing: the cubes (skew), the fourth powers
        (a bimodal or heavy-tailed component) and ||z||⁴ (a spread of norms) give it something to see.
        """
        z = np.clip(normal_scores(x, context.parent), -10, 10)
        if z.shape[1] > QUADRATIC_COMPONENTS:
            u = context.cached(
                "classifier directions",
                lambda: context.rng("classifier directions").standard_normal((z.shape[1], QUADRATIC_COMPONENTS)),
            )
            mixed = z @ (u / np.linalg.norm(u, axis=0))
        else:
            mixed = z
        rows, cols = np.triu_indices(mixed.shape[1], 1)
        squares = z * z
        norms = squares.sum(axis=1, keepdims=True)
        return np.hstack([z, squares, squares * z, squares * squares, mixed[:, rows] * mixed[:, cols], norms * norms])

    def floor(self, parent, n):
        from scipy import stats

        # The accuracy that 5% of honest samples exceed: above it, and only above it, p <= 5%.
        tested = n // 2 * 2
        return float(stats.binom.isf(ALPHA, tested, 0.5) / tested)


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
        from scipy import stats

        return float(stats.kstwo.isf(ALPHA, n * parent.dim))


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


class Memorisation(Metric):
    """Copies of training rows: for each generated sample, is its nearest neighbour among the training
    rows and as many fresh parent samples a training row? The value is the share that is, 1/2 for a
    generator whose samples do not depend on its training rows, whatever else is wrong with them.

    Null (exact, a permutation test): training rows and fresh samples are then two samples of the
    parent, so which half of the pooled rows is "training" is a uniformly random split; the count is
    redrawn over such splits. Comparing each sample's distance to the training rows with the distance of
    fresh samples to them instead would flag any generator that is too narrow (it sits where rows are
    dense) as a copier.
    """

    short = "memorisation"

    name, label, null, costly, cap = (
        "memorisation",
        "memorisation (nearest row a training row)",
        "analytic",
        True,
        MEMORISATION_SAMPLES,
    )
    SPLITS = 1999

    def undefined(self, parent):
        return ""

    def score(self, x, context):
        train = context.train
        assert train is not None
        rows = (
            train
            if len(train) <= MEMORISATION_TRAIN_ROWS
            else train[context.rng("memorisation rows").choice(len(train), MEMORISATION_TRAIN_ROWS, replace=False)]
        )
        fresh = context.parent.sample(len(rows), context.rng("memorisation"))
        distance, nearest = nearest_row(x, np.vstack([rows, fresh]))
        to_train = nearest < len(rows)
        count = int(to_train.sum())
        splits = self.split_counts(np.bincount(nearest, minlength=2 * len(rows)), len(rows), context)
        p = float((1 + np.count_nonzero(splits >= count)) / (len(splits) + 1))
        floor = float(np.quantile(splits, 1 - ALPHA)) / len(x)
        # A copy: a training row up to float32 rounding (a generator computes in float32).
        copies = int(np.sum(to_train & (distance <= 1e-7 * np.linalg.norm(x, axis=1))))
        detail = (
            f"{count} of {len(x)} samples nearest a training row (honest: half); "
            f"{_count(copies, 'copy', 'copies')} of a training row"
        )
        return Score(count / len(x), p, detail, floor)

    def split_counts(self, nearest_counts: np.ndarray, rows: int, context) -> np.ndarray:
        """The count over random splits of the pooled rows into ``rows`` "training" rows and the others:
        only the rows some sample is nearest to matter, labelled by drawing without replacement."""
        rng = context.rng("memorisation splits")
        counts = nearest_counts[nearest_counts > 0]
        totals = np.zeros(self.SPLITS)
        left = np.full(self.SPLITS, float(rows))  # training labels not yet handed out, per split
        for drawn, count in enumerate(counts):
            training = rng.random(self.SPLITS) < left / (2 * rows - drawn)
            totals += training * count
            left -= training
        return totals

    def floor(self, parent, n):
        raise NotImplementedError("memorisation's floor depends on the sample: Score.floor")


def nearest_row(x: np.ndarray, rows: np.ndarray, block: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """The index of the nearest row of ``rows`` to every sample of ``x``, found in blocks of bounded
    memory, and the distance to it (by subtraction: exactly 0 for a copy, where the expanded square
    ||x||² + ||r||² - 2 x·r leaves rounding)."""
    row_norms = (rows * rows).sum(axis=1)
    index = np.empty(len(x), dtype=np.int64)
    for start in range(0, len(x), block):
        squared = x[start : start + block] @ rows.T  # ||x||² is the same along a row: left out
        squared *= -2
        squared += row_norms[None, :]
        index[start : start + block] = squared.argmin(axis=1)
    return np.linalg.norm(x - rows[index], axis=1), index


METRICS: dict[str, Metric] = {
    metric.name: metric
    for metric in (
        Components(),
        Mahalanobis(),
        Projections(),
        Frechet(),
        MMD(),
        Classifier(),
        Tail(),
        Outside(),
        Memorisation(),
    )
}
# Memorisation needs the training rows: computed at the end of a run and by `evaluate --train`.
EPOCH_METRICS = tuple(name for name in METRICS if name != "memorisation")


def applicable(parent: Parent, names=None, with_train: bool = False) -> list[Metric]:
    """The metrics that mean something for this parent (memorisation only with training rows)."""
    chosen = [METRICS[name] for name in (names or METRICS)]
    return [
        metric for metric in chosen if not metric.undefined(parent) and (metric.name != "memorisation" or with_train)
    ]
