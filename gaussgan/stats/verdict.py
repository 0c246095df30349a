"""The verdict on a generator: every metric against its floor, and the distinguishability sample size n*.

n* is the smallest n on a geometric grid (100, 200, 500, 1k, ...) down to which the family of tests
rejects "these samples come from the parent" at every size, tested from the largest size down. One
number that compares across dimensions, rules and runs, with one error rate for the whole verdict:

* at one size, the metrics are one family, corrected with weighted Holm (:func:`weighted_holm`): the
  family rejects with probability at most ALPHA for honest samples, whatever the dependence between them;
* across sizes, fixed-sequence testing: the largest size is tested first at the full ALPHA, each smaller
  size only if every larger one rejected, and testing stops at the first that does not. For honest
  samples a finite n* needs the largest size to reject, so P(finite n*) <= ALPHA, with no correction over
  the sizes and no confirmation rule. docs/verdicts.md has the argument in full.

Several draws (fresh samples of a generator, disjoint rows of a file) give n* as a median and range
(:func:`over_draws`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from gaussgan.stats.constants import ALPHA, MAX_N, NULL_REPEATS
from gaussgan.stats.corrections import weighted_holm
from gaussgan.stats.metrics import METRICS, Context, applicable
from gaussgan.stats.nulls import Judged, NullCache, judge
from gaussgan.stats.power import detectable_cdf_gap, detectable_covariance_error, detectable_mean_shift

GRID = (100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000)
PROCEDURE = (
    "fixed-sequence over the sizes, largest first, each at the full alpha (testing stops at the first size "
    "that does not reject); weighted Holm across the metrics at each size"
)


def grid_for(available: int, max_n: int) -> list[int]:
    """The grid's sizes below ``max_n`` and the samples available, and that largest size itself (every sample
    given is used at the first, most powerful, test)."""
    top = min(available, max_n)
    return [n for n in GRID if n < top] + [top]


def assess(x: np.ndarray, context: Context, cache: NullCache, repeats: int = NULL_REPEATS, names=None) -> list[Judged]:
    """Every applicable metric on ``x``, each flagged as rejected or not by weighted Holm across the family;
    a metric that cannot be computed at this n (too few rows) is left out of the family, its p-value NaN."""
    parent = context.parent
    metrics = applicable(parent, names, with_train=context.train is not None)
    judged = [judge(metric, x, context, cache, repeats) for metric in metrics]
    tested = [j for j in judged if np.isfinite(j.p)]
    weights = [METRICS[j.name].weight(parent) for j in tested]
    flags = weighted_holm([j.p for j in tested], weights) if tested else []
    # Each tested metric's share of ALPHA at the first step; the left-out ones keep none (NaN).
    decided = {
        j.name: dataclasses.replace(j, rejected=flag, level=ALPHA * weight / sum(weights))
        for j, weight, flag in zip(tested, weights, flags, strict=True)
    }
    return [decided.get(j.name, j) for j in judged]


@dataclass
class Verdict:
    """What the metrics say at each n tested (largest first), and n*: the smallest n down to which every size
    tested rejects (None: the largest does not). ``draws``: n* of each of several draws (:func:`over_draws`)."""

    parent: str
    dim: int
    max_n: int
    available: int
    n_star: int | None
    results: dict[int, list[Judged]] = field(default_factory=dict)
    undefined: dict[str, str] = field(default_factory=dict)  # metric -> why it does not apply
    draws: list[int | None] = field(default_factory=list)

    @property
    def tested(self) -> list[int]:
        return sorted(self.results)

    def rejects(self, n: int) -> bool:
        return any(j.rejected for j in self.results[n])

    def reading(self) -> str:
        """What was tested, what was found, and what could have been seen; never more."""
        tested = self.tested
        largest = tested[-1]
        if self.n_star is None:
            limit = "the largest n tested" + (
                f", limited by the {self.available:,} samples given"
                if largest == self.available and largest < self.max_n
                else ""
            )
            return " ".join(
                part
                for part in (
                    f"not distinguished from the parent at n = {largest:,} ({limit}): no test rejected at the "
                    "family's 5% error rate.",
                    self._near_misses(largest),
                    self._could_have_seen(largest),
                )
                if part
            )
        sentence = f"distinguishable at n = {self.n_star:,} {self._by(self.n_star)}"
        above = [n for n in tested if n > self.n_star]
        if above:
            sentence += f"; also at n = {above[0]:,} {self._by(above[0], details=False)}"
            if above[-1] != above[0]:
                sentence += f" and every size up to {above[-1]:,}"
        below = [n for n in tested if n < self.n_star]
        if below:
            sentence += f"; not distinguished at n = {below[-1]:,}, where testing stops (smaller sizes are not tested)."
            return " ".join(part for part in (sentence, self._near_misses(below[-1])) if part)
        return sentence + (", the smallest n tested." if self.n_star == min(GRID) else ".")

    def _by(self, n: int, details: bool = True) -> str:
        rejecting = sorted((j for j in self.results[n] if j.rejected), key=lambda j: j.p / j.level)
        names = _and([METRICS[j.name].short for j in rejecting])
        # The two most significant findings say what is wrong; the table has the rest.
        found = "; ".join(j.detail for j in rejecting[:2] if j.detail) if details else ""
        return f"by the {names} {'test' if len(rejecting) == 1 else 'tests'}" + (f" ({found})" if found else "")

    def _near_misses(self, n: int) -> str:
        """Metrics above their 5% floor at ``n`` that the family's correction did not reject: said, not hidden."""
        near = [j for j in self.results[n] if not j.rejected and np.isfinite(j.p) and j.p <= ALPHA]
        if not near:
            return ""
        listed = _and([f"{METRICS[j.name].short} (p {j.p:.2g}, its level {j.level:.2g})" for j in near])
        verb = "is" if len(near) == 1 else "are"
        return f"At n = {n:,} the {listed} {verb} above the 5% floor, not rejected at the family's error rate."

    def _could_have_seen(self, n: int) -> str:
        """The smallest defects the tests at ``n`` detect with 80% power, where that is known."""
        levels = {j.name: j.level for j in self.results[n] if np.isfinite(j.level)}
        seen = []
        if "mean" in levels:
            seen.append(f"a mean shift of {detectable_mean_shift(self.dim, n, levels['mean']):.2g} (whitened)")
        if "covariance" in levels:
            error = detectable_covariance_error(self.dim, n, levels["covariance"])
            seen.append(f"a covariance error ||Σ_w - I||_F of about {error:.2g}")
        if "components" in levels:
            what = "whitened component's" if self.parent == "gauss" else "component's"
            gap = detectable_cdf_gap(self.dim, n, levels["components"])
            seen.append(f"a {what} CDF off by {gap:.2g} anywhere")
        if not seen:
            return ""
        return f"At this n the tests would have seen, with 80% power, {_or(seen)}."

    def as_dict(self) -> dict:
        content = {
            "parent": self.parent,
            "dim": self.dim,
            "n_star": self.n_star,
            "max_n": self.max_n,
            "samples_available": self.available,
            "alpha": ALPHA,
            "procedure": PROCEDURE,
            "reading": self.reading(),
            "tested_n": self.tested,
            "results": {str(n): [j.as_dict() for j in judged] for n, judged in self.results.items()},
            "undefined": self.undefined,
        }
        if len(self.draws) > 1:
            content |= {"draws": len(self.draws), "n_star_draws": self.draws} | draws_summary(self.draws)
        return content

    def table(self, n: int | None = None) -> str:
        """The metrics at ``n`` (default: n*, or the largest n tested) as aligned text."""
        n = n if n is not None else self.n_star or self.tested[-1]
        width = max(len(metric.label) for metric in METRICS.values())
        lines = [f"{'metric':<{width}} {'value':>11} {'floor':>11} {'p':>9} {'level':>8}  (n = {n:,})"]
        for j in self.results[n]:
            if not np.isfinite(j.p):
                lines.append(f"{METRICS[j.name].label:<{width}} {'—':>11}  {j.detail}")
                continue
            mark = "  rejected" if j.rejected else ""
            used = f" [last {j.n_used:,}]" if j.n_used < j.n else ""
            lines.append(
                f"{METRICS[j.name].label:<{width}} {j.value:>11.4g} {j.floor:>11.4g} {j.p:>9.3g} {j.level:>8.2g}{mark}{used}"
            )
        lines += [f"{METRICS[name].label:<{width}} {'—':>11}  {why}" for name, why in self.undefined.items()]
        return "\n".join(lines)


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _or(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def undefined_metrics(context: Context) -> dict[str, str]:
    """The metrics that do not apply here, and why."""
    parent = context.parent
    return {
        name: why
        for name, metric in METRICS.items()
        if (why := metric.undefined(parent))
        or (name == "memorisation" and context.train is None and (why := "needs the training rows"))
    }


def distinguishability(
    samples: np.ndarray,
    context: Context,
    cache: NullCache,
    max_n: int = MAX_N,
    repeats: int = NULL_REPEATS,
    progress: Callable[[int], None] | None = None,
) -> Verdict:
    """Test prefixes of ``samples`` from the largest size of the grid down, each at the full 5%, until one
    does not reject; n* is the last size that did (fixed-sequence testing: see the module's docstring)."""
    parent = context.parent
    verdict = Verdict(parent.name, parent.dim, max_n, len(samples), None, undefined=undefined_metrics(context))
    for n in reversed(grid_for(len(samples), max_n)):
        verdict.results[n] = assess(samples[:n], context, cache, repeats)
        if progress is not None:
            progress(n)
        if not verdict.rejects(n):
            break
        verdict.n_star = n
    verdict.draws = [verdict.n_star]
    return verdict


def over_draws(verdicts: list[Verdict]) -> Verdict:
    """One verdict of several independent draws: the draw whose n* is the median (:func:`draws_summary`),
    with its tables and reading, and every draw's n* kept."""
    ns = [v.n_star for v in verdicts]
    median = draws_summary(ns)["n_star_median"]
    chosen = verdicts[ns.index(median)]
    chosen.draws = ns
    return chosen


def by_size(n_star: int | None) -> float:
    """A sort key of n* values: a draw without n* (no rejection) after every size."""
    return np.inf if n_star is None else n_star


def draws_summary(draws: list[int | None]) -> dict:
    """The median and range of n* over draws; a draw without n* (no rejection) counts as larger than any
    size, so the median is a size of the grid or None (most draws did not reject), never an average."""
    ranked = sorted(draws, key=by_size)
    return {"n_star_median": ranked[(len(ranked) - 1) // 2], "n_star_min": ranked[0], "n_star_max": ranked[-1]}
