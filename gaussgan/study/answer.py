"""The answer a report opens with: where the runs stop reproducing the parent, in n*, beside what their
training sets allow.

n* is the smallest sample size at which a run's generator is told apart from the parent (None: not at any
size tested, up to the verdict's largest). Ranked here as a number where "not told apart" is larger than any
size (:func:`n_star_rank`), a configuration's n* is the lower median of its seeds' (a size that some run
actually had, never an average), and the best configuration is the one with the largest median n*; ties
go to the smaller final score (the worse of the two final ratios), and the page says so.
"""

from __future__ import annotations

import math

from gaussgan.stats.ranks import lower_median

SMALLEST = 100  # the smallest size any verdict tests (gaussgan.stats.verdict.GRID[0]; a test checks)


def n_star_rank(n_star, has_verdict: bool) -> float:
    """n* as a number to sort and take medians of: inf when no size rejected, NaN without a verdict."""
    if not has_verdict:
        return math.nan
    return math.inf if n_star is None or (isinstance(n_star, float) and math.isnan(n_star)) else float(n_star)


def size_text(rank: float, largest) -> str:
    """A ranked n* as the page writes it: "5,000", "> 100,000" (not told apart), "n/a" (no verdict)."""
    if math.isnan(rank):
        return "n/a"
    if math.isinf(rank):
        return f"> {int(largest):,}" if largest and not math.isnan(largest) else "not told apart"
    return f"{int(rank):,}"


def range_text(low: float, high: float, largest) -> str:
    return size_text(low, largest) if low == high else f"{size_text(low, largest)} to {size_text(high, largest)}"


def best_by_n_star(grouped):
    """The configuration with the largest median n*, ties broken by the smaller median final score; None when
    no configuration has a verdict."""
    if "n_star_rank_median" not in grouped:
        return None
    judged = grouped[grouped["n_star_rank_median"].notna()]
    if judged.empty:
        return None
    score = judged["final_score_median"] if "final_score_median" in judged else 0.0
    order = judged.assign(_score=score).sort_values(
        ["n_star_rank_median", "_score"], ascending=[False, True], na_position="last", kind="stable"
    )
    return order.iloc[0].drop("_score").to_dict()


def answer_sentence(summary, best: dict | None, describe) -> str:
    """The report's first sentence(s): the answer, with the data limit beside it. ``describe(row)`` names a
    configuration by its varied options."""
    ranks = summary["n_star_rank"] if "n_star_rank" in summary else None
    judged = summary[ranks.notna()] if ranks is not None else summary.iloc[0:0]
    if judged.empty or best is None:
        return (
            "No run has a verdict yet, so there is no answer: n* is measured at the end of each run "
            "(train.py, or train.py --verdict-only on a finished run)."
        )
    largest = judged["max_n"].max() if "max_n" in judged else math.nan
    limits = _limit_range(judged)
    if (judged["n_star_rank"] == SMALLEST).all():
        return (
            f"No configuration is indistinguishable from the parent even at {SMALLEST:,} samples: all "
            f"{len(judged)} judged runs are told apart at the smallest size tested (n* = {SMALLEST:,})"
            + (f", where their training sets' own Gaussian fits reach n* = {limits}." if limits else ".")
        )
    median = best["n_star_rank_median"]
    low, high = best.get("n_star_rank_min", median), best.get("n_star_rank_max", median)
    runs = best.get("runs", 1)
    spread = f"median of {runs} runs, range {range_text(low, high, largest)}" if runs and runs > 1 else "one run"
    if math.isinf(median):
        found = f"is not told apart from the parent at any size tested, up to {size_text(largest, largest)}"
    else:
        found = f"is indistinguishable from the parent below n* = {size_text(median, largest)} samples"
    limit = best.get("data_limit_fit_median", math.nan)
    beside = (
        f"; its training set's own Gaussian fit: n* {_equals(size_text(limit, largest))}"
        if isinstance(limit, float) and not math.isnan(limit)
        else ""
    )
    return f"Best configuration ({describe(best)}) {found} ({spread}){beside}."


def _equals(text: str) -> str:
    """'= 5,000', or '> 100,000' as it is."""
    return text if text.startswith(">") else f"= {text}"


def dimension_sentence(summary, varied: list[str]) -> str:
    """When the data dimension varies: per rule, the median n* at each dimension (of the configuration of the
    other varied options with the most runs), equal neighbours merged; '' otherwise."""
    if "dim" not in varied or "n_star_rank" not in summary:
        return ""
    judged = summary[summary["n_star_rank"].notna()]
    others = [key for key in varied if key not in ("dim", "seed", "rule")]
    largest = judged["max_n"].max() if "max_n" in judged else math.nan
    parts = []
    for rule, rows in judged.groupby("rule", sort=True):
        if others:
            common = rows.groupby(others, dropna=False).size().idxmax()
            common = common if isinstance(common, tuple) else (common,)
            for key, value in zip(others, common, strict=True):
                rows = rows[rows[key] == value]
        by_dim = rows.groupby("dim")["n_star_rank"].agg(lower_median)
        if len(by_dim) < 2:
            continue
        spans: list[list] = []  # [value, first dim, last dim]
        for dim, value in by_dim.items():
            if spans and spans[-1][0] == value:
                spans[-1][2] = dim
            else:
                spans.append([value, dim, dim])
        parts.append(
            f"{rule} "
            + ", ".join(
                f"{size_text(value, largest)} at d = {first:g}" + (f" to {last:g}" if last != first else "")
                for value, first, last in spans
            )
        )
    if not parts:
        return ""
    where = ", in the configuration with the most runs" if others else ""
    return f"Along the data dimension (median n* over seeds{where}): {'; '.join(parts)}."


def _limit_range(judged) -> str:
    """The range of the training sets' own-fit n* over the judged runs, or '' when none recorded it."""
    if "data_limit_fit" not in judged:
        return ""
    values = judged["data_limit_fit"].astype(float)
    values = values[values.notna()]
    if values.empty:
        return ""
    largest = judged["max_n"].max() if "max_n" in judged else math.nan
    return range_text(values.min(), values.max(), largest)


def facts_line(summary) -> str:
    """What the runs are, read from the runs themselves: parents and dimensions, training-set sizes, epochs,
    rules (never from a study's description, which may say otherwise)."""

    def values(column) -> list:
        return sorted(summary[column].dropna().unique().tolist()) if column in summary else []

    def listed(items, unit: str = "") -> str:
        shown = [
            f"{int(item):,}" if isinstance(item, (int, float)) and float(item).is_integer() else f"{item}"
            for item in items
        ]
        if len(shown) > 4:
            return f"{shown[0]} to {shown[-1]}{unit} ({len(shown)} values)"
        return (" and ".join([", ".join(shown[:-1]), shown[-1]]) if len(shown) > 1 else "".join(shown)) + unit

    parts = [f"{len(summary)} runs"]
    dists, dims = values("dist"), values("dim")
    if dists or dims:
        parts.append(f"{'/'.join(map(str, dists)) or 'parent'} in {listed(dims)} dimensions")
    sizes = values("n_samples")
    if sizes:
        parts.append(f"{listed(sizes)} training samples")
    epochs = values("epochs")
    if epochs:
        parts.append(f"{listed(epochs)} epochs each")
    rules = values("rule")
    if rules:
        parts.append(listed(rules))
    return " · ".join(parts)
