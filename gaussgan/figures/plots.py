"""Figures from numbers: every function takes arrays in and writes one PNG out.

Nothing here knows about training or files beyond the path it writes (atomically).
Matplotlib is imported on first use with the Agg backend. One-off figures are closed once
saved; the per-epoch training figures are built once and reused (:func:`close_reused` closes them).

Each writing function ``name(..., path)`` draws through ``name_figure(...)``, which returns the
matplotlib Figure without saving it (tests inspect it). What every figure keeps:

* legends never cover data: they sit outside the axes, below them;
* values outside the drawn range are marked and counted (p-values below the axis, samples beyond
  the histogram's edges), never silently dropped;
* heavy-tailed data (Cauchy) are drawn over their bulk, with the share left outside stated, and
  positive heavy-tailed values (norms) on a log axis;
* histograms take their number of bins from the number of values.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np

from gaussgan.system.files import atomic_path

PARENT_COLOUR, GENERATED_COLOUR = "black", "tab:red"
P_FLOOR = 1e-20  # smallest p-value drawn; smaller ones are drawn on it with their own marker, and counted
# A histogram's range: the reference's central 99%, but no wider than the median ± ROBUST_WIDTH
# interquartile ranges, so that a heavy tail (Cauchy: the 99.5% quantile is 63 scales out) leaves
# the bulk visible. For a Gaussian the quantiles are the narrower (2.6 sigma against 5.4).
ROBUST_WIDTH = 4.0
# Positive values whose 99.5% quantile is this many interquartile ranges above the median are
# heavy-tailed: drawn on a log axis (a Gaussian's norm: about 2; a Cauchy's: 30 and more).
HEAVY_TAIL_RATIO = 8.0
RUG_BELOW = 10  # fewer values than this are drawn one by one, not as a histogram
GRID_COLUMNS = 5  # component panels per row
PANEL_INCHES = (2.5, 1.9)


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(figure, path: str | os.PathLike, dpi: int = 80) -> None:
    """Write ``figure`` atomically and close it (an open figure would leak memory every epoch)."""
    try:
        with atomic_path(path) as temporary:
            figure.savefig(temporary, dpi=dpi)
    finally:
        pyplot().close(figure)


def plural(count: int, word: str, words: str | None = None) -> str:
    """``1 component``, ``2 components``: the count with the right form of the word."""
    return f"{count:,} {word if count == 1 else (words or word + 's')}"


def describe_parent(parent) -> str:
    """What the parent is, for a title: its family, parameters, correlations and bounds.

    E.g. ``N(0, I) in 10-d``, ``N(0, Σ) in 10-d: variance 1, correlation 0.5 within blocks of 2``,
    ``N(0, 1) truncated to [-1.5, 1.5], each of 10 components``.
    """
    sigma = np.asarray(parent.sigma)
    diag = float(sigma[0, 0])
    where = f"in {parent.dim}-d"
    if parent.name == "gauss":
        if parent.is_diagonal:
            scale = "I" if diag == 1 else f"{diag:g}·I"
            return f"N({parent.mu:g}, {scale}) {where}"
        return f"N({parent.mu:g}, Σ) {where}: {_correlation_structure(sigma)}"
    if parent.name == "cauchy":
        return f"Cauchy(location {parent.mu:g}, scale {diag:g}) {where}, independent components"
    if parent.name == "uniform":
        return f"U[{parent.xlo:g}, {parent.xhi:g}] {where}, independent components"
    return f"N({parent.mu:g}, {diag:g}) truncated to [{parent.xlo:g}, {parent.xhi:g}] {where}, independent components"


def _correlation_structure(sigma: np.ndarray) -> str:
    """The covariance that ``--sigma DIAG OFFDIAG BLOCK`` builds, in words (band or blocks)."""
    variances = np.diag(sigma)
    variance = f"variance {variances[0]:g}" if np.all(variances == variances[0]) else "unequal variances"
    rows, columns = np.nonzero(np.triu(sigma, k=1))
    first, second = rows[0], columns[0]
    correlation = sigma[first, second] / np.sqrt(variances[first] * variances[second])
    dim = len(sigma)
    if dim > 2 and np.all(columns - rows == 1) and len(rows) == dim - 1:
        return f"{variance}, correlation {correlation:.3g} between neighbouring components (a band)"
    block = int(np.count_nonzero(sigma[0]))
    if block >= dim:
        return f"{variance}, correlation {correlation:.3g} between every pair of components"
    return f"{variance}, correlation {correlation:.3g} within blocks of {block} components"


# --- helpers shared by the figures -------------------------------------------------------------------


def _finite(values) -> np.ndarray:
    values = np.asarray(values, dtype=float).ravel()
    return values[np.isfinite(values)]


def bin_count(n_values: int, most: int = 60) -> int:
    """Histogram bins for ``n_values`` values: the Rice rule, 2 n^(1/3), between 5 and ``most``.

    1000 values get 20 bins, 45 get 7: each bar holds enough values to be more than noise.
    """
    return int(min(most, max(5, math.ceil(2 * max(n_values, 1) ** (1 / 3)))))


def heavy_tailed(values) -> bool:
    """Positive values with a tail far beyond their bulk (norms of Cauchy samples): draw on a log axis."""
    values = _finite(values)
    if values.size < 20 or values.min() <= 0:
        return False
    q25, median, q75, q995 = np.percentile(values, [25, 50, 75, 99.5])
    return bool(q995 - median > HEAVY_TAIL_RATIO * max(q75 - q25, 1e-300))


def histogram_edges(reference, bins: int | None = None, log: bool = False) -> np.ndarray:
    """Bin edges over the bulk of ``reference``: its central 99%, at most the median ± 4 IQR.

    With ``log``, geometric edges over the whole positive range (nothing is left outside).
    Only finite values count: a diverged generator's NaN or infinite output must not break a figure.
    """
    reference = _finite(reference)
    bins = bins or bin_count(reference.size)
    if not reference.size:
        return np.linspace(-1, 1, bins + 1)
    if log:
        positive = reference[reference > 0]
        low, high = (positive.min(), positive.max()) if positive.size else (1.0, 10.0)
        if not high > low:
            low, high = low / 2, high * 2
        return np.geomspace(low, high * (1 + 1e-9), bins + 1)
    q005, q25, median, q75, q995 = np.percentile(reference, [0.5, 25, 50, 75, 99.5])
    spread = ROBUST_WIDTH * (q75 - q25)
    low, high = (max(q005, median - spread), min(q995, median + spread)) if spread > 0 else (q005, q995)
    if not high > low:
        low, high = low - 0.5, high + 0.5
    return np.linspace(low, high, bins + 1)


def _density(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    counts, _ = np.histogram(values, bins=edges)  # NaN and values outside the edges are not counted
    return counts / (max(1, len(values)) * np.diff(edges))


def _outside(values: np.ndarray, edges: np.ndarray) -> tuple[int, int]:
    """How many values lie below and above the drawn range (NaN and inf counted above: not drawn either)."""
    values = np.asarray(values, dtype=float).ravel()
    below = int(np.count_nonzero(values < edges[0]))
    return below, int(values.size - below - np.count_nonzero((values >= edges[0]) & (values <= edges[-1])))


def _share(count: int, total: int) -> str:
    return f"{100 * count / max(total, 1):.2g}%"


def _wrap(text: str, width: int) -> str:
    """``text`` in lines of at most ``width`` characters (a suptitle does not wrap by itself)."""
    import textwrap

    return "\n".join(textwrap.wrap(text, max(width, 30)))


def _finite_max(values: np.ndarray, default: float) -> float:
    """The largest finite value, or ``default`` when there is none (axis limits must be finite)."""
    finite = _finite(values)
    return float(finite.max()) if finite.size else default


def _legend_below(figure, handles: Sequence, ncols: int | None = None) -> None:
    """The figure's one legend, outside every axes, under them (constrained layout makes room)."""
    handles = [handle for handle in handles if not str(handle.get_label()).startswith("_")]
    if handles:
        figure.legend(
            handles=handles, loc="outside lower center", ncols=ncols or min(len(handles), 3), fontsize=8, frameon=False
        )


