"""The data limit's statistics against numpy and simulation: the Gaussian fit, its samples, the
Marchenko–Pastur range and the spectrum of a sample."""

from __future__ import annotations

import numpy as np
import pytest

from gaussgan.distributions import Parent
from gaussgan.stats.data_limit import fit_samples, gaussian_fit, marchenko_pastur, on_a_lower_dimensional_set, spectrum


def test_the_fit_is_numpys_sample_mean_and_covariance():
    rows = np.random.default_rng(0).normal(size=(500, 4)) @ np.diag([1, 2, 3, 4]) + 5
    mean, covariance = gaussian_fit(rows)
    np.testing.assert_allclose(mean, rows.mean(axis=0))
    np.testing.assert_allclose(covariance, np.cov(rows.T))


def test_samples_of_the_fit_have_its_mean_and_covariance():
    rng = np.random.default_rng(1)
    rows = rng.normal(size=(300, 3)) @ np.array([[1, 0.5, 0], [0, 1, 0.3], [0, 0, 2]])
    mean, covariance = gaussian_fit(rows)
    drawn = fit_samples(rows, 200_000, rng)
    np.testing.assert_allclose(drawn.mean(axis=0), mean, atol=0.02)
    np.testing.assert_allclose(np.cov(drawn.T), covariance, atol=0.03)


def test_a_fit_of_fewer_rows_than_dimensions_stays_in_their_span():
    rng = np.random.default_rng(2)
    rows = rng.normal(size=(5, 20))
    drawn = fit_samples(rows, 1000, rng)
    centred_rows, centred = rows - rows.mean(axis=0), drawn - rows.mean(axis=0)
    projection = np.linalg.pinv(centred_rows) @ centred_rows  # onto the span of the centred rows
    np.testing.assert_allclose(centred @ projection, centred, atol=1e-10)


@pytest.mark.parametrize("dim, n", [(50, 1000), (200, 800)])
def test_the_eigenvalues_of_an_honest_sample_fill_the_marchenko_pastur_range(dim, n):
    low, high = marchenko_pastur(dim, n)
    eigenvalues = np.linalg.eigvalsh(np.cov(np.random.default_rng(3).normal(size=(n, dim)).T))
    # Finite-size edges fluctuate by about n^(-2/3); the bulk fills the range.
    assert low - 0.05 < eigenvalues[0] < low + 0.1 and high - 0.15 < eigenvalues[-1] < high + 0.1
    assert marchenko_pastur(dim, 10 * n)[0] > low  # more rows, a narrower range


def test_more_dimensions_than_rows_leave_zero_eigenvalues():
    assert marchenko_pastur(100, 50)[0] == 0 and marchenko_pastur(100, 50)[1] == pytest.approx((1 + 2**0.5) ** 2)


def test_a_latent_space_smaller_than_the_data_is_flagged():
    assert on_a_lower_dimensional_set(5, 10) and not on_a_lower_dimensional_set(10, 10)


def test_the_spectrum_of_an_honest_sample_and_of_a_narrow_one():
    parent = Parent("gauss", 10)
    rng = np.random.default_rng(4)
    honest = spectrum(parent.sample(50_000, rng), parent)
    low, high = marchenko_pastur(10, 50_000)
    assert low - 0.01 < honest["eigenvalue_min"] and honest["eigenvalue_max"] < high + 0.01
    assert honest["mean_squared_norm"] == pytest.approx(10, rel=0.02) and honest["n"] == 50_000
    narrow = spectrum(0.9 * parent.sample(50_000, rng), parent)
    assert narrow["eigenvalue_max"] < 0.85 and narrow["mean_squared_norm"] == pytest.approx(8.1, rel=0.02)
