"""The report's figures: tables (pandas) in, one PNG out each. Every ratio is a number divided by its noise
floor or by the parent's own value, so 1 means "as good as an honest sample of the parent" whatever the
dimension, and the axes are logarithmic around it.

Each function draws something even from a single run (a panel says so when it has nothing to show), so a
report always holds the same figures. What a figure shows comes from files that anyone may have edited:
its text is drawn as plain text (:func:`plain_text`), and only finite positive numbers reach a log axis.
"""

from __future__ import annotations

import functools
import math
import os
from typing import Any

import numpy as np

from gaussgan.figures.style import pyplot, save

RULE_MARKERS = {"vanilla": "o", "wgan-gp": "s"}
METRIC_LABELS = {
    "norm_ks_ratio": "norm KS D ÷ its 95% floor",
    "sigma_rho_ratio": "σ_ρ ratio (off-diagonal corr. spread, generated ÷ parent)",
}


def plain_text(draw):
    """``draw`` with every text of its figure taken as given: a '$' in a rule or an option's value read from
    a run's files is a dollar sign, never matplotlib's mathtext (which would parse it, and fail on a bad one)."""

    @functools.wraps(draw)
    def drawn(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context({"text.parse_math": False}):
            return draw(*args, **kwargs)

    return drawn


def _drawable(table, column: str):
    """The rows of ``table`` whose ``column`` can sit on a log axis or a log colour scale: finite and positive."""
    if column not in table:
        return table.iloc[0:0]
    values = table[column].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        return table[np.isfinite(values) & (values > 0)]


def metric_label(metric: str) -> str:
    if metric in METRIC_LABELS:
        return METRIC_LABELS[metric]
    if metric.startswith("m_") and metric.endswith("_ratio"):
        return f"{metric[2:-6]} ÷ its floor"
    return metric


def _rules(table) -> list[str]:
    rules = list(dict.fromkeys(table["rule"])) if len(table) else []
    return sorted(rules, key=lambda rule: list(RULE_MARKERS).index(rule) if rule in RULE_MARKERS else 99) or ["-"]


def _log_norm(values):
    from matplotlib.colors import LogNorm

    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite) & (finite > 0)]
    if not finite.size:
        return LogNorm(0.1, 10)
    low, high = float(finite.min()), float(finite.max())
    if high / low < 1.5:  # a near-constant panel: still a readable scale around its value
        low, high = low / 1.25, high * 1.25
    return LogNorm(low, high)


def _nothing(axes, text: str = "nothing to show") -> None:
    axes.text(0.5, 0.5, text, ha="center", va="center", transform=axes.transAxes, color="grey")
    axes.set_xticks([])
    axes.set_yticks([])


def _with_unit_line(axes) -> None:
    axes.axhline(1, color="black", linestyle="--", linewidth=0.8)


def _plain_ticks(axis, values=None) -> None:
    """Log-axis ticks written as plain numbers (2, 10, 0.5, not 2x10^0): at the data's values when there are
    few of them, else at 1, 2 and 5 per decade."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullLocator

    chosen = sorted({float(value) for value in (values if values is not None else []) if np.isfinite(value)})
    chosen = [value for value in chosen if value > 0]
    axis.set_major_locator(FixedLocator(chosen) if 0 < len(chosen) <= 10 else LogLocator(subs=(1, 2, 5)))
    axis.set_minor_locator(NullLocator())
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))


def _colorbar(figure, mappable, axes, label: str = "1 = the floor / the parent's own value", ticks=None, **options):
    bar = figure.colorbar(mappable, ax=axes, label=label, **options)
    low, high = mappable.norm.vmin, mappable.norm.vmax
    ticks = np.geomspace(low, high, 5) if ticks is None else ticks
    bar.set_ticks(ticks, labels=[f"{tick:.2g}" for tick in ticks])
    bar.minorticks_off()
    return bar


def _rule_handles(rules) -> list:
    """Legend entries for the rules' markers, uncoloured (the colour is the measurement)."""
    from matplotlib.lines import Line2D

    return [
        Line2D(
            [],
            [],
            marker=RULE_MARKERS.get(rule, "^"),
            linestyle="",
            markerfacecolor="white",
            markeredgecolor="black",
            label=rule,
        )
        for rule in dict.fromkeys(rules)
    ]


