"""The exact Gaussian tests (mean, covariance likelihood ratio), weighted Holm and the power statements,
each against scipy/numpy computed another way."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from gaussgan.distributions import make_parent
from gaussgan.stats import corrections, power
from gaussgan.stats.metrics import ALPHA, METRICS, Context
from gaussgan.stats.metrics.gaussian import bartlett_null, stein_loss

STRICT = 1e-3


# --- weighted Holm ------------------------------------------------------------------------------------------
def weighted_holm_by_closed_testing(pvalues, weights, alpha):
    """By its definition: hypothesis i is rejected when every intersection S containing it is rejected by
    the weighted Bonferroni test, some j in S with p_j <= alpha w_j / sum_S w."""
    m = len(pvalues)
    return [
        all(
            any(pvalues[j] <= alpha * weights[j] / sum(weights[k] for k in subset) for j in subset)
            for size in range(1, m + 1)
            for subset in itertools.combinations(range(m), size)
            if i in subset
        )
        for i in range(m)
    ]


def test_weighted_holm_is_closed_testing_of_weighted_bonferroni():
    rng = np.random.default_rng(1)
    for size in range(1, 8):
        for _ in range(40):
            pvalues = list(rng.uniform(0, 0.06, size))
            weights = list(rng.choice([1.0, 3.0, 0.5], size))
            expected = weighted_holm_by_closed_testing(pvalues, weights, ALPHA)
            assert corrections.weighted_holm(pvalues, weights) == expected, (pvalues, weights)
    # Equal weights: Holm's procedure.
    assert corrections.weighted_holm([0.01, 0.04, 0.03, 0.2], [2, 2, 2, 2]) == corrections.holm([0.01, 0.04, 0.03, 0.2])
    with pytest.raises(ValueError):
        corrections.weighted_holm([0.01], [0])


# --- the mean test ------------------------------------------------------------------------------------------
CORRELATED = make_parent("gauss", 4, mu=0.5, sigma=(2.0, 0.6, 4))


def test_the_mean_test_is_the_chi2_test_of_the_whitened_mean():
    x = CORRELATED.sample(300, np.random.default_rng(2)) + 0.05
    score = METRICS["mean"].score(x, Context(CORRELATED))
    # Independently: n (x_bar - mu)^T Sigma^-1 (x_bar - mu) ~ chi2_d, with a solve, not the Cholesky whitening.
    centred = x.mean(axis=0) - 0.5
    statistic = len(x) * centred @ np.linalg.solve(CORRELATED.sigma, centred)
    assert score.value * len(x) == pytest.approx(statistic, rel=1e-10)
    assert score.p == pytest.approx(stats.chi2.sf(statistic, 4), rel=1e-9)
    assert METRICS["mean"].floor(CORRELATED, 300) == pytest.approx(stats.chi2.ppf(0.95, 4) / 300)


# --- the covariance likelihood-ratio test -------------------------------------------------------------------
def test_stein_loss_is_trace_minus_log_determinant():
    s = stats.wishart.rvs(df=30, scale=np.eye(5) / 30, random_state=3)
    expected = np.trace(s) - np.linalg.slogdet(s)[1] - 5
    assert stein_loss(np.linalg.eigvalsh(s)) == pytest.approx(expected, rel=1e-10)
    assert stein_loss(np.ones(3)) == 0.0


@pytest.mark.parametrize("d, m", [(1, 5), (3, 12), (6, 40)])
def test_bartletts_null_has_the_law_of_wishart_matrices(d, m):
    """The value drawn from d + 1 chi-squares against the value of full Wishart(m, I) matrices (scipy)."""
    fast = bartlett_null(d, m, 4000, np.random.default_rng(4))
    matrices = np.reshape(stats.wishart.rvs(df=m, scale=np.eye(d), size=4000, random_state=5), (4000, d, d)) / m
    slow = stein_loss(np.linalg.eigvalsh(matrices))
    assert stats.ks_2samp(fast, slow).pvalue > STRICT, (fast.mean(), slow.mean())


def test_the_covariance_test_is_uniform_for_honest_samples_and_sees_a_wrong_covariance():
    metric, context = METRICS["covariance"], Context(CORRELATED)
    rng = np.random.default_rng(6)
    honest = [metric.score(CORRELATED.sample(60, rng), context).p for _ in range(300)]
    assert stats.kstest(honest, "uniform").pvalue > STRICT
    wrong = CORRELATED.sample(2000, rng)
    wrong[:, 0] = 0.5 + (wrong[:, 0] - 0.5) * 1.2
    assert metric.score(wrong, context).p < 1e-3
    assert metric.score(wrong[:3], context).detail.startswith("left out: needs more samples than dimensions")


# --- what the tests could have seen -------------------------------------------------------------------------
def test_the_detectable_mean_shift_has_80_percent_power():
    d, n, level = 10, 2000, 0.0136
    delta = power.detectable_mean_shift(d, n, level)
    draws = np.random.default_rng(7).noncentral_chisquare(d, n * delta**2, 200_000)
    assert np.mean(draws > stats.chi2.isf(level, d)) == pytest.approx(0.8, abs=0.005)


def test_the_detectable_covariance_error_has_about_80_percent_power():
    """Simulated: the covariance test at its level on samples with Sigma_w = I + E, ||E||_F the detectable
    error spread over the diagonal; the approximation holds within a few points at this size."""
    d, n, level = 5, 800, 0.0136
    error = power.detectable_covariance_error(d, n, level)
    diagonal = np.sqrt(1 + error / np.sqrt(d))
    metric, parent = METRICS["covariance"], make_parent("gauss", d)
    context, rng = Context(parent), np.random.default_rng(8)
    rate = np.mean([metric.score(rng.standard_normal((n, d)) * diagonal, context).p <= level for _ in range(400)])
    assert 0.7 <= rate <= 0.9, rate


def test_the_detectable_cdf_gap_has_at_least_80_percent_power():
    """A component shifted so that its CDF is off by the stated gap at its worst point: the per-component
    test (Sidak over 3 components) rejects at least 80% of the time."""
    d, n, level = 3, 1000, 0.01
    gap = power.detectable_cdf_gap(d, n, level)
    shift = 2 * stats.norm.ppf((1 + gap) / 2)  # N(shift, 1) against N(0, 1): the CDFs differ most at shift / 2
    assert 2 * stats.norm.cdf(shift / 2) - 1 == pytest.approx(gap)
    parent, metric, rng = make_parent("gauss", d), METRICS["components"], np.random.default_rng(9)
    context = Context(parent)
    rate = np.mean([metric.score(rng.standard_normal((n, d)) + [shift, 0, 0], context).p <= level for _ in range(300)])
    assert rate >= 0.8, rate
