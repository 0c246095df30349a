"""Every figure the package draws, by name: the one module that training, gen-samples, the study and the
tests import figure functions from, whichever module of this stage draws them.

Training hands these functions to the figure worker (:mod:`gaussgan.figures.worker`) as objects; a
background worker receives them pickled by reference, by their own module and name, so a figure
function may move between the modules below as long as it stays importable, and listed here.
"""

from __future__ import annotations

from gaussgan.figures.binning import bin_count
from gaussgan.figures.datasets import norm_histogram, norm_histogram_figure
from gaussgan.figures.epoch import (
    component_histograms,
    component_histograms_figure,
    correlation_matrix,
    correlation_matrix_figure,
    correlations,
    correlations_figure,
    ks_per_component,
    ks_per_component_figure,
    ks_statistics,
    norm_distributions,
    norm_distributions_figure,
)
from gaussgan.figures.history import (
    losses,
    losses_figure,
    pvalues,
    pvalues_figure,
    training_metrics,
    training_metrics_figure,
)
from gaussgan.figures.poc import poc_comparison, poc_comparison_figure
from gaussgan.figures.reuse import close_reused, write_reused
from gaussgan.figures.style import P_FLOOR, describe_parent, plural, pyplot, save

# Saves a reused figure as the epoch figures are saved, leaving it open: tests redraw one through it.
_write = write_reused

__all__ = [
    "P_FLOOR",
    "bin_count",
    "close_reused",
    "component_histograms",
    "component_histograms_figure",
    "correlation_matrix",
    "correlation_matrix_figure",
    "correlations",
    "correlations_figure",
    "describe_parent",
    "ks_per_component",
    "ks_per_component_figure",
    "ks_statistics",
    "losses",
    "losses_figure",
    "norm_distributions",
    "norm_distributions_figure",
    "norm_histogram",
    "norm_histogram_figure",
    "plural",
    "poc_comparison",
    "poc_comparison_figure",
    "pvalues",
    "pvalues_figure",
    "pyplot",
    "save",
    "training_metrics",
    "training_metrics_figure",
]
