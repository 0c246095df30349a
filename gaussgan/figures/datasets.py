"""gen-samples.py's figure: the histogram of a dataset's norms, drawn from counts accumulated batch by batch."""

from __future__ import annotations

import os

import numpy as np

from gaussgan.figures.binning import bin_count
from gaussgan.figures.style import PARENT_COLOUR, legend_below, plural, pyplot, save


def norm_histogram(
    counts: np.ndarray,
    edges: np.ndarray,
    dim: int,
    title: str,
    path: str | os.PathLike,
    chi_density: bool,
    bars: int = 60,
    log_axis: bool = False,
) -> None:
    """Normalised histogram of Euclidean norms, with the chi(dim) density over it when it applies.

    Takes counts in fine bins (``edges``; geometric with ``log_axis``), as gen-samples accumulates them
    batch by batch, so that drawing needs no sample in memory.
    """
    save(norm_histogram_figure(counts, edges, dim, title, chi_density, bars, log_axis), path, dpi=100)


def norm_histogram_figure(
    counts: np.ndarray,
    edges: np.ndarray,
    dim: int,
    title: str,
    chi_density: bool,
    bars: int = 60,
    log_axis: bool = False,
):
    total = int(counts.sum())
    # The occupied fine bins are merged into bars (equal widths on the drawn axis: log10 with log_axis).
    axis_edges = np.log10(edges) if log_axis else np.asarray(edges, dtype=float)
    occupied = np.flatnonzero(counts)
    first, last = occupied[0], occupied[-1] + 1
    bars = min(bars, bin_count(total, most=bars), last - first)
    group = -(-(last - first) // bars)  # fine bins per bar, rounded up
    n_bars = -(-(last - first) // group)
    merged = np.zeros(n_bars * group, dtype=np.int64)
    merged[: last - first] = counts[first:last]
    merged = merged.reshape(n_bars, group).sum(axis=1)
    bar_width = (axis_edges[1] - axis_edges[0]) * group
    bar_edges = axis_edges[first] + bar_width * np.arange(n_bars + 1)

    plt = pyplot()
    figure, axes = plt.subplots(figsize=(6.5, 4.6), layout="constrained")
    drawn_edges = 10**bar_edges if log_axis else bar_edges
    axes.stairs(
        merged / (total * bar_width),
        drawn_edges,
        fill=True,
        color="tab:blue",
        alpha=0.6,
        label=f"samples (n = {total:,})",
    )
    if chi_density:
        from gaussgan.distributions import chi_pdf

        grid = np.linspace(max(0.0, bar_edges[0]), bar_edges[-1], 400)
        density = chi_pdf(grid, dim)
        if log_axis:  # density per unit of log10 ||x||
            grid, density = 10**grid, density * 10**grid * np.log(10)
        axes.plot(
            grid,
            density,
            color=PARENT_COLOUR,
            label=f"chi density, {plural(dim, 'degree')} of freedom",
        )
    if log_axis:
        axes.set_xscale("log")
        axes.set_xlabel("Euclidean norm ||x|| (log axis: heavy tail, every sample drawn)")
        axes.set_ylabel("probability density of log10 ||x||")
    else:
        axes.set_xlabel("Euclidean norm ||x||")
        axes.set_ylabel("probability density")
    axes.set_ylim(0, None)
    axes.set_title(title, fontsize=10)
    legend_below(figure, axes.get_legend_handles_labels()[0])
    return figure
