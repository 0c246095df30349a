"""Figures from numbers: every function takes arrays in and writes one PNG out.

Nothing here knows about training or files beyond the path it writes (atomically).
Matplotlib is imported on first use with the Agg backend. One-off figures are closed once
saved; the per-epoch training figures are built once and reused (:func:`close_reused` closes them).
"""

from __future__ import annotations

import os

import numpy as np

from gaussgan.files import atomic_path

PARENT_COLOUR, GENERATED_COLOUR = "black", "tab:red"
P_FLOOR = 1e-20  # smallest p-value drawn in the p-value history


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(figure, path: str | os.PathLike, dpi: int = 80) -> None:
    """Write ``figure`` atomically and close it (an open figure would leak memory every epoch)."""
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=dpi)
    pyplot().close(figure)


def norm_histogram(
    counts: np.ndarray,
    edges: np.ndarray,
    dim: int,
    title: str,
    path: str | os.PathLike,
    chi_density: bool,
    bars: int = 60,
) -> None:
    """Normalised histogram of Euclidean norms, with the chi(dim) density over it when it applies.

    Takes counts in fine equal bins (``edges``), as gen-samples accumulates them batch by batch,
    so that drawing needs no sample in memory: the occupied bins are merged into at most ``bars`` bars.
    """
    occupied = np.flatnonzero(counts)
    first, last = occupied[0], occupied[-1] + 1
    group = -(-(last - first) // bars)  # fine bins per bar, rounded up
    n_bars = -(-(last - first) // group)
    merged = np.zeros(n_bars * group, dtype=np.int64)
    merged[: last - first] = counts[first:last]
    merged = merged.reshape(n_bars, group).sum(axis=1)
    bar_width = (edges[1] - edges[0]) * group
    bar_edges = edges[first] + bar_width * np.arange(n_bars + 1)
    total = int(counts.sum())

    plt = pyplot()
    figure, axes = plt.subplots(figsize=(6, 4), layout="constrained")
    axes.stairs(
        merged / (total * bar_width),
        bar_edges,
        fill=True,
        color="tab:blue",
        alpha=0.6,
        label=f"samples (n = {total:,})",
    )
    if chi_density:
        from gaussgan.distributions import chi_pdf

        grid = np.linspace(max(0.0, bar_edges[0]), bar_edges[-1], 400)
        axes.plot(grid, chi_pdf(grid, dim), color=PARENT_COLOUR, label=f"chi density, {dim} degrees of freedom")
    axes.set_xlabel("Euclidean norm ||x||")
    axes.set_ylabel("probability density")
    axes.set_title(title)
    axes.legend()
    save(figure, path, dpi=100)


# --- Training figures ----------------------------------------------------------------------
# A grid of 100 histograms costs far more to build than to draw, so each figure is built once
# per process and later epochs only swap the data of its artists.
_figure_cache: dict[tuple, tuple] = {}


def _histogram_edges(reference: np.ndarray, bins: int = 40) -> np.ndarray:
    """Bin edges over the central 99% of ``reference`` (heavy tails, e.g. Cauchy, would squash the rest).

    Only finite values count: a diverged generator's NaN or infinite output must not break the figure.
    """
    reference = np.asarray(reference)
    reference = reference[np.isfinite(reference)]
    if not reference.size:
        return np.linspace(-1, 1, bins + 1)
    low, high = np.percentile(reference, [0.5, 99.5])
    if not high > low:
        low, high = low - 0.5, high + 0.5
    return np.linspace(low, high, bins + 1)


def _density(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    counts, _ = np.histogram(values, bins=edges)  # NaN and values outside the edges are not counted
    return counts / (max(1, len(values)) * np.diff(edges))


def _finite_max(values: np.ndarray, default: float) -> float:
    """The largest finite value, or ``default`` when there is none (axis limits must be finite)."""
    finite = np.asarray(values, dtype=float)[np.isfinite(values)]
    return float(finite.max()) if finite.size else default


def component_histograms(
    generated: np.ndarray, parent: np.ndarray, epoch: int, path, max_components: int = 100
) -> None:
    """Per-component histograms, parent (black) vs generated (red), for up to ``max_components`` components."""
    shown = min(generated.shape[1], max_components)
    columns = min(shown, 10)
    rows = -(-shown // columns)
    key = ("component_histograms", shown)
    if key not in _figure_cache:
        plt = pyplot()
        panel = max(1.6, 8.0 / columns)  # few components: bigger panels
        width, height = panel * columns + 0.6, 0.75 * panel * rows + 1.0
        figure, axes = plt.subplots(rows, columns, figsize=(width, height), squeeze=False)
        panels = []
        for index, ax in enumerate(axes.flat):
            if index >= shown:
                ax.set_visible(False)
                continue
            ax.set_xticks([]), ax.set_yticks([])
            ax.text(0.03, 0.97, str(index), transform=ax.transAxes, va="top", fontsize=7, color="grey")
            edges = np.linspace(0, 1, 3)
            parent_step = ax.stairs(np.zeros(2), edges, color=PARENT_COLOUR, linewidth=1, label="parent")
            generated_step = ax.stairs(np.zeros(2), edges, color=GENERATED_COLOUR, linewidth=1, label="generated")
            panels.append((ax, parent_step, generated_step))
        figure.legend(handles=[panels[0][1], panels[0][2]], loc="upper right", ncols=2, fontsize=8)
        figure.supxlabel("component value (each panel: one component; central 99% of the parent)", fontsize=9)
        figure.supylabel("density", fontsize=9)
        figure.subplots_adjust(
            left=0.4 / width,
            right=1 - 0.1 / width,
            bottom=0.45 / height,
            top=1 - 0.55 / height,
            wspace=0.08,
            hspace=0.12,
        )
        _figure_cache[key] = (figure, panels)
    figure, panels = _figure_cache[key]
    for component, (ax, parent_step, generated_step) in enumerate(panels):
        edges = _histogram_edges(parent[:, component])
        parent_density, generated_density = (
            _density(parent[:, component], edges),
            _density(generated[:, component], edges),
        )
        parent_step.set_data(parent_density, edges)
        generated_step.set_data(generated_density, edges)
        ax.set_xlim(edges[0], edges[-1])
        ax.set_ylim(0, 1.15 * max(parent_density.max(), generated_density.max(), 1e-12))
    more = f" (first {shown} of {generated.shape[1]})" if shown < generated.shape[1] else ""
    figure.suptitle(
        f"Epoch {epoch}: component histograms{more}", x=0.02, y=1 - 0.1 / figure.get_figheight(), ha="left", va="top"
    )
    _write(figure, path, dpi=60)


def close_reused() -> None:
    """Close every reused figure: the end of a run (or of the figure worker) owns them."""
    if _figure_cache:
        plt = pyplot()
        for figure, *_ in _figure_cache.values():
            plt.close(figure)
        _figure_cache.clear()


def _reused(key: tuple, build):
    """The figure and artists that ``build()`` returns, built once per process and reused after."""
    if key not in _figure_cache:
        _figure_cache[key] = build()
    return _figure_cache[key]


def _write(figure, path, dpi: int) -> None:
    """Save a reused figure atomically (it stays open for the next epoch)."""
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=dpi)


def _rescale(*axes_list) -> None:
    for axes in axes_list:
        axes.relim()
        axes.autoscale_view()


def ks_per_component(statistic: np.ndarray, pvalue: np.ndarray, floor: float, epoch: int, path) -> None:
    """KS statistic and p-value of every component (generated vs fresh parent), with the noise floor."""

    def build():
        plt = pyplot()
        figure, (top, bottom) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
        figure.subplots_adjust(left=0.11, right=0.97, bottom=0.1, top=0.92, hspace=0.08)
        (statistics,) = top.plot([], [], "o", color=GENERATED_COLOUR, markersize=3, label="generated vs parent")
        floor_line = top.axhline(0, color=PARENT_COLOUR, linestyle="--", label="95% of two parent samples")
        top.set_ylabel("KS statistic D")
        top.legend(fontsize=8, loc="upper right")
        bottom.set_yscale("log")
        (pvalues_,) = bottom.plot([], [], "o", color=GENERATED_COLOUR, markersize=3, label="p-value")
        bottom.axhline(0.05, color=PARENT_COLOUR, linestyle="--", label="0.05")
        bottom.set_xlabel("component")
        bottom.set_ylabel("p-value (log scale)")
        bottom.legend(fontsize=8, loc="lower right")
        return figure, (top, bottom, statistics, floor_line, pvalues_)

    figure, (top, bottom, statistics, floor_line, pvalues_) = _reused(("ks",), build)
    components = np.arange(len(statistic))
    statistics.set_data(components, statistic)
    floor_line.set_ydata([floor, floor])
    shown_pvalues = np.maximum(pvalue, 1e-300)
    pvalues_.set_data(components, shown_pvalues)
    top.set_ylim(0, 1.1 * max(_finite_max(statistic, 0.0), floor))
    bottom.set_ylim(min(0.01, -_finite_max(-shown_pvalues, -1.0) / 2), 1.5)
    top.set_xlim(-0.5, len(statistic) - 0.5)
    top.set_title(
        f"Epoch {epoch}: per-component KS test, {np.count_nonzero(pvalue < 0.05)} of {len(pvalue)} "
        f"rejected at 0.05 (floor D = {floor:.3f})",
        fontsize=10,
    )
    _write(figure, path, dpi=70)


def norm_distributions(
    norms_generated: np.ndarray, norms_parent: np.ndarray, ks: tuple[float, float], epoch: int, path
) -> None:
    """Distribution of ||x||, parent vs generated, with the two-sample KS result."""

    def build():
        plt = pyplot()
        figure, axes = plt.subplots(figsize=(6, 4))
        figure.subplots_adjust(left=0.12, right=0.97, bottom=0.13, top=0.9)
        edges = np.linspace(0, 1, 3)
        parent = axes.stairs(np.zeros(2), edges, color=PARENT_COLOUR, label="parent")
        generated = axes.stairs(np.zeros(2), edges, color=GENERATED_COLOUR, label="generated")
        axes.set_xlabel("Euclidean norm ||x||")
        axes.set_ylabel("density")
        axes.legend()
        return figure, (axes, parent, generated)

    figure, (axes, parent, generated) = _reused(("norms",), build)
    edges = _histogram_edges(np.concatenate([norms_parent, norms_generated]), bins=50)
    parent_density, generated_density = _density(norms_parent, edges), _density(norms_generated, edges)
    parent.set_data(parent_density, edges)
    generated.set_data(generated_density, edges)
    axes.set_xlim(edges[0], edges[-1])
    axes.set_ylim(0, 1.1 * max(parent_density.max(), generated_density.max(), 1e-12))
    axes.set_title(f"Epoch {epoch}: norms, KS D = {ks[0]:.3f}, p = {ks[1]:.3g}")
    _write(figure, path, dpi=70)


def _correlation_image(figure, axes, matrix: np.ndarray, title: str) -> None:
    image = axes.imshow(matrix, vmin=-1, vmax=1, cmap="RdBu_r", interpolation="nearest")
    figure.colorbar(image, ax=axes, label="correlation")
    axes.set_xlabel("component")
    axes.set_ylabel("component")
    axes.set_title(title)


def correlations(corr_generated: np.ndarray, corr_parent: np.ndarray, epoch: int, path) -> None:
    """Generated correlation matrix, and its off-diagonal elements next to a parent sample's (the noise floor)."""
    from gaussgan.diagnostics import off_diagonal

    plt = pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained")
    _correlation_image(figure, left, corr_generated, f"Epoch {epoch}: generated correlation matrix")
    generated, parent = off_diagonal(corr_generated), off_diagonal(corr_parent)
    if generated.size:
        edges = _histogram_edges(np.concatenate([generated, parent]), bins=40)
        right.stairs(
            _density(parent, edges), edges, color=PARENT_COLOUR, label=f"parent sample (std {parent.std():.3f})"
        )
        right.stairs(
            _density(generated, edges), edges, color=GENERATED_COLOUR, label=f"generated (std {generated.std():.3f})"
        )
        right.legend(fontsize=8)
    right.set_xlabel("off-diagonal correlation")
    right.set_ylabel("density")
    right.set_title("off-diagonal elements: generated vs parent")
    save(figure, path, dpi=70)


def correlation_matrix(matrix: np.ndarray, title: str, path) -> None:
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(5.5, 4.5), layout="constrained")
    _correlation_image(figure, axes, matrix, title)
    save(figure, path, dpi=80)


def losses(d_position: np.ndarray, d_loss: np.ndarray, g_position: np.ndarray, g_loss: np.ndarray, path) -> None:
    """D loss per discriminator step and G loss per generator step, raw and smoothed over one epoch.

    Positions are fractional epochs, so both curves share the x axis whatever ``critic_steps`` is.
    """

    def build():
        plt = pyplot()
        figure, axes = plt.subplots(figsize=(8, 4.5))
        figure.subplots_adjust(left=0.09, right=0.97, bottom=0.12, top=0.92)
        lines = []
        for colour, name in (("tab:blue", "discriminator"), ("tab:orange", "generator")):
            lines.append(axes.plot([], [], color=colour, alpha=0.25, linewidth=0.5)[0])
            lines.append(axes.plot([], [], color=colour, label=f"{name} (moving average over one epoch)")[0])
        axes.set_xlabel("epoch")
        axes.set_ylabel("loss")
        axes.set_title("Training losses per step")
        axes.legend(loc="upper right")
        return figure, (axes, lines)

    figure, (axes, lines) = _reused(("losses",), build)
    for (raw, smooth), position, values in zip(
        (lines[:2], lines[2:]), (d_position, g_position), (d_loss, g_loss), strict=True
    ):
        thin = max(1, len(values) // 3000)  # a few thousand points show the noise as well as all of them
        raw.set_data(position[::thin], values[::thin])
        window = max(1, int(np.count_nonzero(position <= 1)))
        if len(values) >= window:
            smooth.set_data(position[window - 1 :], np.convolve(values, np.ones(window) / window, mode="valid"))
    _rescale(axes)
    _write(figure, path, dpi=80)


def pvalues(
    epochs: np.ndarray, p_parent: np.ndarray, p_train: np.ndarray, rejected: np.ndarray, n_components: int, path
) -> None:
    """Norm-KS p-values per epoch (vs parent, vs train) and the share of rejected components."""

    def build():
        plt = pyplot()
        figure, axes = plt.subplots(figsize=(8, 4.5))
        figure.subplots_adjust(left=0.09, right=0.9, bottom=0.12, top=0.92)
        axes.set_yscale("log")
        (parent,) = axes.plot([], [], "o-", markersize=3, label="norm KS p, vs fresh parent sample")
        (train,) = axes.plot([], [], "s-", markersize=3, label="norm KS p, vs training subset")
        axes.axhline(0.05, color=PARENT_COLOUR, linestyle="--", linewidth=1, label="0.05")
        axes.set_xlabel("epoch")
        axes.set_ylabel("p-value (log scale; below 1e-20 drawn at 1e-20)")
        share = axes.twinx()
        (share_line,) = share.plot([], [], color=GENERATED_COLOUR, linewidth=1, label="components rejected (raw), %")
        share.axhline(5, color=GENERATED_COLOUR, linestyle=":", linewidth=1)
        share.set_ylabel("components rejected at 0.05 (%)", color=GENERATED_COLOUR)
        share.set_ylim(0, 100)
        handles = axes.get_legend_handles_labels()[0] + share.get_legend_handles_labels()[0]
        axes.legend(handles=handles, fontsize=8, loc="lower right")
        axes.set_title("Is the generator distinguishable from the parent? (p < 0.05: yes)")
        return figure, (axes, parent, train, share_line)

    figure, (axes, parent, train, share_line) = _reused(("pvalues",), build)
    # Early epochs reach p ~ 1e-300; clipping at 1e-20 keeps the decades around 0.05 readable.
    parent.set_data(epochs, np.maximum(p_parent, P_FLOOR))
    train.set_data(epochs, np.maximum(p_train, P_FLOOR))
    share_line.set_data(epochs, 100 * np.asarray(rejected) / n_components)
    _rescale(axes)
    axes.set_ylim(P_FLOOR / 3, 2)  # p-values are at most 1; autoscaling on a log axis would add decades of margin
    axes.set_xlim(0.5, max(epochs.max(), 1) + 0.5)
    share_line.axes.set_xlim(axes.get_xlim())
    _write(figure, path, dpi=80)


def training_metrics(rows: list[dict], path) -> None:
    """Each calibrated metric divided by its floor over the epochs: at or below 1, honest samples do as well."""
    plt = pyplot()
    epochs = np.array([row["epoch"] for row in rows], dtype=float)
    names = sorted({key[2:-6] for row in rows for key in row if key.startswith("m_") and key.endswith("_floor")})
    figure, axes = plt.subplots(figsize=(8, 4.5))
    figure.subplots_adjust(left=0.09, right=0.7, bottom=0.12, top=0.9)
    drawn = 0
    for name in names:
        value = np.array([row.get(f"m_{name}", np.nan) for row in rows], dtype=float)
        floor = np.array([row.get(f"m_{name}_floor", np.nan) for row in rows], dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(floor > 0, value / floor, np.nan)
        present = np.isfinite(ratio)
        if present.any():
            axes.plot(epochs[present], np.maximum(ratio[present], 1e-3), "o-", markersize=3, label=name)
            drawn += 1
    axes.axhline(1, color=PARENT_COLOUR, linestyle="--", linewidth=1, label="noise floor (95% of honest samples below)")
    axes.set_yscale("log")
    axes.set_xlabel("epoch")
    axes.set_ylabel("metric ÷ its floor (log scale)")
    axes.set_title("Distance from the parent, in units of the noise floor")
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    _write(figure, path, dpi=80)
    plt.close(figure)


# --- The proof of concept ---------------------------------------------------------------------
def poc_comparison(naive_samples: np.ndarray, adversarial_samples: np.ndarray, path: str | os.PathLike) -> None:
    """naive.py vs adversarial.py: histograms of their samples over the N(0, 1) density."""
    from scipy import stats

    plt = pyplot()
    grid = np.linspace(-4, 4, 401)
    bins = np.linspace(-4, 4, 81)
    top = 0.6  # the naive spike goes far above this; its height is written on the panel
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    panels = (
        (axes[0], naive_samples, "naive.py (MSE)", "tab:red"),
        (axes[1], adversarial_samples, "adversarial.py (GAN)", "tab:blue"),
    )
    for axis, samples, title, colour in panels:
        samples = np.asarray(samples, dtype=float).ravel()
        test = stats.kstest(samples, "norm")
        heights, _, _ = axis.hist(
            samples, bins=bins, density=True, color=colour, alpha=0.6, label=f"{len(samples):,} generated samples"
        )
        axis.plot(grid, stats.norm.pdf(grid), color="black", linewidth=1.5, label="N(0, 1) density")
        if heights.max() > top:
            axis.annotate(
                f"clipped: peak density {heights.max():.0f}",
                xy=(bins[heights.argmax()], top),
                xytext=(0.8, 0.52),
                arrowprops={"arrowstyle": "->"},
                fontsize=8,
            )
        axis.set_title(f"{title}\nstd {samples.std():.3f}, KS D {test.statistic:.3f}", fontsize=10)
        axis.set_xlabel("sample value")
        axis.set_xlim(-4, 4)
        axis.set_ylim(0, top)
        axis.legend(loc="upper left", fontsize=8)
    axes[0].set_ylabel("density")
    figure.suptitle(
        "Target N(0, 1): MSE training collapses to the mean, adversarial training learns the bell", fontsize=11
    )
    figure.tight_layout()
    save(figure, path, dpi=90)