# --- 1. The cross-run scatter of the original gaussGAN: width vs latent dimension ------------------------
@plain_text
def width_latent_scatter(summary, path: str | os.PathLike, best: dict | None = None) -> None:
    """Log-log scatter of width multiplier vs latent dimension, coloured by the final and best sigma_rho ratio
    and norm KS D ÷ floor; runs that share a point (seeds, datasets) are shown by their median."""
    plt = pyplot()
    panels = [
        ("final_sigma_rho_ratio", "final σ_ρ ratio"),
        ("best_sigma_rho_ratio", "best σ_ρ ratio over epochs"),
        ("final_norm_ks_ratio", "final norm KS D ÷ floor"),
        ("best_norm_ks_ratio", "best norm KS D ÷ floor over epochs"),
    ]
    figure, axes_grid = plt.subplots(2, 2, figsize=(11, 8.5), constrained_layout=True)
    for axes, (column, title) in zip(axes_grid.flat, panels, strict=True):
        points = _drawable(summary, column)
        if points.empty:
            _nothing(axes, f"no {title}")
            axes.set_title(title)
            continue
        grouped = points.groupby(["scale", "latent_dim", "rule"], as_index=False)[column].median()
        norm = _log_norm(grouped[column])
        for rule, rows in grouped.groupby("rule"):
            # The second rule a little to the right, so that both stay visible at a shared point.
            shift = 1.0 if rule == _rules(grouped)[0] else 1.07
            drawn = axes.scatter(
                rows["scale"] * shift,
                rows["latent_dim"],
                c=rows[column],
                cmap="viridis",
                norm=norm,
                s=70,
                marker=RULE_MARKERS.get(rule, "^"),
                edgecolors="black",
                linewidths=0.5,
                label=rule,
            )
        if best:
            axes.scatter(
                [best["scale"]], [best["latent_dim"]], s=260, facecolors="none", edgecolors="red", linewidths=1.5
            )
        axes.set_xscale("log")
        axes.set_yscale("log")
        _plain_ticks(axes.xaxis, grouped["scale"])
        _plain_ticks(axes.yaxis, grouped["latent_dim"])
        axes.margins(0.15)
        axes.set_xlabel("width multiplier (-c/--scale)")
        axes.set_ylabel("latent dimension")
        axes.set_title(title)
        axes.legend(handles=_rule_handles(grouped["rule"]), fontsize=8, loc="best")
        _colorbar(figure, drawn, axes)
    figure.suptitle("Where does the generator reach the parent? (red ring: the best configuration)")
    save(figure, path)


# --- 2. Heatmaps over (data dimension x latent dimension), one column per rule ---------------------------
@plain_text
def dimension_heatmaps(summary, path: str | os.PathLike) -> None:
    """Median final ratio per (data dimension, latent dimension), one panel per rule and metric."""
    plt = pyplot()
    metrics = [column for column in ("final_norm_ks_ratio", "final_sigma_rho_ratio") if column in summary]
    rules = _rules(summary)
    figure, axes_grid = plt.subplots(
        len(metrics),
        len(rules),
        figsize=(max(8.0, 4.2 * len(rules) + 1.5), 3.6 * len(metrics)),
        constrained_layout=True,
        squeeze=False,
    )
    for row, column in enumerate(metrics):
        norm = _log_norm(summary[column])
        for col, rule in enumerate(rules):
            axes = axes_grid[row][col]
            table = _drawable(summary[summary["rule"] == rule], column)
            axes.set_title(f"{rule}: {column.removeprefix('final_').replace('_', ' ')}", fontsize=10)
            if table.empty:
                _nothing(axes)
                continue
            grid = table.pivot_table(index="dim", columns="latent_dim", values=column, aggfunc="median")
            image = axes.imshow(grid.to_numpy(), cmap="viridis", norm=norm, origin="lower", aspect="auto")
            axes.set_xticks(range(len(grid.columns)), [str(value) for value in grid.columns], fontsize=8)
            axes.set_yticks(range(len(grid.index)), [str(value) for value in grid.index], fontsize=8)
            axes.set_xlabel("latent dimension")
            axes.set_ylabel("data dimension")
            if grid.size <= 150:
                for (i, j), value in np.ndenumerate(grid.to_numpy()):
                    if np.isfinite(value):  # dark text on the bright end of the colour map
                        colour = "black" if norm(value) > 0.6 else "white"
                        axes.text(j, i, f"{value:.2g}", ha="center", va="center", fontsize=7, color=colour)
            _colorbar(figure, image, axes, shrink=0.85)
    figure.suptitle("Final ratio to the noise floor (median over seeds and other options; 1 = the floor)")
    save(figure, path)