# --- gen-samples.py: the norms of a dataset -----------------------------------------------------------


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
    _legend_below(figure, axes.get_legend_handles_labels()[0])
    return figure


# --- Training figures ----------------------------------------------------------------------
# A grid of histograms costs far more to build than to draw, so each figure is built once per
# process and later epochs only swap the data of its artists. Its layout is computed on the first
# save, then frozen (constrained layout on every save would cost more than the drawing).
_figure_cache: dict[tuple, tuple] = {}
_frozen_layouts: dict[int, tuple[int, ...]] = {}  # id of a reused figure -> the text lines its layout was made for


def close_reused() -> None:
    """Close every reused figure: the end of a run (or of the figure worker) owns them."""
    if _figure_cache:
        plt = pyplot()
        for figure, *_ in _figure_cache.values():
            plt.close(figure)
        _figure_cache.clear()
        _frozen_layouts.clear()


def _reused(key: tuple, build):
    """The figure and artists that ``build()`` returns, built once per process and reused after."""
    if key not in _figure_cache:
        _figure_cache[key] = build()
    return _figure_cache[key]


def _write(figure, path, dpi: int) -> None:
    """Save a reused figure atomically (it stays open for the next epoch).

    Its layout is computed on the first save and then frozen, and computed again only when a title or
    label gains or loses a line (a frozen layout would let it run into the panels).
    """
    lines = _text_lines(figure)
    if _frozen_layouts.get(id(figure), lines) != lines:
        figure.set_layout_engine("constrained")
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=dpi)
    figure.set_layout_engine("none")
    _frozen_layouts[id(figure)] = lines


