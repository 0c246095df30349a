"""The statistics of the verdict against scipy / numpy and against their own definitions.

Each metric's building blocks (KS distance, Holm, Šidák, Fréchet, MMD², the parent's whitening,
normal scores and moments), the fast exact nulls against the generic simulation, the analytic floors
against simulated ones, the null cache, and the sentences a verdict reads out.
"""

import itertools

import numpy as np
import pytest
from scipy import linalg, spatial, special, stats

from gaussgan.distributions import PARENTS, Parent, make_parent
from gaussgan.errors import UserError
from gaussgan.stats import metrics, nulls, verdict
from gaussgan.stats.metrics import METRICS, Context
from gaussgan.stats.nulls import Judged, NullCache

# The tests below draw from fixed seeds: each passes or fails the same way every time. Their bounds are
# set at a level that a correct implementation would miss once in a thousand seeds or fewer.
STRICT = 1e-3


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """As the verdict and the epoch columns run them (a second BLAS thread only slows these small products)."""
    with metrics.one_blas_thread():
        yield


def parents(dim: int) -> list[Parent]:
    """One parent of each kind, with non-trivial parameters (a correlated, shifted, scaled Gaussian)."""
    return [
        make_parent("gauss", dim, mu=0.5, sigma=(2.0, 0.6, 2) if dim % 2 == 0 else (2.0, 0.0, 1)),
        make_parent("trunc_gauss", dim, mu=0.3, sigma=(1.5, 0.0, 1), xlo=-1.0, xhi=2.0),
        make_parent("cauchy", dim, mu=-1.0, sigma=(0.5, 0.0, 1)),
        make_parent("uniform", dim, xlo=-2.0, xhi=3.0),
    ]


# --- building blocks ---------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 17, 500])
def test_ks_distance_is_scipy_ks_1samp(n):
    rng = np.random.default_rng(n)
    x = rng.standard_normal((n, 4)) * [1, 1.2, 0.8, 1] + [0, 0, 0, 0.3]
    ours = metrics.ks_distance(stats.norm.cdf(x))
    for column in range(4):
        expected = stats.ks_1samp(x[:, column], stats.norm.cdf, method="exact")
        assert ours[column] == pytest.approx(expected.statistic, abs=1e-14)
        assert metrics.ks_pvalue(ours[column], n) == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-14)
    # Along the other axis (the repeats of a simulated null are rows), the same numbers.
    np.testing.assert_allclose(metrics.ks_distance(stats.norm.cdf(x.T), axis=1), ours, atol=1e-14)


def holm_by_closed_testing(pvalues: list[float], alpha: float) -> list[bool]:
    """Holm's procedure by its definition: closed testing of Bonferroni-tested intersections. Hypothesis i
    is rejected when every intersection that contains it is, i.e. min over S of p <= alpha / |S|."""
    m = len(pvalues)
    return [
        all(
            min(pvalues[j] for j in subset) <= alpha / len(subset)
            for size in range(1, m + 1)
            for subset in itertools.combinations(range(m), size)
            if i in subset
        )
        for i in range(m)
    ]


def test_holm_is_closed_testing_of_bonferroni():
    rng = np.random.default_rng(0)
    cases = [list(rng.uniform(0, 0.1, size)) for size in range(1, 8) for _ in range(30)]
    cases += [[0.01, 0.04, 0.03, 0.2], [0.05], [0.0125, 0.0125, 0.5, 0.5], [0.0, 1.0, 0.02], []]
    for pvalues in cases:
        assert metrics.holm(pvalues) == holm_by_closed_testing(pvalues, metrics.ALPHA), pvalues
    # The crafted one by hand: 0.01 <= 0.05/4; then 0.03 > 0.05/3 stops the procedure (0.04 too, though < 0.05).
    assert metrics.holm([0.01, 0.04, 0.03, 0.2]) == [True, False, False, False]