# --- 3. Metric versus data dimension, one line per configuration, seed bands --------------------------
@plain_text
def versus_dimension(summary, varied: list[str], path: str | os.PathLike, most: int = 12) -> None:
    """Final ratios against the data dimension: per rule a line per configuration of the other varied options,
    the median over seeds with their min-max band."""
    plt = pyplot()
    metrics = [column for column in ("final_norm_ks_ratio", "final_sigma_rho_ratio") if column in summary]
    rules = _rules(summary)
    others = [key for key in varied if key not in ("dim", "seed", "rule")]
    figure, axes_grid = plt.subplots(
        len(metrics),
        len(rules),
        figsize=(max(8.0, 5.5 * len(rules)), 3.8 * len(metrics)),
        constrained_layout=True,
        squeeze=False,
    )
    colours = plt.get_cmap("tab10")
    for col, rule in enumerate(rules):
        table = summary[summary["rule"] == rule]
        groups = list(table.groupby(others, dropna=False)) if others else [((), table)]
        for row, column in enumerate(metrics):
            axes = axes_grid[row][col]
            axes.set_title(f"{rule}", fontsize=10)
            axes.set_xlabel("data dimension")
            axes.set_ylabel(metric_label(column.removeprefix("final_")), fontsize=8)
            drawn = 0
            for number, (key, rows) in enumerate(groups[:most]):
                stats = _drawable(rows, column).groupby("dim")[column].agg(["median", "min", "max"]).dropna()
                if stats.empty:
                    continue
                values = key if isinstance(key, tuple) else (key,)
                label = (
                    ", ".join(
                        f"{name} {value:g}" if isinstance(value, float) else f"{name} {value}"
                        for name, value in zip(others, values, strict=True)
                    )
                    or "all runs"
                )
                colour = colours(number % 10)
                axes.plot(stats.index, stats["median"], "o-", color=colour, markersize=4, label=label)
                axes.fill_between(stats.index, stats["min"], stats["max"], color=colour, alpha=0.2, linewidth=0)
                drawn += 1
            if not drawn:
                _nothing(axes)
                continue
            _with_unit_line(axes)
            axes.set_xscale("log")
            axes.set_yscale("log")
            _plain_ticks(axes.xaxis, table["dim"])
            _plain_ticks(axes.yaxis)
            if row == 0:
                title = f"{rule}" + (f" (first {most} of {len(groups)} configurations)" if len(groups) > most else "")
                axes.set_title(title, fontsize=10)
                axes.legend(fontsize=7, loc="best")
    figure.suptitle("Final ratio vs data dimension: median over seeds, band min-max (1 = the floor)")
    save(figure, path)


# --- 4. Epoch curves of every run, grouped by rule ---------------------------------------------------
@plain_text
def epoch_curves(curves: list[tuple[dict, Any]], metrics: list[str], path: str | os.PathLike) -> None:
    """Every run's ratios epoch by epoch (a thin line each), one column per rule, coloured by data dimension."""
    plt = pyplot()
    from matplotlib.colors import LogNorm
    from matplotlib.ticker import MaxNLocator

    rules = list(dict.fromkeys(info["rule"] for info, _ in curves)) or ["-"]
    rules.sort(key=lambda rule: list(RULE_MARKERS).index(rule) if rule in RULE_MARKERS else 99)
    dims = [info["dim"] for info, _ in curves] or [1]
    norm = LogNorm(min(dims), max(dims) * (1.0001 if min(dims) == max(dims) else 1))
    colours = plt.get_cmap("plasma")
    figure, axes_grid = plt.subplots(
        len(metrics),
        len(rules),
        figsize=(max(8.0, 5.5 * len(rules)), (3.4 if len(metrics) <= 4 else 2.6) * len(metrics)),
        constrained_layout=True,
        squeeze=False,
    )
    for col, rule in enumerate(rules):
        for row, metric in enumerate(metrics):
            axes = axes_grid[row][col]
            drawn = 0
            for info, table in curves:
                if info["rule"] != rule or metric not in table:
                    continue
                values = table[metric].to_numpy(dtype=float)
                keep = np.isfinite(values) & (values > 0)
                if keep.any():  # costly metrics are measured every few epochs: points joined where they are
                    axes.plot(
                        table["epoch"].to_numpy()[keep],
                        values[keep],
                        marker=".",
                        markersize=3,
                        color=colours(0.85 * norm(info["dim"])),
                        linewidth=0.8,
                        alpha=0.6,
                    )
                    drawn += 1
            axes.set_title(f"{rule}: {drawn} runs" if row == 0 else "", fontsize=10)
            axes.set_xlabel("epoch")
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
            axes.set_ylabel(metric_label(metric), fontsize=8)
            if not drawn:
                _nothing(axes)
                continue
            _with_unit_line(axes)
            axes.set_yscale("log")
            _plain_ticks(axes.yaxis)
    mappable = plt.cm.ScalarMappable(norm=norm, cmap=colours)
    unique = sorted(set(dims))
    _colorbar(figure, mappable, axes_grid, "data dimension", unique if len(unique) <= 8 else None, shrink=0.6)
    figure.suptitle("Every run epoch by epoch (1 = the noise floor)")
    save(figure, path)


