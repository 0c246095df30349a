"""Parent distributions against scipy.stats: exact marginals, covariance, norms."""

import numpy as np
import pytest
from scipy import stats

from gaussgan.distributions import PARENTS, Parent, chi_pdf, covariance_matrix, expected_norm, make_parent
from gaussgan.errors import UserError

N = 20_000


def ks_pvalues(parent: Parent, x: np.ndarray) -> list[float]:
    return [stats.kstest(x[:, i], parent.marginal(i).cdf).pvalue for i in range(parent.dim)]


@pytest.mark.parametrize("name", PARENTS)
@pytest.mark.parametrize("mu, diag", [(0.0, 1.0), (0.7, 2.5)])
def test_every_component_follows_the_exact_marginal(name, mu, diag):
    parent = make_parent(name, 4, mu=mu, sigma=(diag, 0.0, 1), xlo=-1.0, xhi=2.0)
    x = parent.sample(N, np.random.default_rng(11))
    assert x.shape == (N, 4) and x.dtype == np.float64
    # 8 tests per parent: with a correct sampler all should pass at 1e-3 almost surely.
    assert min(ks_pvalues(parent, x)) > 1e-3


def test_a_wrong_sampler_would_be_caught():
    parent = make_parent("gauss", 2)
    shifted = parent.sample(N, np.random.default_rng(0)) + 0.05
    assert min(ks_pvalues(parent, shifted)) < 1e-3


@pytest.mark.parametrize("mu, xlo, xhi", [(0.0, 3.0, 9.0), (0.0, -9.0, -4.0), (1.0, 0.5, 0.6)])
def test_truncated_gauss_in_the_tails_and_narrow(mu, xlo, xhi):
    parent = make_parent("trunc_gauss", 2, mu=mu, xlo=xlo, xhi=xhi)
    x = parent.sample(N, np.random.default_rng(3))
    assert x.min() >= xlo and x.max() <= xhi
    assert min(ks_pvalues(parent, x)) > 1e-3


@pytest.mark.parametrize("sigma", [(1.0, 0.5, 2), (2.0, -0.4, 5), (1.0, 0.4, -1), (1.0, 0.3, 10)])
def test_sample_covariance_matches_sigma(sigma):
    parent = make_parent("gauss", 10, mu=0.3, sigma=sigma)
    x = parent.sample(100_000, np.random.default_rng(5))
    np.testing.assert_allclose(np.cov(x, rowvar=False), parent.sigma, atol=0.04)
    np.testing.assert_allclose(x.mean(axis=0), 0.3, atol=0.03)


def test_covariance_layouts():
    block = covariance_matrix(4, 2.0, 0.5, 2)
    np.testing.assert_array_equal(block, [[2, 0.5, 0, 0], [0.5, 2, 0, 0], [0, 0, 2, 0.5], [0, 0, 0.5, 2]])
    band = covariance_matrix(4, 1.0, 0.3, -1)
    np.testing.assert_array_equal(band, [[1, 0.3, 0, 0], [0.3, 1, 0.3, 0], [0, 0.3, 1, 0.3], [0, 0, 0.3, 1]])
    np.testing.assert_array_equal(covariance_matrix(3, 1.0, 0.0, 1), np.eye(3))


@pytest.mark.parametrize("dim", [1, 2, 10, 100])
def test_norm_of_standard_gauss_follows_chi(dim):
    parent = make_parent("gauss", dim)
    assert parent.is_standard_normal
    norms = np.linalg.norm(parent.sample(N, np.random.default_rng(dim)), axis=1)
    assert stats.kstest(norms, stats.chi(dim).cdf).pvalue > 1e-3
    mean, std = expected_norm(parent)
    assert mean == pytest.approx(norms.mean(), abs=4 * std / np.sqrt(N))


def test_same_generator_state_same_samples():
    for name in PARENTS:
        parent = make_parent(name, 3)
        a = parent.sample(50, np.random.default_rng(9))
        b = parent.sample(50, np.random.default_rng(9))
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(name="gauss", dim=10, sigma=(1.0, 0.5, 3)), ["does not divide"]),
        (dict(name="gauss", dim=4, sigma=(1.0, 1.5, 2)), ["not positive definite"]),
        (dict(name="gauss", dim=4, sigma=(-1.0, 0.0, 1)), ["DIAG"]),
        (dict(name="trunc_gauss", dim=2, xlo=1.0, xhi=1.0), ["xlo < xhi"]),
        (dict(name="uniform", dim=2, xlo=2.0, xhi=1.0), ["xlo < xhi"]),
        (dict(name="cauchy", dim=2, sigma=(1.0, 0.2, 2)), ["OFFDIAG"]),
        (dict(name="poisson", dim=2), ["unknown parent"]),
        (dict(name="gauss", dim=0), ["dimension"]),
    ],
)
def test_invalid_parents_are_clear_errors(kwargs, words):
    with pytest.raises(UserError) as raised:
        make_parent(**kwargs)
    for word in words:
        assert word in str(raised.value)