def test_sidak_is_the_law_of_the_smallest_of_independent_uniforms():
    for p, tests in [(0.01, 1), (0.01, 10), (1e-12, 100), (0.3, 3), (0.999, 2)]:
        assert metrics.sidak(p, tests) == pytest.approx(1 - (1 - p) ** tests, rel=1e-9)
    assert metrics.sidak(1.0, 5) == 1.0 and metrics.sidak(0.0, 5) == 0.0
    minima = np.random.default_rng(1).random((20_000, 10)).min(axis=1)
    # P(sidak(min) <= 0.05) = 0.05 when the tests are independent
    rate = np.mean([metrics.sidak(p, 10) <= 0.05 for p in minima])
    low, high = stats.binom.interval(1 - STRICT, 20_000, 0.05)
    assert low / 20_000 <= rate <= high / 20_000


@pytest.mark.parametrize("n", [50, 200, 1000, 5000])
def test_the_details_ks_p_values_are_within_3_percent_of_the_exact_ones(n):
    pvalues = np.array([0.9, 0.5, 0.1, 0.05, 0.01, 1e-3, 1e-4])
    approximate = metrics.ks_pvalue_approximate(stats.kstwo.isf(pvalues, n), n)
    np.testing.assert_allclose(approximate, pvalues, rtol=0.03)


def frechet_by_sqrtm(mean1, cov1, mean2, cov2) -> float:
    """The textbook formula: ||m1 - m2||² + tr(C1 + C2 - 2 (C1 C2)^1/2)."""
    root = linalg.sqrtm(cov1 @ cov2)
    return float(np.sum((mean1 - mean2) ** 2) + np.trace(cov1 + cov2 - 2 * np.real(root)))


def test_frechet_from_moments_is_the_sqrtm_formula():
    rng = np.random.default_rng(2)
    means, eigenvalues = [], []
    for d in (1, 3, 10):
        for _ in range(3):
            a = rng.standard_normal((d, d + 5))
            covariance, mean = a @ a.T / (d + 5), rng.standard_normal(d) * 0.3
            expected = frechet_by_sqrtm(mean, covariance, np.zeros(d), np.eye(d))
            assert metrics.frechet_from_moments(mean, covariance) == pytest.approx(expected, rel=1e-7, abs=1e-10)
            if d == 10:
                means.append(mean)
                eigenvalues.append(np.linalg.eigvalsh(covariance))
    # A stack of them at once (the Wishart null) gives each one's value.
    stacked = metrics.frechet_from_moments(np.array(means), None, np.array(eigenvalues))
    singles = [metrics.frechet_from_moments(m, None, e) for m, e in zip(means, eigenvalues, strict=True)]
    np.testing.assert_allclose(stacked, singles, rtol=1e-12)


def test_mmd_is_the_unbiased_estimate_computed_pair_by_pair(monkeypatch):
    monkeypatch.setattr(metrics.mmd, "MMD_REFERENCE", 40)
    parent = make_parent("uniform", 3, xlo=-1.0, xhi=2.0)
    context = Context(parent, seed=3)
    x = parent.sample(25, np.random.default_rng(4)) ** 2 - 0.5  # a distorted sample
    value = METRICS["mmd"].score(x, context).value

    z = metrics.normal_scores(x, parent)
    y = parent.normal_scores(parent.sample(40, context.rng("mmd")))  # the context's fixed reference
    bandwidth2 = np.median([np.sum((a - b) ** 2) for a, b in itertools.combinations(y, 2)])
    k = lambda a, b: np.exp(-np.sum((a - b) ** 2) / bandwidth2)
    within_x = sum(k(z[i], z[j]) for i in range(25) for j in range(25) if i != j) / (25 * 24)
    within_y = sum(k(y[i], y[j]) for i in range(40) for j in range(40) if i != j) / (40 * 39)
    between = sum(k(a, b) for a in z for b in y) / (25 * 40)
    # float32 kernels: agreement to 1e-6 of a kernel value, far finer than the floor
    assert value == pytest.approx(within_x + within_y - 2 * between, abs=2e-6)
    assert value > 0.01


# --- the parent's coordinates --------------------------------------------------------------------------
@pytest.mark.parametrize("sigma", [(2.0, 0.0, 1), (1.0, 0.7, 2), (1.5, -0.4, -1)])
def test_whiten_inverts_the_cholesky_factor_and_gives_mahalanobis_distances(sigma):
    parent = make_parent("gauss", 4, mu=0.7, sigma=sigma)
    x = np.random.default_rng(5).standard_normal((50, 4)) * 3
    z = parent.whiten(x)
    factor = linalg.cholesky(parent.sigma, lower=True)
    np.testing.assert_allclose(z @ factor.T + 0.7, x, atol=1e-12)
    inverse = np.linalg.inv(parent.sigma)
    expected = [spatial.distance.mahalanobis(row, np.full(4, 0.7), inverse) ** 2 for row in x]
    np.testing.assert_allclose((z * z).sum(axis=1), expected, rtol=1e-10)


