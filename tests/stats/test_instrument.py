"""n* as an instrument: the whole verdict's error rate on honest samples, and its power against the best
single tests there are.

The honest samples are drawn here with numpy and scipy directly, not with gaussgan's samplers: a bug
shared by a sampler and a metric cannot hide itself. Calibration counts the verdicts with a finite n*
(any rejection at the largest size: fixed-sequence testing, see gaussgan/stats/verdict.py); power compares
the n at which n* reaches 80% with the n at which the exact mean test, the exact covariance
likelihood-ratio test or the boosted-trees classifier alone, each at 5%, reach it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from gaussgan.distributions import make_parent
from gaussgan.stats.metrics import ALPHA, METRICS, Context, one_blas_thread
from gaussgan.stats.nulls import NullCache
from gaussgan.stats.verdict import distinguishability, grid_for

STRICT = 1e-3


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    with one_blas_thread():
        yield


# --- honest samples, drawn without gaussgan ----------------------------------------------------------------
def independent_sample(parent, n: int, rng: np.random.Generator) -> np.ndarray:
    """n samples of ``parent``'s law, from numpy and scipy alone (the parent's numbers, not its code)."""
    d, shape = parent.dim, (n, parent.dim)
    if parent.name == "gauss":
        return stats.multivariate_normal(np.full(d, parent.mu), parent.sigma).rvs(n, random_state=rng).reshape(shape)
    if parent.name == "uniform":
        return rng.uniform(parent.xlo, parent.xhi, shape)
    if parent.name == "cauchy":
        return stats.cauchy(parent.mu, np.diag(parent.sigma)).rvs(shape, random_state=rng)
    scale = np.sqrt(np.diag(parent.sigma))  # trunc_gauss: N(mu, sigma²) cut to [xlo, xhi], each component
    low, high = (parent.xlo - parent.mu) / scale, (parent.xhi - parent.mu) / scale
    return stats.truncnorm(low, high, parent.mu, scale).rvs(shape, random_state=rng)


FAMILIES = {
    "gauss-1": make_parent("gauss", 1),
    "gauss-10": make_parent("gauss", 10),
    "gauss-100": make_parent("gauss", 100),
    "correlated-10": make_parent("gauss", 10, mu=0.5, sigma=(2.0, 0.5, 5)),
    "trunc_gauss-5": make_parent("trunc_gauss", 5),
    "uniform-5": make_parent("uniform", 5),
    "cauchy-5": make_parent("cauchy", 5),
}


def false_alarms(parent, verdicts: int, per_context: int, max_n: int, family: int) -> int:
    """Verdicts with a finite n* among ``verdicts`` honest ones; a context (its references and nulls) is
    shared by ``per_context`` verdicts, so that the nulls' own randomness is averaged over too."""
    finite = 0
    for context_seed in range(verdicts // per_context):
        context, cache = Context(parent, seed=context_seed), NullCache()
        for draw in range(per_context):
            rng = np.random.default_rng([family, context_seed, draw])
            result = distinguishability(independent_sample(parent, max_n, rng), context, cache, max_n=max_n)
            finite += result.n_star is not None
    return finite


def test_the_independent_samplers_are_the_parents_laws():
    """Each family's sampler here against the parent's own exact marginal CDFs (KS per component)."""
    for index, parent in enumerate(FAMILIES.values()):
        x = independent_sample(parent, 2000, np.random.default_rng([index, 99]))
        cdf = parent.marginal_cdf(x)
        pvalues = [stats.kstest(cdf[:, j], "uniform").pvalue for j in range(min(parent.dim, 5))]
        assert min(pvalues) > STRICT / 35, (parent, pvalues)


def test_a_small_calibration_of_the_whole_verdict():
    """60 honest verdicts of a correlated 10-d Gaussian and 60 of a 5-d uniform at n up to 500: a verdict
    without its corrections (7 tests at 5% each, four sizes) would alarm in a quarter of them or more."""
    for name in ("correlated-10", "uniform-5"):
        finite = false_alarms(FAMILIES[name], 60, 20, 500, list(FAMILIES).index(name))
        print(f"{name}: finite n* in {finite} of 60 honest verdicts")
        assert finite <= stats.binom.isf(STRICT / 2, 60, ALPHA), (name, finite)


CALIBRATION_VERDICTS = 300


@pytest.mark.slow
@pytest.mark.parametrize("name", FAMILIES)
def test_the_whole_verdict_holds_five_percent_for_honest_samples(name, record_property):
    """300 honest verdicts per family (15 contexts of 20), every metric and every size up to 2,000 (1,000 at
    d = 100): finite n* at most 5% within binomial bounds."""
    parent = FAMILIES[name]
    max_n = 1000 if parent.dim >= 100 else 2000
    finite = false_alarms(parent, CALIBRATION_VERDICTS, 20, max_n, list(FAMILIES).index(name))
    low, high = stats.binom.interval(0.95, CALIBRATION_VERDICTS, finite / CALIBRATION_VERDICTS)
    print(
        f"{name}: finite n* in {finite} of {CALIBRATION_VERDICTS} honest verdicts (95% interval {low:.0f}-{high:.0f})"
    )
    record_property("false_alarms", finite)
    assert finite <= stats.binom.isf(STRICT / len(FAMILIES), CALIBRATION_VERDICTS, ALPHA), (name, finite)


# --- power against the best single tests --------------------------------------------------------------------
def mean_shift(shift: float):
    def draw(n, d, rng):
        x = rng.standard_normal((n, d))
        x[:, 0] += shift
        return x

    return draw


def one_correlation(rho: float):
    """Components 0 and 1 correlated at rho: every marginal exact, ||Σ - I||_F = rho √2."""

    def draw(n, d, rng):
        x = rng.standard_normal((n, d))
        x[:, 1] = rho * x[:, 0] + math.sqrt(1 - rho * rho) * x[:, 1]
        return x

    return draw


def on_fewer_dimensions(n, d, rng):
    """The last component sign(x0 x1)|x2|: exact marginals, mean and covariance; d - 1 dimensions."""
    x = rng.standard_normal((n, d))
    x[:, -1] = np.sign(x[:, 0] * x[:, 1]) * np.abs(x[:, 2])
    return x


def mean_reference(x, context):
    mean = x.mean(axis=0)
    return stats.chi2.sf(len(x) * mean @ mean, x.shape[1])


def metric_reference(name):
    return lambda x, context: METRICS[name].score(x, context).p


def n_at_80_percent(sizes, power) -> float:
    """The n at which ``power`` (measured at ``sizes``) reaches 80%, interpolated in log n; inf if never."""
    for index, (n, rate) in enumerate(zip(sizes, power, strict=True)):
        if rate >= 0.8:
            if index == 0:
                return float(n)
            n0, rate0 = sizes[index - 1], power[index - 1]
            return float(np.exp(np.log(n0) + (0.8 - rate0) / (rate - rate0) * np.log(n / n0)))
    return math.inf


def power_curves(d, defect, reference, max_n, seeds):
    """P(n* <= n) and the reference test's power at each size of the grid, over ``seeds`` draws."""
    parent = make_parent("gauss", d)
    context, cache, sizes = Context(parent, seed=0), NullCache(), grid_for(max_n, max_n)
    n_star_at, reference_at = np.zeros(len(sizes)), np.zeros(len(sizes))
    for seed in range(seeds):
        x = defect(max_n, d, np.random.default_rng([d, seed, 11]))
        n_star = distinguishability(x, context, cache, max_n=max_n).n_star
        for index, n in enumerate(sizes):
            n_star_at[index] += n_star is not None and n_star <= n
            p = reference(x[:n], context)  # None where the test cannot be computed (covariance, n <= d)
            reference_at[index] += p is not None and p <= ALPHA
    return sizes, n_star_at / seeds, reference_at / seeds


POWER = [
    # d, defect, the reference test, largest n, seeds
    (10, "mean shift 0.09", mean_shift(0.09), mean_reference, 10_000, 40),
    (10, "correlation 0.12", one_correlation(0.12), metric_reference("covariance"), 10_000, 40),
    (10, "9 of 10 dimensions", on_fewer_dimensions, metric_reference("classifier"), 2000, 40),
    (100, "mean shift 0.14", mean_shift(0.14), mean_reference, 10_000, 25),
    (100, "correlation 0.25", one_correlation(0.25), metric_reference("covariance"), 10_000, 25),
    (100, "99 of 100 dimensions", on_fewer_dimensions, metric_reference("classifier"), 10_000, 25),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    "d, name, defect, reference, max_n, seeds", POWER, ids=[f"{row[1]}-d{row[0]}" for row in POWER]
)
def test_n_star_reaches_80_percent_power_within_a_quarter_of_the_best_single_test(
    d, name, defect, reference, max_n, seeds
):
    sizes, n_star, best = power_curves(d, defect, reference, max_n, seeds)
    ours, theirs = n_at_80_percent(sizes, n_star), n_at_80_percent(sizes, best)
    print(f"d = {d}, {name}: sizes {sizes}; P(n* <= n) {n_star.round(2).tolist()}; reference {best.round(2).tolist()}")
    print(
        f"d = {d}, {name}: 80% power at n = {ours:,.0f} (n*) and {theirs:,.0f} (the reference alone): {ours / theirs:.2f}x"
    )
    assert math.isfinite(theirs), "the defect is too small for the sizes tested"
    assert ours <= 1.25 * theirs
