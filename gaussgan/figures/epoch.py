"""The figures of one epoch of a run, generated against a parent sample: the histogram of every component,
the KS test of every component, the distribution of the norms and the correlations.

The figures that training redraws every epoch are reused (:mod:`gaussgan.figures.reuse`).
"""

from __future__ import annotations

import numpy as np

from gaussgan.figures.binning import (
    ROBUST_WIDTH,
    bin_count,
    count_outside,
    finite_max,
    finite_values,
    heavy_tailed,
    histogram_density,
    histogram_edges,
    percent_of,
)
from gaussgan.figures.reuse import reused, write_reused
from gaussgan.figures.style import GENERATED_COLOUR, P_FLOOR, PARENT_COLOUR, legend_below, plural, pyplot, save, wrap
from gaussgan.stats.ks import ks_statistics

RUG_BELOW = 10  # fewer values than this are drawn one by one, not as a histogram
GRID_COLUMNS = 5  # component panels per row
PANEL_INCHES = (2.5, 1.9)


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
    write_reused(figure, path, dpi=72)


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
    legend_below(figure, [panels[0][1], panels[0][2]])
    return figure, panels


def component_histograms_figure(
    generated: np.ndarray,
    parent: np.ndarray,
    epoch: int,
    max_components: int = 20,
    ks_statistic: np.ndarray | None = None,
):
    from gaussgan.stats.ks import ks_critical_value

    generated, parent = np.atleast_2d(generated), np.atleast_2d(parent)
    dim = generated.shape[1]
    if ks_statistic is None:
        ks_statistic = ks_statistics(generated, parent)
    floor = ks_critical_value(len(generated), len(parent))
    components = shown_components(np.asarray(ks_statistic, dtype=float), max_components)
    figure, panels = reused(("component_histograms", len(components)), lambda: _build_component_grid(len(components)))
    bins = bin_count(len(parent))
    outside_generated = outside_parent = 0
    for component, (ax, parent_step, generated_step) in zip(components, panels, strict=True):
        edges = histogram_edges(parent[:, component], bins)
        parent_density, generated_density = (
            histogram_density(parent[:, component], edges),
            histogram_density(generated[:, component], edges),
        )
        parent_step.set_data(parent_density, edges)
        generated_step.set_data(generated_density, edges)
        ax.set_xlim(edges[0], edges[-1])
        ax.set_ylim(0, 1.15 * max(finite_max(parent_density, 0), finite_max(generated_density, 0), 1e-12))
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
        below, beyond = count_outside(generated[:, component], edges)
        outside_generated += below + beyond
        outside_parent += sum(count_outside(parent[:, component], edges))
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
        f"outside it (◀ ▶ counts): {percent_of(outside_generated, n_values)} of generated, "
        f"{percent_of(outside_parent, len(parent) * len(components))} of parent values. "
        f"Red title: KS D above the 95% noise floor {floor:.3f}."
    )
    width = int(figure.get_figwidth() * 12)  # characters per line at 10 points
    figure._suptitle.set_text(f"Epoch {epoch}: histograms of {which}\n" + wrap(note, width))
    return figure