@pytest.mark.parametrize("parent", parents(3), ids=PARENTS)
def test_normal_scores_are_each_component_through_its_scipy_marginal(parent):
    x = parent.sample(300, np.random.default_rng(6))
    by_column = np.column_stack([parent.marginal(j).cdf(x[:, j]) for j in range(3)])
    np.testing.assert_allclose(metrics.component_cdf(parent, x), by_column, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(metrics.normal_scores(x, parent), parent.normal_scores(x), rtol=1e-10, atol=1e-12)
    if parent.name != "gauss":  # gauss: whitened (the correlation removed), not per component
        np.testing.assert_allclose(parent.normal_scores(x), special.ndtri(by_column), rtol=1e-10, atol=1e-12)
    # Honest samples give N(0, I) normal scores (gauss: whitened).
    scores = metrics.normal_scores(parent.sample(4000, np.random.default_rng(7)), parent)
    assert min(stats.kstest(scores[:, j], "norm").pvalue for j in range(3)) > STRICT / 3


def test_moments_are_scipy_closed_forms():
    truncated = make_parent("trunc_gauss", 2, mu=0.3, sigma=(1.5, 0.0, 1), xlo=-1.0, xhi=2.0)
    mean, covariance = truncated.moments()
    scale = np.sqrt(1.5)
    a, b = (-1.0 - 0.3) / scale, (2.0 - 0.3) / scale
    mass = stats.norm.cdf(b) - stats.norm.cdf(a)
    expected_mean = 0.3 + scale * (stats.norm.pdf(a) - stats.norm.pdf(b)) / mass
    expected_var = scale**2 * (
        1
        + (a * stats.norm.pdf(a) - b * stats.norm.pdf(b)) / mass
        - ((stats.norm.pdf(a) - stats.norm.pdf(b)) / mass) ** 2
    )
    np.testing.assert_allclose(mean, expected_mean, rtol=1e-10)
    np.testing.assert_allclose(covariance, np.diag([expected_var] * 2), rtol=1e-10)
    mean, covariance = make_parent("uniform", 3, xlo=-2.0, xhi=3.0).moments()
    np.testing.assert_allclose(mean, 0.5)
    np.testing.assert_allclose(covariance, np.eye(3) * 25 / 12)
    gauss = make_parent("gauss", 4, mu=0.5, sigma=(2.0, 0.6, 2))
    mean, covariance = gauss.moments()
    np.testing.assert_allclose(mean, 0.5)
    np.testing.assert_array_equal(covariance, gauss.sigma)
    assert make_parent("cauchy", 2).moments() is None


# --- fast exact nulls = the generic simulation ------------------------------------------------------------
def generic_null(metric, context, n, repeats, seed):
    """What :func:`nulls.null_values` does without a fast path: score honest samples."""
    rng = np.random.default_rng(seed)
    return np.array([metric.value(context.parent.sample(n, rng), context) for _ in range(repeats)])


@pytest.mark.parametrize(
    "name, parent, n",
    [
        ("projections", make_parent("gauss", 3, mu=0.5, sigma=(2.0, 0.6, 3)), 40),
        ("projections", make_parent("gauss", 1), 30),
        ("mmd", make_parent("trunc_gauss", 2, xlo=-0.5, xhi=1.0), 60),
        ("mmd", make_parent("cauchy", 3), 60),
    ],
    ids=["projections-gauss3", "projections-gauss1", "mmd-trunc_gauss", "mmd-cauchy"],
)
def test_fast_null_has_the_law_of_the_generic_simulation(name, parent, n):
    metric, context = METRICS[name], Context(parent, seed=8)
    fast = metric.simulate_null(context, n, 400, np.random.default_rng(9))
    generic = generic_null(metric, context, n, 400, 10)
    assert stats.ks_2samp(fast, generic).pvalue > STRICT, (fast.mean(), generic.mean())


# --- analytic floors ------------------------------------------------------------------------------------
def analytic_cases():
    gauss, cauchy, uniform = (
        make_parent("gauss", 3, sigma=(1.0, 0.5, 3)),
        make_parent("cauchy", 2),
        make_parent("uniform", 2),
    )
    return [
        ("components", gauss, 200),
        ("components", uniform, 150),
        ("mahalanobis", gauss, 200),
        ("tail", cauchy, 100),
        ("classifier", gauss, 200),
    ]


def honest_scores(name, parent, n, repeats):
    """The metric on ``repeats`` honest samples, each with its own context (own fresh samples, own
    training rows): draws of the value's law under the null."""
    metric, scores = METRICS[name], []
    for seed in range(repeats):
        rng = np.random.default_rng([11, seed])
        context = Context(parent, seed=seed, train=parent.sample(300, rng))
        scores.append(metric.score(parent.sample(n, rng), context))
    return scores


@pytest.mark.parametrize("name, parent, n", analytic_cases(), ids=[c[0] + "-" + c[1].name for c in analytic_cases()])
def test_analytic_floor_is_the_simulated_95th_percentile(name, parent, n):
    metric, repeats = METRICS[name], 300 if name != "classifier" else 200
    values = np.sort([score.value for score in honest_scores(name, parent, n, repeats)])
    floor = metric.floor(parent, n)
    # The 95th percentile of the draws lies between these order statistics but once in a thousand times.
    low, high = stats.binom.interval(1 - STRICT, repeats, 1 - metrics.ALPHA)
    assert values[int(low) - 1] <= floor <= values[min(int(high), repeats - 1)], (floor, values[int(low) - 1 :])


def test_memorisations_permutation_floor_is_exceeded_by_five_percent_of_honest_samples():
    """Its floor is conditional on the sample (the 95th percentile of its permutation null)."""
    scores = honest_scores("memorisation", make_parent("uniform", 2), 200, 300)
    exceed = sum(score.value > score.floor for score in scores)
    low, high = stats.binom.interval(1 - STRICT, 300, metrics.ALPHA)
    assert low <= exceed <= high


MEMORISATION = ("memorisation", make_parent("uniform", 2), 200)


@pytest.mark.parametrize(
    "name, parent, n",
    [*analytic_cases(), MEMORISATION],
    ids=[c[0] + "-" + c[1].name for c in analytic_cases()] + ["memorisation"],
)
def test_value_above_floor_exactly_when_p_below_five_percent(name, parent, n):
    metric = METRICS[name]
    scores = honest_scores(name, parent, n, 20)
    # and samples pushed off the parent, so that both sides of the floor are seen
    rng = np.random.default_rng(12)
    for scale in (1.1, 1.2, 1.4):
        context = Context(parent, seed=1, train=parent.sample(300, rng))
        x = parent.sample(n, rng) * scale if name != "memorisation" else context.train[rng.integers(0, 300, n)]
        scores.append(metric.score(x, context))
    floors = [metric.floor(parent, n) if score.floor is None else score.floor for score in scores]
    agree = [(score.value > floor) == (score.p <= metrics.ALPHA) for score, floor in zip(scores, floors, strict=True)]
    assert all(agree), [(s.value, floor, s.p) for s, floor in zip(scores, floors, strict=True)]
    assert any(score.p <= metrics.ALPHA for score in scores) and any(score.p > metrics.ALPHA for score in scores)


@pytest.mark.parametrize("n", [100, 101, 1000, 5001])
def test_classifier_floor_is_the_accuracy_above_which_p_is_below_five_percent(n):
    tested = n // 2 * 2  # every held-out point: half the generated and half the fresh samples
    correct = METRICS["classifier"].floor(make_parent("gauss", 1), n) * tested
    assert correct == pytest.approx(round(correct), abs=1e-9)
    correct = round(correct)
    assert stats.binom.sf(correct, tested, 0.5) <= metrics.ALPHA < stats.binom.sf(correct - 1, tested, 0.5)


def test_outside_is_zero_for_honest_samples_and_exact_for_one_sample_outside():
    parent = make_parent("trunc_gauss", 3, xlo=-1.0, xhi=1.0)
    x = parent.sample(1000, np.random.default_rng(13))
    score = METRICS["outside"].score(x, Context(parent))
    assert (score.value, score.p) == (0.0, 1.0) and METRICS["outside"].floor(parent, 1000) == 0.0
    x[17, 2] = 1.0 + 1e-12
    score = METRICS["outside"].score(x, Context(parent))
    assert (score.value, score.p) == (0.001, 0.0) and "1 of 1000 samples outside [-1, 1]" in score.detail


# --- the cache -------------------------------------------------------------------------------------------
def test_null_cache_round_trip_and_keys(tmp_path):
    parent = make_parent("gauss", 2)
    metric, path = METRICS["projections"], tmp_path / "null_cache.json"
    cache = NullCache(path)
    values = nulls.null_values(metric, Context(parent, seed=1), 50, 20, cache)
    cache.save()
    again = NullCache(path)
    assert len(again.values) == 1
    np.testing.assert_array_equal(nulls.null_values(metric, Context(parent, seed=1), 50, 20, again), values)
    assert not again.changed  # read, not recomputed
    # Another seed, size or repeat count: another key, another null.
    for context, n, repeats in [
        (Context(parent, seed=2), 50, 20),
        (Context(parent, seed=1), 60, 20),
        (Context(parent, seed=1), 50, 30),
    ]:
        other = nulls.null_values(metric, context, n, repeats, again)
        assert len(other) != 20 or not np.array_equal(other, values)
    # Another parent or covariance: another key (the projections' null of a gauss parent depends on its
    # covariance only through the directions' correlations, so its values may be the same).
    for other_parent in (make_parent("gauss", 2, mu=0.1), make_parent("gauss", 2, sigma=(1.0, 0.3, 2))):
        nulls.null_values(metric, Context(other_parent, seed=1), 50, 20, again)
    assert len(again.values) == 6


@pytest.mark.parametrize(
    "content", [b"\x00\xff garbage", b"[1, 2, 3]", b'{"key": "text"}', b'{"key": [1, "a"]}', b'{"trunc', b""]
)
def test_a_file_gaussgan_did_not_write_is_refused_and_kept(tmp_path, content):
    """Damaged or foreign, it may be someone's file: refused, never replaced (tests/stats/test_null_cache.py)."""
    path = tmp_path / "null_cache.json"
    path.write_bytes(content)
    with pytest.raises(UserError, match="not a null cache written by gaussgan; it is kept as it is"):
        NullCache(path)
    assert path.read_bytes() == content


def test_a_cache_that_cannot_be_written_costs_a_note_not_the_result(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    cache = NullCache(tmp_path / "file" / "null_cache.json")  # its folder is a file
    nulls.null_values(METRICS["projections"], Context(make_parent("gauss", 2)), 50, 20, cache)
    cache.save()
    assert "null cache was not saved" in capsys.readouterr().err


# --- judging, undefined metrics and the verdict's sentences ----------------------------------------------
def test_a_capped_metric_judges_the_last_samples():
    parent = make_parent("gauss", 2)
    context, cache = Context(parent, seed=1), NullCache()
    x = parent.sample(1500, np.random.default_rng(14))
    judged = nulls.judge(METRICS["mmd"], x, context, cache, repeats=20)
    assert (judged.n, judged.n_used) == (1500, 500)
    assert judged.value == METRICS["mmd"].score(x[1000:], context).value


def test_undefined_metrics_say_why():
    why = {name: {parent.name: metric.undefined(parent) for parent in parents(2)} for name, metric in METRICS.items()}
    assert "no mean or covariance" in why["frechet"]["cauchy"]
    assert "Gaussian parent" in why["mahalanobis"]["uniform"]
    assert "heavy-tailed" in why["tail"]["gauss"] and why["tail"]["cauchy"] == ""
    assert "bounded" in why["outside"]["cauchy"] and why["outside"]["trunc_gauss"] == ""
    result = verdict.distinguishability(
        make_parent("cauchy", 2).sample(150, np.random.default_rng(15)),
        Context(make_parent("cauchy", 2)),
        NullCache(),
        repeats=20,
    )
    assert set(result.undefined) == {"mean", "covariance", "mahalanobis", "frechet", "outside", "memorisation"}
    assert result.undefined["memorisation"] == "needs the training rows"
    assert "needs the training rows" in result.table() and "no mean or covariance" in result.table()


@pytest.mark.parametrize("name, parent", [("covariance", "gauss"), ("frechet", "uniform")])
def test_a_covariance_metric_with_fewer_samples_than_dimensions_is_left_out_not_failed(name, parent):
    parent = make_parent(parent, 10)
    judged = verdict.assess(parent.sample(8, np.random.default_rng(16)), Context(parent), NullCache(), repeats=20)
    left_out = next(j for j in judged if j.name == name)
    assert (
        np.isnan(left_out.p)
        and not left_out.rejected
        and "left out: needs more samples than dimensions" in left_out.detail
    )
    assert np.isnan(left_out.level) and all(np.isfinite(j.level) for j in judged if j.name != name)


def test_too_few_samples_give_no_value_and_say_why():
    parent, cache = make_parent("gauss", 2), NullCache()
    for n in (1, 2, 3):
        x = parent.sample(n, np.random.default_rng(n))
        judged = {
            metric.name: nulls.judge(metric, x, Context(parent), cache, repeats=20)
            for metric in metrics.applicable(parent)
        }
        assert np.isnan(judged["classifier"].p) and "at least 4 samples" in judged["classifier"].detail
        assert all(np.isnan(judged[name].p) == (n < 2) for name in ("components", "projections", "mmd", "mahalanobis"))


def test_every_simulated_metric_can_pass_the_first_step_with_the_fewest_null_draws():
    """The smallest Monte Carlo p-value, 1 / (repeats + 1), is within every simulated metric's share of the
    error rate in the largest family of each parent: otherwise it could never reject on its own."""
    for parent in [*parents(2), make_parent("gauss", 10)]:
        family = metrics.applicable(parent, with_train=True)
        total = sum(metric.weight(parent) for metric in family)
        for metric in family:
            if metric.null == "simulated":
                assert 1 / (nulls.MIN_REPEATS + 1) <= metrics.ALPHA * metric.weight(parent) / total, (parent, metric)
    assert max(len(metrics.applicable(p, with_train=True)) for p in parents(2)) == nulls.LARGEST_FAMILY


def judged(name, n, p, rejected, detail="", level=0.01):
    return Judged(name, n, n, 0.1, 0.05, p, detail, rejected, level)


def crafted(results: dict, n_star, available=5000, max_n=100_000, parent="gauss"):
    return verdict.Verdict(parent, 10, max_n, available, n_star, results)


def test_a_non_rejection_says_what_was_tested_and_what_could_have_been_seen():
    calm = {n: [judged("mean", n, 0.5, False), judged("covariance", n, 0.3, False)] for n in (5000,)}
    reading = crafted(calm, None).reading()
    assert reading.startswith(
        "not distinguished from the parent at n = 5,000 (the largest n tested, limited by the 5,000 samples given): "
        "no test rejected at the family's 5% error rate. At this n the tests would have seen, with 80% power, "
        "a mean shift of 0.0"
    )
    assert "(whitened) or a covariance error ||Σ_w - I||_F of about 0.1" in reading
    assert (
        crafted(calm, None, available=200_000, max_n=5000)
        .reading()
        .startswith("not distinguished from the parent at n = 5,000 (the largest n tested): ")
    )
    # A metric above its floor is named, with its p-value and its share of the error rate.
    near = {5000: [judged("mean", 5000, 0.03, False, level=0.014), judged("components", 5000, 0.4, False)]}
    assert (
        "rate. At n = 5,000 the mean (p 0.03, its level 0.014) is above the 5% floor, not rejected at the "
        "family's error rate. At this n"
    ) in crafted(near, None).reading()
    # Other parents: the per-component test's power, in their own words.
    uniform = {5000: [judged("components", 5000, 0.5, False)]}
    assert (
        crafted(uniform, None, parent="uniform")
        .reading()
        .endswith("with 80% power, a component's CDF off by 0.033 anywhere.")
    )


def test_a_rejection_names_every_metric_at_n_star_and_at_the_size_above():
    loud = {
        5000: [judged("components", 5000, 0.0001, True), judged("mahalanobis", 5000, 0.0001, True, "too narrow")],
        2000: [
            judged("components", 2000, 0.001, True, "1 component of 10 rejected (BH)"),
            judged("mahalanobis", 2000, 0.0001, True, "mean Mahalanobis² 9.1 (parent: 10): too narrow"),
            judged("mmd", 2000, 0.2, False, "never shown"),
        ],
        1000: [judged("components", 1000, 0.5, False), judged("mahalanobis", 1000, 0.03, False)],
    }
    assert crafted(loud, 2000).reading() == (
        "distinguishable at n = 2,000 by the Mahalanobis and per-component tests (mean Mahalanobis² 9.1 "
        "(parent: 10): too narrow; 1 component of 10 rejected (BH)); also at n = 5,000 by the per-component and "
        "Mahalanobis tests; not distinguished at n = 1,000, where testing stops (smaller sizes are not tested). "
        "At n = 1,000 the Mahalanobis (p 0.03, its level 0.01) is above the 5% floor, not rejected at the "
        "family's error rate."
    )
    smallest = {100: loud[2000]}
    assert crafted(smallest, 100).reading().endswith(", the smallest n tested.")
    single = {1000: [judged("classifier", 1000, 0.001, True, "600 of 1000 held-out samples told apart")]}
    assert crafted(single, 1000).reading().endswith("by the classifier test (600 of 1000 held-out samples told apart).")
    table = crafted(loud, 2000).table()
    assert table.count("rejected") == 2 and "(n = 2,000)" in table


def test_assess_flags_with_weighted_holm_across_the_family(monkeypatch):
    pvalues = {"mean": 0.012, "covariance": 0.5, "components": 0.005, "mahalanobis": 0.04, "mmd": 0.0045}

    def fake_judge(metric, x, context, cache, repeats):
        return Judged(metric.name, len(x), len(x), 0.0, 0.0, pvalues.get(metric.name, 0.9))

    monkeypatch.setattr(verdict, "judge", fake_judge)
    parent = make_parent("gauss", 2)
    judged_ = verdict.assess(np.zeros((10, 2)), Context(parent), NullCache())
    flags = {j.name: j.rejected for j in judged_}
    # Weights 3, 3 and 1 for the five others (11): mmd 0.0045 <= 0.05/11; then of 10 left, components
    # 0.005 <= 0.05/10; then of 9, mean 0.012 <= 0.05 * 3/9; then of 6, mahalanobis 0.04 > 0.05/6 stops.
    assert flags == {
        "mean": True,
        "covariance": False,
        "components": True,
        "mahalanobis": False,
        "projections": False,
        "mmd": True,
        "classifier": False,
    }
    assert {j.name: round(j.level, 5) for j in judged_}["mean"] == round(0.05 * 3 / 11, 5)


@pytest.mark.parametrize(
    "pattern, n_star, tested",
    [
        ([False, False, False, False], None, [10_000]),
        ([True, False, False, False], None, [10_000]),  # a rejection below the top is never reached
        ([False, False, True, True], 5000, [10_000, 5000, 2000]),
        ([False, True, False, True], 10_000, [10_000, 5000]),  # the chain breaks at 5,000
        ([True, True, True, True], 1000, [10_000, 5000, 2000, 1000]),
    ],
)
def test_n_star_is_the_end_of_the_chain_of_rejections_from_the_largest_size(monkeypatch, pattern, n_star, tested):
    sizes = [1000, 2000, 5000, 10_000]
    seen = []

    def fake_assess(x, context, cache, repeats):
        seen.append(len(x))
        return [Judged("components", len(x), len(x), 0.0, 0.0, 0.0, "", pattern[sizes.index(len(x))])]

    monkeypatch.setattr(verdict, "assess", fake_assess)
    monkeypatch.setattr(verdict, "GRID", tuple(sizes))
    result = verdict.distinguishability(np.zeros((10_000, 1)), Context(make_parent("gauss", 1)), NullCache())
    assert (result.n_star, seen, result.draws) == (n_star, tested, [n_star])


def test_n_star_over_draws_is_the_median_draw():
    def one(n):
        return verdict.Verdict("gauss", 1, 10_000, 10_000, n, {n or 10_000: []})

    chosen = verdict.over_draws([one(5000), one(None), one(1000)])
    assert (chosen.n_star, chosen.draws) == (5000, [5000, None, 1000])
    assert verdict.draws_summary([None, 2000]) == {"n_star_median": 2000, "n_star_min": 2000, "n_star_max": None}
    assert verdict.draws_summary([None, None, 100]) == {"n_star_median": None, "n_star_min": 100, "n_star_max": None}