def _text_lines(figure) -> tuple[int, ...]:
    """How many lines each title and axis label of ``figure`` has."""
    texts = [figure._suptitle, *(text for axes in figure.axes for text in (axes.title, axes.xaxis.label))]
    return tuple(text.get_text().count("\n") if text is not None else -1 for text in texts)


def _rescale(*axes_list) -> None:
    for axes in axes_list:
        axes.relim()
        axes.autoscale_view()


def component_histograms(
    generated: np.ndarray,
    parent: np.ndarray,
    epoch: int,
    path,
    max_components: int = 20,
    ks_statistic: np.ndarray | None = None,
) -> None:
    """Per-component histograms, parent (black) vs generated (red), in a readable grid.

    Up to ``max_components`` panels: beyond that, the components with the largest KS statistic
    (``ks_statistic``, computed here when not given) and others spread evenly over the rest.
    """
    figure = component_histograms_figure(generated, parent, epoch, max_components, ks_statistic)
    _write(figure, path, dpi=72)


def ks_statistics(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The two-sample KS statistic of every column, all columns at once (no p-values: they are not
    drawn here, and scipy's exact ones cost far more than the figure).

    The largest gap between the two empirical CDFs, read off the merged and sorted columns: exact for
    continuous data (tested against scipy); a value found in both samples may overstate it by a step.
    """
    n_first, n_second = len(first), len(second)
    merged = np.concatenate([first, second])
    order = np.argsort(merged, axis=0, kind="stable")
    steps = np.where(order < n_first, 1.0 / n_first, -1.0 / n_second)
    with np.errstate(invalid="ignore"):
        return np.abs(np.cumsum(steps, axis=0)).max(axis=0)


def shown_components(statistic: np.ndarray, most: int) -> np.ndarray:
    """Which components get a panel: all when they fit; else the worst half by KS and the rest spread evenly."""
    dim = len(statistic)
    if dim <= most:
        return np.arange(dim)
    order = np.argsort(-np.nan_to_num(statistic, nan=np.inf), kind="stable")
    worst = order[: most // 2]
    others = np.setdiff1d(np.arange(dim), worst)
    spread = others[np.linspace(0, len(others) - 1, most - len(worst)).round().astype(int)]
    return np.sort(np.concatenate([worst, spread]))


def _grid_shape(shown: int) -> tuple[int, int]:
    columns = min(shown, GRID_COLUMNS)
    return -(-shown // columns), columns


def _build_component_grid(shown: int):
    plt = pyplot()
    rows, columns = _grid_shape(shown)
    scale = 2.0 if shown == 1 else 1.4 if shown == 2 else 1.0  # one or two panels: bigger
    width, height = max(6.5, PANEL_INCHES[0] * columns * scale), PANEL_INCHES[1] * rows * scale + 1.2
    figure, axes = plt.subplots(rows, columns, figsize=(width, height), squeeze=False, layout="constrained")
    figure.get_layout_engine().set(wspace=0.06)  # room between a panel's counts and the next panel's title
    panels = []
    for index, ax in enumerate(axes.flat):
        if index >= shown:
            ax.set_visible(False)
            continue
        ax.tick_params(labelsize=7, left=False, labelleft=False, pad=1)
        ax.xaxis.set_major_locator(plt.MaxNLocator(4))
        edges = np.linspace(0, 1, 3)
        parent_step = ax.stairs(np.zeros(2), edges, color=PARENT_COLOUR, linewidth=1.2, label="parent sample")
        generated_step = ax.stairs(np.zeros(2), edges, color=GENERATED_COLOUR, linewidth=1.2, label="generated")
        panels.append((ax, parent_step, generated_step))
    figure.supylabel("density", fontsize=8)
    # Created once and updated in place: figure.suptitle() again would put it back where the layout had moved it from.
    figure.suptitle(" ", fontsize=10)
    _legend_below(figure, [panels[0][1], panels[0][2]])
    return figure, panels


def component_histograms_figure(
    generated: np.ndarray,
    parent: np.ndarray,
    epoch: int,
    max_components: int = 20,
    ks_statistic: np.ndarray | None = None,
):
    from gaussgan.stats.diagnostics import ks_critical_value

    generated, parent = np.atleast_2d(generated), np.atleast_2d(parent)
    dim = generated.shape[1]
    if ks_statistic is None:
        ks_statistic = ks_statistics(generated, parent)
    floor = ks_critical_value(len(generated), len(parent))
    components = shown_components(np.asarray(ks_statistic, dtype=float), max_components)
    figure, panels = _reused(("component_histograms", len(components)), lambda: _build_component_grid(len(components)))
    bins = bin_count(len(parent))
    outside_generated = outside_parent = 0
    for component, (ax, parent_step, generated_step) in zip(components, panels, strict=True):
        edges = histogram_edges(parent[:, component], bins)
        parent_density, generated_density = (
            _density(parent[:, component], edges),
            _density(generated[:, component], edges),
        )
        parent_step.set_data(parent_density, edges)
        generated_step.set_data(generated_density, edges)
        ax.set_xlim(edges[0], edges[-1])
        ax.set_ylim(0, 1.15 * max(_finite_max(parent_density, 0), _finite_max(generated_density, 0), 1e-12))
        statistic = ks_statistic[component]
        above = not statistic <= floor  # NaN (a diverged generator) counts as above
        ax.set_title(
            f"x{component}  D {statistic:.3f}{' > floor' if above else ''}",
            fontsize=8,
            color=GENERATED_COLOUR if above else PARENT_COLOUR,
            pad=2,
            loc="left",
        )
        # Generated values beyond the drawn range, counted on each side, above the panel (never over data).
        below, beyond = _outside(generated[:, component], edges)
        outside_generated += below + beyond
        outside_parent += sum(_outside(parent[:, component], edges))
        counts = f"◀{below}" * bool(below) + " " * bool(below and beyond) + f"{beyond}▶" * bool(beyond)
        ax.set_title(counts, fontsize=7, color=GENERATED_COLOUR, pad=2, loc="right")
    n_values = len(generated) * len(components)
    which = (
        f"{plural(dim, 'component')}"
        if len(components) == dim
        else f"{len(components)} of {dim:,} components: the {max_components // 2} with the largest KS D and "
        f"{len(components) - max_components // 2} others spread evenly"
    )
    note = (
        f"x: component value over the parent sample's bulk (central 99%, at most the median ± {ROBUST_WIDTH:g} IQR); "
        f"outside it (◀ ▶ counts): {_share(outside_generated, n_values)} of generated, "
        f"{_share(outside_parent, len(parent) * len(components))} of parent values. "
        f"Red title: KS D above the 95% noise floor {floor:.3f}."
    )
    width = int(figure.get_figwidth() * 12)  # characters per line at 10 points
    figure._suptitle.set_text(f"Epoch {epoch}: histograms of {which}\n" + _wrap(note, width))
    return figure


def ks_per_component(statistic: np.ndarray, pvalue: np.ndarray, floor: float, epoch: int, path) -> None:
    """KS statistic and p-value of every component (generated vs fresh parent), with the noise floor."""
    _write(ks_per_component_figure(statistic, pvalue, floor, epoch), path, dpi=70)


def ks_per_component_figure(statistic: np.ndarray, pvalue: np.ndarray, floor: float, epoch: int):
    def build():
        plt = pyplot()
        figure, (top, bottom) = plt.subplots(2, 1, figsize=(7.5, 5.8), sharex=True, layout="constrained")
        size = 3
        (within,) = top.plot([], [], "o", color=PARENT_COLOUR, markersize=size, label="KS D within the floor")
        (beyond,) = top.plot([], [], "o", color=GENERATED_COLOUR, markersize=size, label="KS D above the floor")
        floor_line = top.axhline(0, color=PARENT_COLOUR, linestyle="--", label="95% of two parent samples (floor)")
        top.set_ylabel("KS statistic D")
        bottom.set_yscale("log")
        (accepted,) = bottom.plot([], [], "o", color=PARENT_COLOUR, markersize=size, label="p-value")
        (rejected,) = bottom.plot([], [], "o", color=GENERATED_COLOUR, markersize=size, label="p < 0.05")
        (clipped,) = bottom.plot([], [], "v", color=GENERATED_COLOUR, markersize=size + 3, label="clipped")
        bottom.axhline(0.05, color=PARENT_COLOUR, linestyle=":", label="p = 0.05")
        bottom.set_xlabel("component")
        bottom.set_ylabel("p-value (log scale)")
        bottom.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
        handles = [within, beyond, floor_line, accepted, rejected, clipped, bottom.lines[-1]]
        _legend_below(figure, handles, ncols=4)
        return figure, (top, bottom, within, beyond, floor_line, accepted, rejected, clipped)

    figure, (top, bottom, within, beyond, floor_line, accepted, rejected, clipped) = _reused(("ks",), build)
    statistic, pvalue = np.asarray(statistic, dtype=float), np.asarray(pvalue, dtype=float)
    components = np.arange(len(statistic))
    size = 5 if len(statistic) <= 50 else 4 if len(statistic) <= 200 else 2.5
    for points in (within, beyond, accepted, rejected):
        points.set_markersize(size)
    above = ~(statistic <= floor)
    within.set_data(components[~above], statistic[~above])
    beyond.set_data(components[above], np.nan_to_num(statistic[above], nan=1.0, posinf=1.0))
    floor_line.set_ydata([floor, floor])
    low = ~(pvalue >= P_FLOOR)  # NaN too: drawn on the floor, as a failure
    accepted.set_data(components[pvalue >= 0.05], pvalue[pvalue >= 0.05])
    rejected_now = (pvalue < 0.05) & ~low
    rejected.set_data(components[rejected_now], pvalue[rejected_now])
    clipped.set_data(components[low], np.full(np.count_nonzero(low), P_FLOOR))
    clipped.set_label(f"p < {P_FLOOR:g}, drawn at {P_FLOOR:g}: {np.count_nonzero(low)}")
    figure.legends[0].texts[5].set_text(clipped.get_label())
    top.set_ylim(0, 1.12 * max(_finite_max(statistic, 0.0), floor))
    smallest = _finite_max(-np.maximum(pvalue, P_FLOOR), -1.0)
    bottom.set_ylim(min(0.01, -smallest) / 3, 2)
    margin = max(0.5, 0.01 * len(statistic))
    top.set_xlim(-margin, len(statistic) - 1 + margin)
    count = int(np.count_nonzero(~(pvalue >= 0.05)))
    top.set_title(
        f"Epoch {epoch}: per-component KS test, generated vs parent\n{count:,} of "
        f"{plural(len(pvalue), 'component')} rejected at 0.05 (about 5% for a perfect generator)",
        fontsize=10,
    )
    return figure


def norm_distributions(
    norms_generated: np.ndarray, norms_parent: np.ndarray, ks: tuple[float, float], epoch: int, path
) -> None:
    """Distribution of ||x||, parent vs generated, with the two-sample KS result."""
    _write(norm_distributions_figure(norms_generated, norms_parent, ks, epoch), path, dpi=70)


def norm_distributions_figure(
    norms_generated: np.ndarray, norms_parent: np.ndarray, ks: tuple[float, float], epoch: int
):
    log = heavy_tailed(norms_parent)

    def build():
        plt = pyplot()
        figure, axes = plt.subplots(figsize=(6.5, 4.6), layout="constrained")
        edges = np.linspace(1, 2, 3)
        parent = axes.stairs(np.zeros(2), edges, color=PARENT_COLOUR, linewidth=1.5, label="parent sample")
        generated = axes.stairs(np.zeros(2), edges, color=GENERATED_COLOUR, linewidth=1.5, label="generated")
        axes.set_ylabel("density")
        if log:
            axes.set_xscale("log")
        _legend_below(figure, [parent, generated])
        return figure, (axes, parent, generated)

    figure, (axes, parent, generated) = _reused(("norms", log), build)
    norms_parent, norms_generated = np.asarray(norms_parent, dtype=float), np.asarray(norms_generated, dtype=float)
    edges = histogram_edges(norms_parent, bin_count(len(norms_parent)), log=log)
    if log:  # density of log10 ||x||: equal-looking bars on the log axis
        parent_density = _density(np.log10(norms_parent), np.log10(edges))
        with np.errstate(divide="ignore", invalid="ignore"):
            generated_density = _density(np.log10(norms_generated), np.log10(edges))
    else:
        parent_density, generated_density = _density(norms_parent, edges), _density(norms_generated, edges)
    parent.set_data(parent_density, edges)
    generated.set_data(generated_density, edges)
    axes.set_xlim(edges[0], edges[-1])
    axes.set_ylim(0, 1.12 * max(_finite_max(parent_density, 0), _finite_max(generated_density, 0), 1e-12))
    below, beyond = _outside(norms_generated, edges)
    parent_out = sum(_outside(norms_parent, edges))
    axes.set_xlabel(
        "Euclidean norm ||x||"
        + (" (log axis: heavy tail; density of log10 ||x||)" if log else "")
        + f"\noutside the drawn range: generated {below} below, {beyond} above "
        f"({_share(below + beyond, len(norms_generated))}); parent {_share(parent_out, len(norms_parent))}",
        fontsize=9,
    )
    axes.set_title(f"Epoch {epoch}: norms, generated vs parent: KS D = {ks[0]:.3f}, p = {ks[1]:.3g}", fontsize=10)
    return figure


def _correlation_image(figure, axes, matrix: np.ndarray, title: str) -> None:
    image = axes.imshow(matrix, vmin=-1, vmax=1, cmap="RdBu_r", interpolation="nearest")
    figure.colorbar(image, ax=axes, label="correlation")
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.set_xlabel("component")
    axes.set_ylabel("component")
    axes.set_title(title, fontsize=10)


def correlations(corr_generated: np.ndarray, corr_parent: np.ndarray, epoch: int, path) -> None:
    """Generated correlation matrix, and its off-diagonal elements next to a parent sample's (the noise floor)."""
    save(correlations_figure(corr_generated, corr_parent, epoch), path, dpi=70)


def correlations_figure(corr_generated: np.ndarray, corr_parent: np.ndarray, epoch: int):
    from gaussgan.stats.diagnostics import off_diagonal

    plt = pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.8), layout="constrained")
    _correlation_image(figure, left, corr_generated, f"Epoch {epoch}: generated correlation matrix")
    generated, parent = off_diagonal(corr_generated), off_diagonal(corr_parent)
    count = len(generated)
    if not count:
        right.text(0.5, 0.5, "one component: no off-diagonal correlation", ha="center", va="center")
        right.set_axis_off()
        return figure
    parent_label = f"parent sample (std {np.std(parent):.3f}: the noise floor)"
    generated_label = f"generated (std {np.std(generated):.3f})"
    if count < RUG_BELOW:
        parent_label, generated_label = (
            "parent sample",
            "generated",
        )  # the std of a few values says little  # a histogram of a handful of values says less than the values themselves
        right.vlines(parent, 0, 1, color=PARENT_COLOUR, linewidth=2, label=parent_label)
        right.vlines(generated, 0, 1, color=GENERATED_COLOUR, linewidth=2, linestyle="--", label=generated_label)
        values = np.concatenate([_finite(parent), _finite(generated)])
        spread = max(np.ptp(values) if values.size else 0, 0.1)
        centre = values.mean() if values.size else 0.0
        right.set_xlim(max(-1.05, centre - spread), min(1.05, centre + spread))
        right.set_ylim(0, 1.1)
        right.set_yticks([])
        right.set_ylabel(f"each line: one pair ({plural(count, 'value')})")
    else:
        values = _finite(np.concatenate([parent, generated]))  # correlations: no tail to clip, every value drawn
        low, high = (values.min(), values.max()) if values.size else (-1.0, 1.0)
        edges = np.linspace(low, high if high > low else low + 0.1, bin_count(count, most=50) + 1)
        right.stairs(_density(parent, edges), edges, color=PARENT_COLOUR, linewidth=1.5, label=parent_label)
        right.stairs(_density(generated, edges), edges, color=GENERATED_COLOUR, linewidth=1.5, label=generated_label)
        right.set_ylabel("density")
    missing = int(np.count_nonzero(~np.isfinite(generated)))
    not_drawn = f"; generated not drawn (NaN): {missing}" if missing else ""
    right.set_xlabel(f"off-diagonal correlation ({plural(count, 'pair')} of components){not_drawn}")
    right.set_title("off-diagonal elements: generated vs parent sample", fontsize=10)
    _legend_below(figure, right.get_legend_handles_labels()[0], ncols=2)
    return figure


