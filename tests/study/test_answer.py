"""The report's answer: n* as ranks, their lower median over seeds, the best configuration by n* (ties by the
final score), and the first sentence in each case."""

from __future__ import annotations

import math

import pandas as pd

from gaussgan.study.answer import answer_sentence, best_by_n_star, facts_line, lower_median, n_star_rank, size_text
from gaussgan.study.report import by_config


def runs(n_stars: list, scores: list | None = None, latents: list | None = None) -> pd.DataFrame:
    """Runs of the same options but the seed (and the latent dimension when given), with these verdicts."""
    rows = []
    for index, n_star in enumerate(n_stars):
        rows.append(
            {
                "run": f"r{index}", "dist": "gauss", "dim": 10, "n_samples": 10_000, "rule": "vanilla",
                "latent_dim": (latents or [100] * len(n_stars))[index], "epochs": 80, "seed": index,
                "n_star_rank": n_star_rank(n_star, True), "n_star_rank_min": n_star_rank(n_star, True),
                "n_star_rank_max": n_star_rank(n_star, True), "data_limit_fit": 10_000.0,
                "data_limit_fresh": 20_000.0, "final_score": (scores or [1.0] * len(n_stars))[index],
                "max_n": 100_000, "finished": True,
            }
        )  # fmt: skip
    return pd.DataFrame(rows)


def sentence(summary: pd.DataFrame) -> str:
    best = best_by_n_star(by_config(summary))
    return answer_sentence(summary, best, lambda row: f"latent_dim {row['latent_dim']}")


def test_the_smallest_size_is_the_verdicts():
    from gaussgan.stats.verdict import GRID
    from gaussgan.study.answer import SMALLEST

    assert SMALLEST == GRID[0]


def test_ranks_put_not_told_apart_above_every_size_and_no_verdict_aside():
    assert (
        n_star_rank(5000, True) == 5000 and math.isinf(n_star_rank(None, True)) and math.isnan(n_star_rank(None, False))
    )
    assert lower_median([100, math.inf, 500]) == 500 and lower_median([100, 500]) == 100
    assert lower_median([math.nan, 200]) == 200 and math.isnan(lower_median([]))
    assert size_text(math.inf, 100_000) == "> 100,000" and size_text(2000.0, 100_000) == "2,000"


def test_every_run_told_apart_at_the_smallest_size_is_said_first():
    text = sentence(runs([100, 100, 100]))
    assert text.startswith("No configuration is indistinguishable from the parent even at 100 samples: all 3 judged")
    assert "own Gaussian fits reach n* = 10,000" in text


def test_the_best_configuration_has_the_largest_median_n_star_ties_to_the_smaller_score():
    summary = runs([1000, 2000, 5000, 2000, 2000, 2000], scores=[1, 1, 1, 3, 2, 2], latents=[5, 5, 5, 10, 10, 10])
    grouped = by_config(summary)
    assert sorted(grouped["n_star_rank_median"]) == [2000, 2000]  # lower medians of (1k, 2k, 5k) and (2k, 2k, 2k)
    assert best_by_n_star(grouped)["latent_dim"] == 5  # the same median n*: the smaller median score (1 < 2)
    text = sentence(summary)
    assert text.startswith("Best configuration (latent_dim 5) is indistinguishable from the parent below n* = 2,000")
    assert "(median of 3 runs, range 1,000 to 5,000); its training set's own Gaussian fit: n* = 10,000." in text


def test_a_configuration_no_size_told_apart_wins_and_is_said_so():
    text = sentence(runs([None, None, 5000], latents=[10, 10, 5]))
    assert text.startswith("Best configuration (latent_dim 10) is not told apart from the parent at any size tested")
    assert "up to 100,000" in text and "range > 100,000)" in text


def test_without_a_verdict_there_is_no_answer_and_the_facts_come_from_the_runs():
    summary = runs([100]).assign(n_star_rank=math.nan)
    assert sentence(summary).startswith("No run has a verdict yet")
    assert (
        facts_line(runs([100, 200]))
        == "2 runs · gauss in 10 dimensions · 10,000 training samples · 80 epochs each · vanilla"
    )


def test_a_two_dimensional_run_with_no_correlation_spread_is_reported_not_skipped():
    """At d = 2 the one off-diagonal correlation has no spread, generated or parent: both 0, a real run (the
    atlas's d = 2 runs were skipped as damaged); a parent spread of 0 beside a generated one is still refused."""
    import pytest

    from gaussgan.errors import UserError
    from gaussgan.study.report_checks import check_table

    row = {"epoch": 0, "norm_ks_parent_D": 0.02, "ks_floor_95": 0.04}
    check_table(pd.DataFrame([row | {"offdiag_std_generated": 0.0, "offdiag_std_parent": 0.0}]), "run")
    with pytest.raises(UserError, match="offdiag_std_parent is 0 at epoch 0"):
        check_table(pd.DataFrame([row | {"offdiag_std_generated": 0.1, "offdiag_std_parent": 0.0}]), "run")


def test_along_the_dimension_each_rule_s_median_n_star_equal_neighbours_merged():
    from gaussgan.study.answer import dimension_sentence

    table = pd.concat(
        [runs([n_star] * 3).assign(dim=dim) for dim, n_star in ((1, None), (2, 5000), (10, 100), (100, 100))]
    )
    text = dimension_sentence(table, ["dim", "seed"])
    assert (
        text
        == "Along the data dimension (median n* over seeds): vanilla > 100,000 at d = 1, 5,000 at d = 2, 100 at d = 10 to 100."
    )
    assert dimension_sentence(table, ["seed"]) == ""  # one dimension: nothing to say along it
