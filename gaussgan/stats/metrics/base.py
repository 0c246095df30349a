"""What every metric shares: its result (:class:`Score`), what it may use (:class:`Context`) and the
base class of the metrics (:class:`Metric`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gaussgan.distributions import Parent

# Simulated nulls draw ``repeats`` honest samples of the size tested: above this many samples per
# draw, the metric looks at this many of them (still exact, a little less powerful).
SIMULATION_SAMPLES = 5000


@dataclass(frozen=True)
class Score:
    """One metric on one sample: its value, and its p-value when the null is analytic (and its floor
    when that null is conditional on the sample, as a permutation null is)."""

    value: float
    p: float | None = None
    detail: str = ""
    floor: float | None = None


@dataclass
class Context:
    """What a metric may use besides the sample: the parent, seeded reference samples, the training set."""

    parent: Parent
    seed: int = 0
    train: np.ndarray | None = None
    _fixed: dict = field(default_factory=dict, repr=False)

    def rng(self, purpose: str) -> np.random.Generator:
        """A generator for one purpose, the same stream every time it is asked for."""
        words = [ord(c) for c in purpose]
        return np.random.default_rng(np.random.SeedSequence([self.seed, self.parent.dim, *words]))

    def cached(self, key, build):
        """``build()``, computed once for this context (fixed reference samples and what derives from them)."""
        if key not in self._fixed:
            self._fixed[key] = build()
        return self._fixed[key]

    def reference(self, purpose: str, n: int) -> np.ndarray:
        """``n`` parent samples, fixed for this context and purpose (drawn once, then reused)."""
        return self.cached((purpose, n), lambda: self.parent.sample(n, self.rng(purpose)))


class Metric:
    """Base: a name, how its null is known, what it applies to, and at most how many samples it uses."""

    name = ""
    short = ""  # in a sentence: "the Mahalanobis and projection tests"
    label = ""  # for people: "Mahalanobis² vs χ²_d"
    null = "simulated"  # or "analytic"
    costly = False  # computed every --eval-every epochs only, not every epoch
    cap: int | None = None  # samples used at most (None: all)
    least = 2  # samples needed at least (fewer: no value, said why): a spread needs two

    def undefined(self, parent: Parent) -> str:
        """Why the metric means nothing for this parent ('' when it applies)."""
        return ""

    def weight(self, parent: Parent) -> float:
        """This metric's share of the verdict's error rate, relative to the others' (weighted Holm): 1, more
        for the exact tests that are the most powerful against the defects they look for."""
        return 1.0

    def score(self, x: np.ndarray, context: Context) -> Score:
        raise NotImplementedError

    def value(self, x: np.ndarray, context: Context) -> float:
        """The value alone, as the simulated null needs it thousands of times (no detail to compute)."""
        return self.score(x, context).value

    def floor(self, parent: Parent, n: int) -> float:
        """Analytic nulls only: the value 5% of honest samples of size ``n`` exceed."""
        raise NotImplementedError

    def used(self, n: int, parent: Parent) -> int:
        """How many of ``n`` samples the metric looks at (the last ones: :func:`gaussgan.stats.nulls.judge`)."""
        return n if self.cap is None else min(n, self.cap)

    def simulate_null(self, context: Context, n: int, repeats: int, rng: np.random.Generator) -> np.ndarray | None:
        """A faster exact way to draw the null than scoring honest samples, where one exists; else None."""
        return None


def counted(k: int, noun: str, plural: str = "") -> str:
    """``k`` and the noun, plural unless ``k`` is 1 ("1 component", "3 copies")."""
    return f"{k} {noun if k == 1 else plural or noun + 's'}"


def one_blas_thread():
    """A context in which numpy's BLAS runs on one thread.

    The statistics multiply small matrices (100 x 100, 1000 x 100) thousands of times: on a shared
    machine a second BLAS thread made the simulated nulls 5 to 10 times slower, and the number of
    threads would otherwise decide the last bits of a verdict (same seed, same bytes, any machine).
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def component_cdf(parent: Parent, x: np.ndarray) -> np.ndarray:
    """:meth:`Parent.marginal_cdf`: every component of ``x`` through its exact marginal CDF."""
    return parent.marginal_cdf(x)


def normal_scores(x: np.ndarray, parent: Parent) -> np.ndarray:
    """:meth:`Parent.normal_scores`: N(0, I) exactly when ``x`` follows the parent, whatever the parent."""
    return parent.normal_scores(x)
