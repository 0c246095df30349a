"""Joint metrics of a generated sample against the exactly known parent, each a test with a null.

Every metric turns a sample ``x`` (n, d) into one number, larger meaning further from the parent,
and says how that number is judged:

* ``analytic``: the null distribution is known exactly (a one-sample KS against an exact CDF,
  a binomial count, a permutation of the sample's own rows); the metric returns its p-value and
  :meth:`Metric.floor` gives the value that 5% of honest samples exceed (a permutation null's floor
  depends on the sample and comes with the score).
* ``simulated``: the null is drawn by :mod:`gaussgan.stats.nulls` from honest parent samples of the
  same size; floor and p-value come from those draws.

A metric never sees a torch model: numpy arrays and the :class:`~gaussgan.distributions.Parent`
only. Two-sample metrics compare with parent samples that :class:`Context` draws from its own
seeded generator, so the same context gives the same reference every time (the null is simulated
conditional on it, which keeps it exact).

One module per family of tests, :mod:`.base` for what they share, and here the registry,
:data:`METRICS`, in the order a verdict lists them.
"""

from __future__ import annotations

from gaussgan.distributions import Parent
from gaussgan.stats.constants import ALPHA
from gaussgan.stats.corrections import holm, sidak
from gaussgan.stats.ks import ks_distance, ks_pvalue, ks_pvalue_approximate
from gaussgan.stats.metrics.base import Context, Metric, Score, component_cdf, normal_scores, one_blas_thread
from gaussgan.stats.metrics.classifier import Classifier
from gaussgan.stats.metrics.components import Components
from gaussgan.stats.metrics.frechet import Frechet, frechet_from_moments
from gaussgan.stats.metrics.gaussian import CovarianceTest, MeanTest
from gaussgan.stats.metrics.mahalanobis import Mahalanobis
from gaussgan.stats.metrics.memorisation import Memorisation
from gaussgan.stats.metrics.mmd import MMD
from gaussgan.stats.metrics.projections import Projections
from gaussgan.stats.metrics.support import Outside, Tail

__all__ = [
    "ALPHA",
    "EPOCH_METRICS",
    "METRICS",
    "MMD",
    "Classifier",
    "Components",
    "Context",
    "CovarianceTest",
    "Frechet",
    "Mahalanobis",
    "MeanTest",
    "Memorisation",
    "Metric",
    "Outside",
    "Projections",
    "Score",
    "Tail",
    "applicable",
    "component_cdf",
    "frechet_from_moments",
    "holm",
    "ks_distance",
    "ks_pvalue",
    "ks_pvalue_approximate",
    "normal_scores",
    "one_blas_thread",
    "sidak",
]

METRICS: dict[str, Metric] = {
    metric.name: metric
    for metric in (
        MeanTest(),
        CovarianceTest(),
        Components(),
        Mahalanobis(),
        Projections(),
        Frechet(),
        MMD(),
        Classifier(),
        Tail(),
        Outside(),
        Memorisation(),
    )
}
# Memorisation needs the training rows: computed at the end of a run and by `evaluate --train`.
EPOCH_METRICS = tuple(name for name in METRICS if name != "memorisation")


def applicable(parent: Parent, names=None, with_train: bool = False) -> list[Metric]:
    """The metrics that mean something for this parent (memorisation only with training rows)."""
    chosen = [METRICS[name] for name in (names or METRICS)]
    return [
        metric for metric in chosen if not metric.undefined(parent) and (metric.name != "memorisation" or with_train)
    ]