def ks_per_component(statistic: np.ndarray, pvalue: np.ndarray, floor: float, epoch: int, path) -> None:
    """KS statistic and p-value of every component (generated vs fresh parent), with the noise floor."""
    write_reused(ks_per_component_figure(statistic, pvalue, floor, epoch), path, dpi=70)


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
        bottom.minorticks_off()  # the decades read the p-values; minor ticks cost a quarter of this figure's drawing
        (accepted,) = bottom.plot([], [], "o", color=PARENT_COLOUR, markersize=size, label="p-value")
        (rejected,) = bottom.plot([], [], "o", color=GENERATED_COLOUR, markersize=size, label="p < 0.05")
        (clipped,) = bottom.plot([], [], "v", color=GENERATED_COLOUR, markersize=size + 3, label="clipped")
        bottom.axhline(0.05, color=PARENT_COLOUR, linestyle=":", label="p = 0.05")
        bottom.set_xlabel("component")
        bottom.set_ylabel("p-value (log scale)")
        bottom.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
        handles = [within, beyond, floor_line, accepted, rejected, clipped, bottom.lines[-1]]
        legend_below(figure, handles, ncols=4)
        return figure, (top, bottom, within, beyond, floor_line, accepted, rejected, clipped)

    figure, (top, bottom, within, beyond, floor_line, accepted, rejected, clipped) = reused(("ks",), build)
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
    top.set_ylim(0, 1.12 * max(finite_max(statistic, 0.0), floor))
    smallest = finite_max(-np.maximum(pvalue, P_FLOOR), -1.0)
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
    write_reused(norm_distributions_figure(norms_generated, norms_parent, ks, epoch), path, dpi=70)


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
        legend_below(figure, [parent, generated])
        return figure, (axes, parent, generated)

    figure, (axes, parent, generated) = reused(("norms", log), build)
    norms_parent, norms_generated = np.asarray(norms_parent, dtype=float), np.asarray(norms_generated, dtype=float)
    edges = histogram_edges(norms_parent, bin_count(len(norms_parent)), log=log)
    if log:  # density of log10 ||x||: equal-looking bars on the log axis
        parent_density = histogram_density(np.log10(norms_parent), np.log10(edges))
        with np.errstate(divide="ignore", invalid="ignore"):
            generated_density = histogram_density(np.log10(norms_generated), np.log10(edges))
    else:
        parent_density, generated_density = (
            histogram_density(norms_parent, edges),
            histogram_density(norms_generated, edges),
        )
    parent.set_data(parent_density, edges)
    generated.set_data(generated_density, edges)
    axes.set_xlim(edges[0], edges[-1])
    axes.set_ylim(0, 1.12 * max(finite_max(parent_density, 0), finite_max(generated_density, 0), 1e-12))
    below, beyond = count_outside(norms_generated, edges)
    parent_out = sum(count_outside(norms_parent, edges))
    axes.set_xlabel(
        "Euclidean norm ||x||"
        + (" (log axis: heavy tail; density of log10 ||x||)" if log else "")
        + f"\noutside the drawn range: generated {below} below, {beyond} above "
        f"({percent_of(below + beyond, len(norms_generated))}); parent {percent_of(parent_out, len(norms_parent))}",
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
        values = np.concatenate([finite_values(parent), finite_values(generated)])
        spread = max(np.ptp(values) if values.size else 0, 0.1)
        centre = values.mean() if values.size else 0.0
        right.set_xlim(max(-1.05, centre - spread), min(1.05, centre + spread))
        right.set_ylim(0, 1.1)
        right.set_yticks([])
        right.set_ylabel(f"each line: one pair ({plural(count, 'value')})")
    else:
        values = finite_values(np.concatenate([parent, generated]))  # correlations: no tail to clip, every value drawn
        low, high = (values.min(), values.max()) if values.size else (-1.0, 1.0)
        edges = np.linspace(low, high if high > low else low + 0.1, bin_count(count, most=50) + 1)
        right.stairs(histogram_density(parent, edges), edges, color=PARENT_COLOUR, linewidth=1.5, label=parent_label)
        right.stairs(
            histogram_density(generated, edges), edges, color=GENERATED_COLOUR, linewidth=1.5, label=generated_label
        )
        right.set_ylabel("density")
    missing = int(np.count_nonzero(~np.isfinite(generated)))
    not_drawn = f"; generated not drawn (NaN): {missing}" if missing else ""
    right.set_xlabel(f"off-diagonal correlation ({plural(count, 'pair')} of components){not_drawn}")
    right.set_title("off-diagonal elements: generated vs parent sample", fontsize=10)
    legend_below(figure, right.get_legend_handles_labels()[0], ncols=2)
    return figure


def correlation_matrix(matrix: np.ndarray, title: str, path) -> None:
    save(correlation_matrix_figure(matrix, title), path, dpi=80)


def correlation_matrix_figure(matrix: np.ndarray, title: str):
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(5.5, 4.5), layout="constrained")
    _correlation_image(figure, axes, matrix, title)
    return figure