@pytest.mark.parametrize("dim", [1, 2, 3, 10, 100, 1000])
def test_chi_density_and_moments_match_scipy(dim):
    grid = np.linspace(0, np.sqrt(dim) + 6, 200)
    np.testing.assert_allclose(chi_pdf(grid, dim), stats.chi.pdf(grid, dim), rtol=1e-9, atol=1e-300)
    mean, std = expected_norm(make_parent("gauss", dim))
    assert mean == pytest.approx(stats.chi.mean(dim), rel=1e-10)
    assert std == pytest.approx(stats.chi.std(dim), rel=1e-8)


@pytest.mark.parametrize(
    "mu, diag, xlo, xhi",
    [
        (0.0, 1.0, 40.0, 50.0),
        (0.0, 1.0, -50.0, -40.0),
        (0.0, 1.0, 8.0, 8.001),
        (0.0, 1.0, -1e3, 1e3),
        (2.0, 4.0, 102.0, 110.0),
        (0.0, 1.0, -1e6 - 1.0, -1e6),
        (0.0, 1.0, 5.0, 1e300),
    ],
)
def test_truncated_gauss_far_in_either_tail_matches_scipy(mu, diag, xlo, xhi):
    """The normal CDF underflows beyond ~38 standard deviations ([40, 50] once gave 50.0 every time)."""
    parent = make_parent("trunc_gauss", 2, mu=mu, sigma=(diag, 0.0, 1), xlo=xlo, xhi=xhi)
    x = parent.sample(N, np.random.default_rng(7))
    assert np.all(np.isfinite(x)) and x.min() >= xlo and x.max() <= xhi
    scale = np.sqrt(diag)
    lower, upper = (xlo - mu) / scale, (xhi - mu) / scale
    nearer = lower if abs(lower) < abs(upper) else upper
    if lower * upper <= 0 or abs(nearer) < 1e3:  # scipy's own truncnorm is exact here
        with np.errstate(over="ignore"):  # scipy squares the far bound of [5, 1e300]
            exact = stats.truncnorm(lower, upper, mu, scale)
            assert abs(x.mean() - exact.mean()) < 5 * exact.std() / np.sqrt(x.size)
            assert min(ks_pvalues(parent, x)) > 1e-3
    else:  # a million sigmas out, beyond scipy: the distance to the nearer bound is exponential, of rate |bound|
        bound = xlo if nearer == lower else xhi
        distance = np.abs(x - bound) * abs(nearer) / scale
        assert stats.kstest(distance.ravel(), stats.expon.cdf).pvalue > 1e-3


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(name="gauss", mu=1e308, sigma=(1e300, 0.0, 1)), ["values up to about 1e+308"]),
        (dict(name="gauss", sigma=(1e308, 0.0, 1)), ["4e+155"]),
        (dict(name="cauchy", sigma=(1e300, 0.0, 1)), ["Cauchy", "inf"]),
        (dict(name="uniform", xlo=-1e200, xhi=1e200), ["--xlo/--xhi"]),
        (dict(name="trunc_gauss", mu=1e300), ["standard deviations"]),
        (dict(name="trunc_gauss", xlo=1e200, xhi=1e201), ["values up to about 1e+200"]),
        (dict(name="trunc_gauss", sigma=(1e-300, 0.0, 1), xlo=1e140, xhi=2e140), ["1e+290 standard deviations"]),
    ],
)
def test_parameters_that_would_overflow_are_refused(kwargs, words):
    with pytest.raises(UserError) as raised:
        make_parent(dim=2, **kwargs)
    for word in words:
        assert word in str(raised.value)


@pytest.mark.parametrize(
    "name, sigma",
    [
        ("gauss", (1.0, 0.0, 1)),
        ("gauss", (2.0, 0.3, -1)),
        ("trunc_gauss", (2.0, 0.0, 1)),
        ("cauchy", (1.0, 0.0, 1)),
        ("uniform", (1.0, 0.0, 1)),
    ],
)
def test_sample_memory_covers_what_sampling_allocates(name, sigma):
    import tracemalloc

    parent = make_parent(name, 50, mu=0.5, sigma=sigma, xlo=-1.0, xhi=2.0)
    tracemalloc.start()
    parent.sample(4000, np.random.default_rng(0))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # Besides the batch, ufunc buffers of a fixed size (broadcast bounds): 256 KB covers them.
    assert peak <= 1.05 * parent.sample_memory(4000) + 2**18, (peak, parent.sample_memory(4000))