def correlation_matrix(matrix: np.ndarray, title: str, path) -> None:
    save(correlation_matrix_figure(matrix, title), path, dpi=80)


def correlation_matrix_figure(matrix: np.ndarray, title: str):
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(5.5, 4.5), layout="constrained")
    _correlation_image(figure, axes, matrix, title)
    return figure


def losses(d_position: np.ndarray, d_loss: np.ndarray, g_position: np.ndarray, g_loss: np.ndarray, path) -> None:
    """D loss per discriminator step and G loss per generator step, raw and smoothed over one epoch.

    Positions are fractional epochs, so both curves share the x axis whatever ``critic_steps`` is.
    """
    _write(losses_figure(d_position, d_loss, g_position, g_loss), path, dpi=80)


def losses_figure(d_position: np.ndarray, d_loss: np.ndarray, g_position: np.ndarray, g_loss: np.ndarray):
    def build():
        plt = pyplot()
        figure, axes = plt.subplots(figsize=(8, 4.8), layout="constrained")
        lines = []
        for colour, name in (("tab:blue", "discriminator"), ("tab:orange", "generator")):
            lines.append(axes.plot([], [], color=colour, alpha=0.25, linewidth=0.5, label=f"{name}, every step")[0])
            lines.append(axes.plot([], [], color=colour, label=f"{name}, moving average over one epoch")[0])
        axes.set_xlabel("epoch")
        axes.set_ylabel("loss")
        axes.set_title("Training losses per step", fontsize=10)
        _legend_below(figure, lines, ncols=2)
        return figure, (axes, lines)

    figure, (axes, lines) = _reused(("losses",), build)
    for (raw, smooth), position, values in zip(
        (lines[:2], lines[2:]), (d_position, g_position), (d_loss, g_loss), strict=True
    ):
        position, values = np.asarray(position, dtype=float), np.asarray(values, dtype=float)
        thin = max(1, len(values) // 3000)  # a few thousand points show the noise as well as all of them
        raw.set_data(position[::thin], values[::thin])
        start = position[0] if len(position) else 0.0
        window = max(1, int(np.count_nonzero(position <= math.floor(start) + 1)))
        if len(values) >= window:
            smooth.set_data(position[window - 1 :], np.convolve(values, np.ones(window) / window, mode="valid"))
    _rescale(axes)
    return figure


def pvalues(
    epochs: np.ndarray, p_parent: np.ndarray, p_train: np.ndarray, rejected: np.ndarray, n_components: int, path
) -> None:
    """Norm-KS p-values per epoch (vs parent, vs train) and the share of rejected components."""
    _write(pvalues_figure(epochs, p_parent, p_train, rejected, n_components), path, dpi=80)


def pvalues_figure(
    epochs: np.ndarray, p_parent: np.ndarray, p_train: np.ndarray, rejected: np.ndarray, n_components: int
):
    def build():
        plt = pyplot()
        figure, axes = plt.subplots(figsize=(8, 5), layout="constrained")
        axes.set_yscale("log")
        (parent,) = axes.plot([], [], "o-", markersize=3, label="norm KS p, vs fresh parent sample")
        (train,) = axes.plot([], [], "s-", markersize=3, label="norm KS p, vs training subset")
        (clipped,) = axes.plot([], [], "v", color="tab:purple", markersize=6, label="clipped")
        threshold = axes.axhline(0.05, color=PARENT_COLOUR, linestyle="--", linewidth=1, label="p = 0.05")
        axes.set_xlabel("epoch")
        axes.set_ylabel(f"p-value (log scale, from {P_FLOOR:g})")
        axes.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
        share = axes.twinx()
        (share_line,) = share.plot(
            [], [], color=GENERATED_COLOUR, linewidth=1.2, label="components rejected at 0.05 (raw), %"
        )
        expected = share.axhline(5, color=GENERATED_COLOUR, linestyle=":", linewidth=1, label="5%: a perfect generator")
        share.set_ylabel("components rejected at 0.05 (%)", color=GENERATED_COLOUR)
        share.set_ylim(-4, 104)  # 0% and 100% inside the frame, not on it
        axes.set_title("Is the generator distinguishable from the parent? (p < 0.05: yes)", fontsize=10)
        _legend_below(figure, [parent, train, clipped, threshold, share_line, expected], ncols=2)
        return figure, (axes, parent, train, clipped, share_line)

    figure, (axes, parent, train, clipped, share_line) = _reused(("pvalues",), build)
    epochs = np.asarray(epochs, dtype=float)
    p_parent, p_train = np.asarray(p_parent, dtype=float), np.asarray(p_train, dtype=float)
    # Early epochs reach p ~ 1e-300; drawing from 1e-20 keeps the decades around 0.05 readable, and
    # what lies below is drawn on the floor with its own marker and counted.
    parent.set_data(epochs, np.maximum(p_parent, P_FLOOR))
    train.set_data(epochs, np.maximum(p_train, P_FLOOR))
    low_parent, low_train = ~(p_parent >= P_FLOOR), ~(p_train >= P_FLOOR)
    low = low_parent | low_train
    clipped.set_data(epochs[low], np.full(np.count_nonzero(low), P_FLOOR))
    clipped.set_label(
        f"below {P_FLOOR:g}, drawn on it: {np.count_nonzero(low_parent)} vs parent, {np.count_nonzero(low_train)} vs train"
    )
    figure.legends[0].texts[2].set_text(clipped.get_label())
    share_line.set_data(epochs, 100 * np.asarray(rejected, dtype=float) / n_components)
    axes.set_ylim(P_FLOOR / 5, 3)  # p-values are at most 1; autoscaling on a log axis would add decades of margin
    first, last = (epochs.min(), epochs.max()) if epochs.size else (0, 1)
    axes.set_xlim(first - 0.5, max(last, first + 1) + 0.5)
    share_line.axes.set_xlim(axes.get_xlim())
    return figure


def training_metrics(rows: list[dict], path) -> None:
    """Each headline metric divided by its noise floor, over epochs: at 1 or below, the generator is
    indistinguishable from the parent by that metric.

    ``rows`` are training_details.csv rows. A metric NAME is read from ``m_NAME`` (value) and
    ``m_NAME_floor`` (the null's 95th percentile); without such columns, today's headline numbers:
    norm KS D ÷ ``ks_floor_95`` and the off-diagonal correlation spread ÷ the parent sample's.
    """
    save(training_metrics_figure(rows), path, dpi=80)


def headline_ratios(rows: list[dict]) -> tuple[dict[str, np.ndarray], list[str]]:
    """Value ÷ floor per metric over the rows, and the metrics whose floor is 0 that were ever nonzero."""

    def column(name: str) -> np.ndarray:
        values = []
        for row in rows:
            try:
                values.append(float(row.get(name, math.nan)))
            except (TypeError, ValueError):
                values.append(math.nan)
        return np.array(values)

    names = sorted({key[2:-6] for row in rows for key in row if key.startswith("m_") and key.endswith("_floor")})
    pairs = [(f"{name} ÷ its floor", f"m_{name}", f"m_{name}_floor") for name in names]
    if not pairs:  # today's headline numbers, before the calibrated metrics
        pairs = [
            ("norm KS D ÷ the KS floor (ks_floor_95)", "norm_ks_parent_D", "ks_floor_95"),
            ("off-diagonal correlation std ÷ the parent sample's", "offdiag_std_generated", "offdiag_std_parent"),
        ]
    ratios, zero_floor = {}, []
    for name, value_key, floor_key in pairs:
        values, floors = column(value_key), column(floor_key)
        if not np.isfinite(values).any():
            continue
        positive = floors > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(positive, values / floors, np.nan)
        if np.isfinite(ratio).any():
            ratios[name] = ratio
        if np.any((floors == 0) & (values != 0) & np.isfinite(values)):
            zero_floor.append(value_key.removeprefix("m_"))
    return ratios, zero_floor


def training_metrics_figure(rows: list[dict]):
    plt = pyplot()
    epochs = np.array([float(row.get("epoch", index)) for index, row in enumerate(rows)], dtype=float)
    ratios, zero_floor = headline_ratios(rows)
    figure, axes = plt.subplots(figsize=(8, 5), layout="constrained")
    axes.set_yscale("log")
    markers = "os^Dv<>ph*"
    handles = []
    for index, (name, ratio) in enumerate(ratios.items()):
        present = np.isfinite(ratio) & (ratio > 0)
        every_epoch = present.all()
        (line,) = axes.plot(
            epochs[present],
            ratio[present],
            marker=markers[index % len(markers)],
            markersize=4,
            linestyle="-" if every_epoch else "none",  # a costly metric measured now and then: markers only
            label=name + ("" if every_epoch else " (epochs where measured)"),
        )
        handles.append(line)
        zero = np.isfinite(ratio) & (ratio <= 0)
        if zero.any():  # exactly 0 has no place on a log axis: drawn at the bottom, marked
            (at_zero,) = axes.plot(
                epochs[zero], np.full(np.count_nonzero(zero), 1e-3), "v", color=line.get_color(), markersize=6
            )
            at_zero.set_label(f"{name} = 0 (drawn at 0.001)")
            handles.append(at_zero)
    floor = axes.axhline(
        1, color=PARENT_COLOUR, linestyle="--", linewidth=1.2, label="noise floor (1 = the null's 95%)"
    )
    handles.append(floor)
    if not ratios:
        axes.text(
            0.5, 0.5, "no metric with a positive noise floor in these rows", transform=axes.transAxes, ha="center"
        )
    values = np.concatenate([ratio[np.isfinite(ratio) & (ratio > 0)] for ratio in ratios.values()] or [np.ones(1)])
    axes.set_ylim(min(0.3, values.min() / 1.5), max(3.0, values.max() * 1.5))
    if epochs.size:
        axes.set_xlim(epochs.min() - 0.5, max(epochs.max(), epochs.min() + 1) + 0.5)
    axes.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel("metric ÷ its noise floor (log scale)")
    title = "Headline metrics against their noise floor: at or below 1, indistinguishable from the parent"
    axes.set_title(title, fontsize=10)
    if zero_floor:
        figure.text(
            0.01,
            0.01,
            f"floor 0 (any nonzero value is a failure), nonzero in some epoch: {', '.join(zero_floor)}",
            fontsize=8,
            color=GENERATED_COLOUR,
        )
    _legend_below(figure, handles, ncols=2)
    return figure


# --- The proof of concept ---------------------------------------------------------------------
def poc_comparison(naive_samples: np.ndarray, adversarial_samples: np.ndarray, path: str | os.PathLike) -> None:
    """naive.py vs adversarial.py: histograms of their samples over the N(0, 1) density."""
    save(poc_comparison_figure(naive_samples, adversarial_samples), path, dpi=90)


def poc_comparison_figure(naive_samples: np.ndarray, adversarial_samples: np.ndarray):
    from scipy import stats

    plt = pyplot()
    grid = np.linspace(-4, 4, 401)
    bins = np.linspace(-4, 4, 81)
    top = 0.6  # the naive spike goes far above this; its height is written on the panel
    figure, axes = plt.subplots(1, 2, figsize=(9, 4.2), sharey=True, layout="constrained")
    panels = (
        (axes[0], naive_samples, "naive.py (MSE)", "tab:red"),
        (axes[1], adversarial_samples, "adversarial.py (GAN)", "tab:blue"),
    )
    handles = []
    for axis, samples, title, colour in panels:
        samples = np.asarray(samples, dtype=float).ravel()
        test = stats.kstest(samples, "norm")
        heights, _, bars = axis.hist(
            samples, bins=bins, density=True, color=colour, alpha=0.6, label=f"{title}: {len(samples):,} samples"
        )
        (density,) = axis.plot(grid, stats.norm.pdf(grid), color="black", linewidth=1.5, label="N(0, 1) density")
        handles.append(bars.patches[0])  # the first bar carries the label
        outside = int(np.count_nonzero((samples < bins[0]) | (samples > bins[-1])))
        if heights.max() > top:
            axis.annotate(
                f"clipped: peak density {heights.max():.0f}",
                xy=(bins[heights.argmax()], top),
                xytext=(0.62, 0.9),
                textcoords="axes fraction",
                arrowprops={"arrowstyle": "->"},
                fontsize=8,
            )
        outside_note = f", {outside} outside ±4" if outside else ""
        axis.set_title(f"{title}\nstd {samples.std():.3f}, KS D {test.statistic:.3f}{outside_note}", fontsize=10)
        axis.set_xlabel("sample value")
        axis.set_xlim(-4, 4)
        axis.set_ylim(0, top)
    handles.append(density)
    axes[0].set_ylabel("density")
    figure.suptitle(
        "Target N(0, 1): MSE training collapses to the mean, adversarial training learns the bell", fontsize=11
    )
    _legend_below(figure, handles)
    return figure
