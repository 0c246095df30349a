"""The verdict on a generator: every metric against its floor, and the distinguishability sample size n*.

n* is the smallest n on a geometric grid at which the family of tests, corrected with Holm across
the metrics, rejects "these samples come from the parent" at 5%. Below n*, no test here can tell
the generator from the parent; one number that compares across dimensions, rules and runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from gaussgan.stats.constants import ALPHA, MAX_N, NULL_REPEATS
from gaussgan.stats.corrections import holm
from gaussgan.stats.metrics import METRICS, Context, applicable
from gaussgan.stats.nulls import Judged, NullCache, judge

GRID = (1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000)


def grid_for(available: int, max_n: int) -> list[int]:
    """The grid's sizes up to ``max_n`` and the samples available; the available count itself when below the grid."""
    top = min(available, max_n)
    sizes = [n for n in GRID if n <= top]
    return sizes or [top]


def assess(x: np.ndarray, context: Context, cache: NullCache, repeats: int = NULL_REPEATS, names=None) -> list[Judged]:
    """Every applicable metric on ``x``, each flagged as rejected or not by Holm across the family."""
    metrics = applicable(context.parent, names, with_train=context.train is not None)
    judged = [judge(metric, x, context, cache, repeats) for metric in metrics]
    tested = [j for j in judged if np.isfinite(j.p)]
    flags = holm([j.p for j in tested])
    rejected = {j.name for j, flag in zip(tested, flags, strict=True) if flag}
    return [Judged(**{**j.as_dict(), "rejected": j.name in rejected}) for j in judged]


@dataclass
class Verdict:
    """What the metrics say at each n tested, and the n at which the family first rejects (None: never)."""

    parent: str
    dim: int
    max_n: int
    available: int
    n_star: int | None
    results: dict[int, list[Judged]] = field(default_factory=dict)
    undefined: dict[str, str] = field(default_factory=dict)  # metric -> why it does not apply

    @property
    def tested(self) -> list[int]:
        return sorted(self.results)

    def reading(self) -> str:
        """One sentence a person can trust."""
        tested = self.tested
        if self.n_star is None:
            largest = tested[-1]
            limit = "the largest n tested" + (
                f", limited by the {self.available:,} samples given"
                if largest == self.available and largest < self.max_n
                else ""
            )
            return f"indistinguishable from the parent up to n = {largest:,} ({limit})"
        rejecting = sorted((j for j in self.results[self.n_star] if j.rejected), key=lambda j: j.p)
        names = _and([METRICS[j.name].short for j in rejecting])
        # The two most significant findings say what is wrong; the table has the rest.
        details = "; ".join(j.detail for j in rejecting[:2] if j.detail)
        test_word = "test" if len(rejecting) == 1 else "tests"
        by = f"by the {names} {test_word}" + (f": {details}" if details else "")
        before = [n for n in tested if n < self.n_star]
        if not before:
            return f"distinguishable already at n = {self.n_star:,}, the smallest n tested, {by}"
        return f"indistinguishable at n = {before[-1]:,}; distinguishable at n = {self.n_star:,} {by}"

    def as_dict(self) -> dict:
        return {
            "parent": self.parent,
            "dim": self.dim,
            "n_star": self.n_star,
            "max_n": self.max_n,
            "samples_available": self.available,
            "alpha": ALPHA,
            "family_correction": "Holm",
            "confirmation": "a rejection counts when the next size tested rejects too (or it is the largest size)",
            "reading": self.reading(),
            "tested_n": self.tested,
            "results": {str(n): [j.as_dict() for j in judged] for n, judged in self.results.items()},
            "undefined": self.undefined,
        }

    def table(self, n: int | None = None) -> str:
        """The metrics at ``n`` (default: n*, or the largest n tested) as aligned text."""
        n = n if n is not None else self.n_star or self.tested[-1]
        width = max(len(metric.label) for metric in METRICS.values())
        lines = [f"{'metric':<{width}} {'value':>11} {'floor':>11} {'p':>9}  (n = {n:,})"]
        for j in self.results[n]:
            mark = "  rejected" if j.rejected else ""
            used = f" [last {j.n_used:,}]" if j.n_used < j.n else ""
            lines.append(f"{METRICS[j.name].label:<{width}} {j.value:>11.4g} {j.floor:>11.4g} {j.p:>9.3g}{mark}{used}")
        lines += [f"{METRICS[name].label:<{width}} {'—':>11}  {why}" for name, why in self.undefined.items()]
        return "\n".join(lines)


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def distinguishability(
    samples: np.ndarray,
    context: Context,
    cache: NullCache,
    max_n: int = MAX_N,
    repeats: int = NULL_REPEATS,
    progress: Callable[[int], None] | None = None,
) -> Verdict:
    """Test growing prefixes of ``samples`` (1k, 2k, 5k, ... up to ``max_n``) until the family rejects at
    two sizes in a row; n* is the first of the two."""
    parent = context.parent
    undefined = {
        name: why
        for name, metric in METRICS.items()
        if (why := metric.undefined(parent))
        or (name == "memorisation" and context.train is None and (why := "needs the training rows"))
    }
    verdict = Verdict(parent.name, parent.dim, max_n, len(samples), None, undefined=undefined)
    grid = grid_for(len(samples), max_n)
    for position, n in enumerate(grid):
        verdict.results[n] = assess(samples[:n], context, cache, repeats)
        if progress is not None:
            progress(n)
        rejects = [any(j.rejected for j in verdict.results[size]) for size in grid[: position + 1]]
        # A rejection counts once the next size confirms it (or when it is the last size there is):
        # each size is tested at 5%, and without confirmation an honest sampler would get a finite
        # n* at one of the seven sizes far more often than 5% of the time.
        if rejects[-1] and (len(rejects) > 1 and rejects[-2]):
            verdict.n_star = grid[position - 1]
            break
        if rejects[-1] and position == len(grid) - 1:
            verdict.n_star = n
    return verdict