# --- 5. The noise floor against the sample size, from the parent itself -------------------------------
SAMPLE_SIZES = (10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
CORRELATION_COMPONENTS = 50  # sigma_rho from the first components: the same spread, without a d x d matrix


def noise_floor_memory(dim: int, sizes=SAMPLE_SIZES) -> int:
    """Peak bytes of :func:`noise_floor` for a parent in ``dim`` dimensions: the parent built from its
    description, then two samples of the largest size and the temporaries that draw them (about four such
    arrays). Checked before the parent is built: a run's config.json may claim any dimension."""
    from gaussgan.distributions import parent_memory

    return parent_memory(dim) + 4 * max(sizes) * dim * 8


def noise_floor(parent, rng: np.random.Generator, sizes=SAMPLE_SIZES, budget: float = 2e7) -> dict:
    """KS D of the norms of two parent samples, and the off-diagonal correlation spread of one, against N;
    repeats (at most 3: enough for a band) as many as ``budget`` sample values allow."""
    from gaussgan.stats import diagnostics

    rows: dict[str, list[float]] = {
        "n": [],
        "ks_median": [],
        "ks_low": [],
        "ks_high": [],
        "rho_median": [],
        "rho_low": [],
        "rho_high": [],
    }
    for n in sizes:
        repeats = max(1, min(3, int(budget // (2 * n * parent.dim))))
        ks, rho = [], []
        for _ in range(repeats):
            first, second = parent.sample(n, rng), parent.sample(n, rng)
            ks.append(
                diagnostics.component_ks(diagnostics.norms(first)[:, None], diagnostics.norms(second)[:, None])[0][0]
            )
            if parent.dim > 1:
                rho.append(diagnostics.off_diagonal_std(diagnostics.correlation(first[:, :CORRELATION_COMPONENTS])))
        rows["n"].append(n)
        for name, measured in (("ks", ks), ("rho", rho)):
            values = np.asarray(measured if measured else [math.nan], dtype=float)
            rows[f"{name}_median"].append(float(np.median(values)))
            rows[f"{name}_low"].append(float(values.min()))
            rows[f"{name}_high"].append(float(values.max()))
    return rows


@plain_text
def calibration(floors: list[tuple[str, dict]], n_evals: list[int], path: str | os.PathLike) -> None:
    """The calibration figure: KS and sigma_rho of honest parent samples vs N, next to an N^-1/2 line."""
    from gaussgan.stats import diagnostics

    plt = pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8), constrained_layout=True)
    colours = plt.get_cmap("tab10")
    sizes = np.asarray(SAMPLE_SIZES, dtype=float)
    for number, (label, rows) in enumerate(floors):
        colour = colours(number % 10)
        n = np.asarray(rows["n"], dtype=float)
        left.plot(n, rows["ks_median"], "o-", color=colour, markersize=4, label=label)
        left.fill_between(n, rows["ks_low"], rows["ks_high"], color=colour, alpha=0.2, linewidth=0)
        if np.isfinite(rows["rho_median"]).any():
            right.plot(n, rows["rho_median"], "o-", color=colour, markersize=4, label=label)
            right.fill_between(n, rows["rho_low"], rows["rho_high"], color=colour, alpha=0.2, linewidth=0)
    floor = [diagnostics.ks_critical_value(int(n), int(n)) for n in sizes]
    left.plot(sizes, floor, color="black", linestyle="--", linewidth=1, label="95% floor (KS, asymptotic)")
    for axes in (left, right):
        axes.plot(sizes, sizes**-0.5, color="grey", linestyle=":", linewidth=1.2, label="N^-1/2")
        for n_eval in sorted(set(n_evals)):
            axes.axvline(n_eval, color="red", linewidth=0.8, alpha=0.6)
        axes.set_xscale("log")
        axes.set_yscale("log")
        _plain_ticks(axes.xaxis, SAMPLE_SIZES)
        _plain_ticks(axes.yaxis)
        axes.set_xlabel("sample size N (red: the runs' --n-eval)")
        axes.legend(fontsize=7, loc="best")
    left.set_ylabel("KS D of the norms, two parent samples")
    left.set_title("Norm KS between two honest samples")
    right.set_ylabel(f"σ_ρ of one parent sample (first {CORRELATION_COMPONENTS} components)")
    right.set_title("Off-diagonal correlation spread of an honest sample")
    if not any(np.isfinite(rows["rho_median"]).any() for _, rows in floors):
        _nothing(right, "one-dimensional parents: no correlations")
    figure.suptitle("The noise floor against the sample size, from the parent (median of repeats, band min-max)")
    save(figure, path)
