"""Diagnostics agree with scipy / numpy on fixed inputs."""

import numpy as np
import pytest
from scipy import stats

from gaussgan.stats import diagnostics


@pytest.fixture
def samples():
    rng = np.random.default_rng(7)
    return (
        rng.standard_normal((500, 6)) * [1, 1, 1, 1, 1, 1.6],
        rng.standard_normal((500, 6)),
        rng.standard_normal((500, 6)),
    )


def test_component_ks_is_scipy_per_column(samples):
    generated, parent, _ = samples
    statistic, pvalue = diagnostics.component_ks(generated, parent)
    for column in range(6):
        expected = stats.ks_2samp(generated[:, column], parent[:, column])
        assert statistic[column] == pytest.approx(expected.statistic)
        assert pvalue[column] == pytest.approx(expected.pvalue)
    assert pvalue[5] < 1e-6  # the widened component is caught


def test_rejections_raw_and_benjamini_hochberg_by_hand():
    # BH adjusted p: 0.005, 0.025, 0.0333, 0.05, 0.5 -> three below 0.05; four raw p-values below 0.05.
    assert diagnostics.rejected(np.array([0.04, 0.001, 0.5, 0.02, 0.01])) == (4, 3)
    assert diagnostics.rejected(np.array([0.9, 0.6])) == (0, 0)


def test_ks_floor_matches_the_known_value_for_1000_vs_1000():
    assert diagnostics.ks_critical_value(1000, 1000) == pytest.approx(0.0607, abs=5e-4)


def test_correlations_and_their_off_diagonal_spread(samples):
    generated, _, _ = samples
    matrix = diagnostics.correlation(generated)
    np.testing.assert_allclose(matrix, np.corrcoef(generated.T))
    upper = [matrix[i, j] for i in range(6) for j in range(i + 1, 6)]
    assert diagnostics.off_diagonal_std(matrix) == pytest.approx(np.std(upper))
    assert np.isnan(diagnostics.off_diagonal_std(diagnostics.correlation(generated[:, :1])))


def test_compare_summary(samples):
    generated, parent, train = samples
    result = diagnostics.compare(generated, parent, train)
    summary = result.summary()
    norm_test = stats.ks_2samp(np.linalg.norm(generated, axis=1), np.linalg.norm(parent, axis=1))
    assert summary["norm_ks_parent_D"] == pytest.approx(norm_test.statistic)
    assert summary["norm_ks_parent_p"] == pytest.approx(norm_test.pvalue)
    assert summary["std_max"] == pytest.approx(generated.std(axis=0, ddof=1).max())
    assert summary["mean_min"] == pytest.approx(generated.mean(axis=0).min())
    assert summary["rejected_raw"] >= 1 and summary["comp_ks_max_D"] == pytest.approx(result.ks_statistic.max())


def test_a_perfect_generator_sits_at_the_noise_floor():
    rng = np.random.default_rng(0)
    rejected = [
        diagnostics.compare(*(rng.standard_normal((1000, 20)) for _ in range(3))).rejected_raw for _ in range(20)
    ]
    assert 0.01 < np.mean(rejected) / 20 < 0.10  # about 5% rejected at 0.05


def test_a_diverged_generator_counts_as_rejected_instead_of_crashing(samples):
    generated, parent, train = samples
    generated = generated.copy()
    generated[:, 2] = np.nan
    summary = diagnostics.compare(generated, parent, train).summary()
    assert summary["rejected_raw"] >= 1 and summary["rejected_bh"] >= 1
